//! Helpers shared by the integration tests of `tests/` and `tests/kernel/`:
//! the C fixtures (compiled by `bee_testutil`),
//! running the real beed binary, scraping it; the Grafana dashboard's
//! queries ([`dashboard`]).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub type TestResult = Result<(), Box<dyn std::error::Error>>;

pub use bee_testutil::*;

pub mod dashboard;

/// `promtool check metrics` on a scrape: Ok unless it does not parse or
/// lint findings concern more than bumblebee's own counter names.
pub fn promtool_ok(text: &str) -> Result<(), String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running promtool: {e}"))?;
    child.stdin.take().ok_or("stdin")?.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    // 1 = parse error; 3 = lint findings, allowed only for bumblebee's names
    let report = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => Ok(()),
        Some(3) if report.lines().filter(|l| !l.trim().is_empty()).all(|l| l.starts_with("ebpf_solo_io_")) => Ok(()),
        c => Err(format!("promtool {c:?}:\n{report}")),
    }
}

/// Runs `cmd` with its output captured; kills it after 30 s (a hang is a
/// failure, returned as an error) and fails on a panic message. Returns
/// (exit code, stdout + stderr).
pub fn run_bounded(mut cmd: Command) -> Result<(Option<i32>, String), String> {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{cmd:?} hung"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("panicked"), "{text}");
    Ok((out.status.code(), text))
}

/// Runs beed with `args` under a 3 GiB address-space limit (so that a read
/// that grows without bound fails instead of exhausting the machine); kills
/// it after 30 s (a hang is a failure). Returns (exit code, output).
pub fn run_limited(args: &[&str], env: &[(&str, &Path)]) -> Result<(Option<i32>, String), Box<dyn std::error::Error>> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg("ulimit -v 3000000 && exec \"$0\" \"$@\"").arg(env!("CARGO_BIN_EXE_beed")).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Ok(run_bounded(cmd)?)
}

/// `beed --check-config PATH [extra]`, bounded (run_bounded).
pub fn check_config(path: &Path, extra: &[&str]) -> Result<(Option<i32>, String), Box<dyn std::error::Error>> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_beed"));
    cmd.arg("--check-config").arg(path).args(extra);
    Ok(run_bounded(cmd)?)
}

/// VmRSS of `pid`, in KiB.
pub fn rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| format!("no VmRSS in /proc/{pid}/status"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(19091)
}

/// A running beed; killed when dropped.
pub struct Beed {
    pub child: Child,
    pub port: u16,
    pub stderr: mpsc::Receiver<String>,
    pub stdout: mpsc::Receiver<String>,
    pub log: Vec<String>,
    /// Every JSON event read from stdout so far, and whether a wait returned it.
    pub events: Vec<(serde_json::Value, bool)>,
}

impl Drop for Beed {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pump(r: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Starts beed on `config` (a TOML body; `{port}` is replaced by a free port)
/// and waits for it to report readiness.
pub fn start(dir: &Path, config: &str) -> Result<Beed, String> {
    start_with(dir, config, &[], &[])
}

/// `start`, with beed run through `wrapper` (a command and its arguments
/// that execs the rest, e.g. `nsenter --net=...`) and extra environment.
pub fn start_with(dir: &Path, config: &str, wrapper: &[&str], env: &[(&str, &str)]) -> Result<Beed, String> {
    let mut b = spawn_with(dir, config, wrapper, env)?;
    b.wait_ready()?;
    Ok(b)
}

/// `start_with` without waiting for readiness ([`Beed::wait_ready`] does).
pub fn spawn_with(dir: &Path, config: &str, wrapper: &[&str], env: &[(&str, &str)]) -> Result<Beed, String> {
    let port = free_port();
    let path = dir.join("beed.toml");
    std::fs::write(&path, config.replace("{port}", &port.to_string())).map_err(|e| e.to_string())?;
    let beed = env!("CARGO_BIN_EXE_beed");
    let mut cmd = match wrapper.split_first() {
        Some((prog, args)) => {
            let mut c = Command::new(prog);
            c.args(args).arg(beed);
            c
        }
        None => Command::new(beed),
    };
    let mut child = cmd
        .envs(env.iter().copied())
        .arg("--config")
        .arg(&path)
        .env_remove("JOURNAL_STREAM")
        .env_remove("NOTIFY_SOCKET")
        .env("BEED_RUNTIME_DIR", dir.join("run"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting beed: {e}"))?;
    let stderr = pump(child.stderr.take().ok_or("no stderr")?);
    let stdout = pump(child.stdout.take().ok_or("no stdout")?);
    Ok(Beed { child, port, stderr, stdout, log: Vec::new(), events: Vec::new() })
}

impl Beed {
    /// Waits up to 30 s for beed to report readiness (`ready:` on stderr).
    pub fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match self.stderr.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    let ready = line.contains("ready:");
                    self.log.push(line);
                    if ready {
                        return Ok(());
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(st)) = self.child.try_wait() {
                        return Err(format!("beed exited with {st} before ready:\n{}", self.log.join("\n")));
                    }
                }
                Err(_) => return Err(format!("beed closed stderr before ready:\n{}", self.log.join("\n"))),
            }
        }
        Err(format!("beed not ready after 30s:\n{}", self.log.join("\n")))
    }

    /// GET /metrics.
    pub fn scrape(&self) -> Result<String, String> {
        http_get(self.port, "/metrics")
    }

    /// Waits up to `timeout` for a stdout JSON event satisfying `pred` that no
    /// earlier wait returned (events are kept, in order, as they arrive).
    pub fn wait_event(
        &mut self,
        timeout: Duration,
        mut pred: impl FnMut(&serde_json::Value) -> bool,
    ) -> Option<serde_json::Value> {
        for (v, taken) in self.events.iter_mut() {
            if !*taken && pred(v) {
                *taken = true;
                return Some(v.clone());
            }
        }
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stdout.recv_timeout(left) {
                Ok(line) => {
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                        let hit = pred(&v);
                        self.events.push((v.clone(), hit));
                        if hit {
                            return Some(v);
                        }
                    }
                }
                Err(_) => return None,
            }
        }
        None
    }

    /// Stops beed with SIGTERM and returns its exit status and remaining stderr.
    pub fn terminate(mut self) -> (Option<std::process::ExitStatus>, String) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut status = None;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                status = Some(s);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut rest = self.log.join("\n");
        while let Ok(l) = self.stderr.recv_timeout(Duration::from_millis(200)) {
            rest.push('\n');
            rest.push_str(&l);
        }
        (status, rest)
    }
}

/// GET `path`: the response's status code and body.
pub fn http_status(port: u16, path: &str) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).map_err(|e| e.to_string())?;
    let (head, body) = buf.split_once("\r\n\r\n").ok_or("no body")?;
    // HTTP/1.1 200 OK
    let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or(format!("no status in {head:?}"))?;
    Ok((code, body.to_string()))
}

pub fn http_get(port: u16, path: &str) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).map_err(|e| e.to_string())?;
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).ok_or("no body")?;
    Ok(body)
}

/// Value of the sample `name{labels}` whose labels include all of `want`.
pub fn sample(text: &str, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (series, value) = l.rsplit_once(' ')?;
        let (n, labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if n != name {
            return None;
        }
        let ok = want.iter().all(|(k, v)| labels.split(',').any(|p| p == format!("{k}=\"{v}\"")));
        if ok {
            value.parse().ok()
        } else {
            None
        }
    })
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc_geteuid() == 0 }
}

extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

impl Beed {
    /// Sends `sig` (e.g. "HUP") and waits for a stderr line containing `want`.
    pub fn signal_and_wait(&mut self, sig: &str, want: &str) -> Result<String, String> {
        Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .map_err(|e| e.to_string())?;
        self.wait_log(want, Duration::from_secs(30))
    }

    /// Waits for a stderr line containing `want`.
    pub fn wait_log(&mut self, want: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(want) {
                        return Ok(line);
                    }
                }
                Err(_) => break,
            }
        }
        Err(format!("no log line with {want:?}:\n{}", self.log.join("\n")))
    }

    /// Scrapes until `name{labels}` equals `want` (or the timeout passes); returns the last value.
    pub fn wait_sample(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        want: Option<f64>,
        timeout: Duration,
    ) -> Result<Option<f64>, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = sample(&self.scrape()?, name, labels);
            if got == want || Instant::now() > deadline {
                return Ok(got);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
