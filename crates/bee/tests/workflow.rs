//! Root: every `bee init` combination (5 program types x 2 map kinds x 4
//! outputs) is generated, built with `bee build` and run with `bee run
//! --no-tty` against real activity (TCP connections on 127.0.0.1, files
//! opened, processes exiting, slow system calls), asserting the decoded
//! values; the 40 objects are then loaded by beed (`--check-config --load`).

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const BEE: &str = env!("CARGO_BIN_EXE_bee");
const MAPS: [&str; 2] = ["ring-buffer", "hash-map"];
const OUTPUTS: [&str; 4] = ["print", "counter", "gauge", "hist"];

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let n = std::process::id() ^ nanos;
    format!("{prefix}{:06x}", n & 0xff_ffff)
}

/// Writes and builds one combination; returns its object.
fn build(dir: &Path, program: &str, map: &str, output: &str) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let file = dir.join(format!("{program}-{map}-{output}.bpf.c"));
    let st = Command::new(BEE)
        .args(["init", "--program-type", program, "--map", map, "--output-type", output, "--file"])
        .arg(&file)
        .stdin(Stdio::null())
        .status()?;
    assert!(st.success(), "bee init {program} {map} {output}");
    let out = Command::new(BEE).arg("build").arg(&file).output()?;
    assert!(out.status.success(), "bee build {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    Ok(file.with_extension("o"))
}

/// A `bee run --no-tty` in the background, its stdout in a file.
struct Run {
    child: Child,
    out: PathBuf,
    err: PathBuf,
    name: String,
}

impl Run {
    fn start(obj: &Path) -> Result<Run, Box<dyn std::error::Error>> {
        let out = obj.with_extension("jsonl");
        let err = obj.with_extension("err");
        let child = Command::new(BEE)
            .args(["run", "--no-tty", "--interval", "200ms", "--duration", "90s"])
            .arg(obj)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out)?)
            .stderr(std::fs::File::create(&err)?)
            .spawn()?;
        let name = obj.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_string();
        Ok(Run { child, out, err, name })
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    fn ready(&self) -> bool {
        self.stderr().contains("bee: running")
    }

    /// Whether one line of its output holds every one of `want`.
    fn has(&self, want: &[String]) -> bool {
        let mut s = String::new();
        if std::fs::File::open(&self.out).and_then(|mut f| f.read_to_string(&mut s)).is_err() {
            return false;
        }
        s.lines().any(|l| want.iter().all(|w| l.contains(w.as_str())))
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-INT").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

/// Builds and runs the 8 combinations of `program`; drives `activity` until
/// each run printed a line with everything `want(map, output)` names.
fn check_program(
    program: &str,
    mut activity: impl FnMut() -> Result<(), Box<dyn std::error::Error>>,
    want: impl Fn(&str, &str) -> Vec<String>,
) -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut runs = Vec::new();
    for map in MAPS {
        for output in OUTPUTS {
            let obj = build(dir.path(), program, map, output)?;
            runs.push((map, output, Run::start(&obj)?));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while !runs.iter().all(|(_, _, r)| r.ready()) {
        for (_, _, r) in runs.iter_mut() {
            if let Ok(Some(st)) = r.child.try_wait() {
                return Err(format!("{} exited early ({st}): {}", r.name, r.stderr()).into());
            }
        }
        if Instant::now() > deadline {
            return Err("the bee runs did not start".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        activity()?;
        std::thread::sleep(Duration::from_millis(300));
        let missing: Vec<String> = runs
            .iter()
            .filter(|(m, o, r)| !r.has(&want(m, o)))
            .map(|(m, o, r)| format!("{} (want {:?})", r.name, want(m, o)))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() > deadline {
            let first = runs.iter().find(|(m, o, r)| !r.has(&want(m, o)));
            let detail = first.map(|(_, _, r)| {
                let out = std::fs::read_to_string(&r.out).unwrap_or_default();
                format!("{}: stderr {:?}; stdout {:?}", r.name, r.stderr(), out.chars().take(1500).collect::<String>())
            });
            return Err(format!("no matching line from: {}\n{}", missing.join(", "), detail.unwrap_or_default()).into());
        }
    }
}

/// A copy of `bin` named `name` in `dir` (its processes have that comm).
fn renamed(dir: &Path, bin: &str, name: &str) -> Result<PathBuf, Box<dyn std::error::Error>> {
    let p = dir.join(name);
    std::fs::copy(bin, &p)?;
    Ok(p)
}

/// The network templates (tracepoint or kprobe): connects to a listener on
/// 127.0.0.1 show its address and port.
fn tcp_connects(program: &str) -> TestResult {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    listener.set_nonblocking(true)?;
    check_program(
        program,
        || {
            let _c = TcpStream::connect(("127.0.0.1", port))?;
            while listener.accept().is_ok() {}
            Ok(())
        },
        |_, _| vec!["\"daddr\":\"127.0.0.1\"".into(), format!("\"dport\":{port}")],
    )
}

#[test]
fn network_templates_see_tcp_connects() -> TestResult {
    tcp_connects("network")
}

#[test]
fn network_kprobe_templates_see_tcp_connects() -> TestResult {
    let kprobes = ["/sys/bus/event_source/devices/kprobe", "/sys/kernel/tracing/kprobe_events"]
        .iter()
        .any(|p| Path::new(p).exists());
    if kprobes {
        return tcp_connects("network-kprobe");
    }
    // a kernel without kprobes (CONFIG_KPROBES=n): each variant fails at
    // attach, in one line that says why and what to use instead
    let dir = tempfile::tempdir()?;
    for map in MAPS {
        for output in OUTPUTS {
            let obj = build(dir.path(), "network-kprobe", map, output)?;
            let out = Command::new(BEE).args(["run", "--no-tty", "--duration", "5s"]).arg(&obj).output()?;
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{}: ran on a kernel without kprobes", obj.display());
            assert!(err.contains("CONFIG_KPROBES") && err.contains("prefer a tracepoint"), "{err}");
            assert!(!err.contains("panicked"), "{err}");
        }
    }
    Ok(())
}

#[test]
fn file_system_templates_see_opens() -> TestResult {
    let tools = tempfile::tempdir()?;
    let comm = unique("beefs");
    let cat = renamed(tools.path(), "/bin/cat", &comm)?;
    check_program(
        "file-system",
        || {
            Command::new(&cat).arg("/etc/hostname").stdout(Stdio::null()).status()?;
            Ok(())
        },
        |map, output| {
            let mut w = vec![format!("\"comm\":\"{comm}\"")];
            if map == "ring-buffer" && output == "print" {
                w.push("\"filename\":\"/etc/hostname\"".into());
            }
            w
        },
    )
}

#[test]
fn process_templates_see_exits() -> TestResult {
    let tools = tempfile::tempdir()?;
    let comm = unique("beepr");
    let sh = renamed(tools.path(), "/bin/sh", &comm)?;
    check_program(
        "process",
        || {
            Command::new(&sh).args(["-c", "exit 7"]).status()?;
            Ok(())
        },
        |map, output| {
            let mut w = vec![format!("\"comm\":\"{comm}\"")];
            if map == "ring-buffer" && output == "print" {
                w.push("\"exit_code\":7".into());
            }
            w
        },
    )
}

#[test]
fn syscall_latency_templates_see_slow_calls() -> TestResult {
    // clock_nanosleep(2), which sleep(1) calls
    let nr = if cfg!(target_arch = "aarch64") { 115 } else { 230 };
    check_program(
        "syscall-latency",
        || {
            Command::new("sleep").arg("0.05").status()?;
            Ok(())
        },
        |_, _| vec![format!("\"syscall\":{nr}")],
    )
}

#[test]
fn beed_loads_every_template() -> TestResult {
    let dir = tempfile::tempdir()?;
    let mut cfg = String::from("[metrics]\nlisten = \"\"\n");
    for program in ["network", "network-kprobe", "file-system", "process", "syscall-latency"] {
        for map in MAPS {
            for output in OUTPUTS {
                let obj = build(dir.path(), program, map, output)?;
                cfg.push_str(&format!("[probes.{program}-{map}-{output}]\nobject = {:?}\n", obj.display().to_string()));
            }
        }
    }
    let path = dir.path().join("beed.toml");
    std::fs::write(&path, cfg)?;
    // beed sits beside bee in the target directory (cargo test builds both)
    let beed = Path::new(BEE).with_file_name("beed");
    let out = Command::new(&beed).arg("--check-config").arg(&path).arg("--load").output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}: {text}{}", beed.display(), String::from_utf8_lossy(&out.stderr));
    assert_eq!(text.matches("loaded into the kernel and verified").count(), 40, "{text}");
    Ok(())
}

/// `GET /metrics` on 127.0.0.1:`port`, once it answers.
fn scrape(port: u16) -> Result<String, Box<dyn std::error::Error>> {
    use std::io::Write as _;
    let mut c = TcpStream::connect(("127.0.0.1", port))?;
    c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")?;
    let mut s = String::new();
    c.read_to_string(&mut s)?;
    Ok(s)
}

/// A free TCP port on 127.0.0.1.
fn free_port() -> Result<u16, Box<dyn std::error::Error>> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[test]
fn prom_port_serves_bumblebee_metrics() -> TestResult {
    let dir = tempfile::tempdir()?;
    let tools = tempfile::tempdir()?;
    let comm = unique("beepm");
    let sh = renamed(tools.path(), "/bin/sh", &comm)?;
    // a ring buffer counter and a hash histogram, each in its own bee run
    let counter = build(dir.path(), "process", "ring-buffer", "counter")?;
    let hist = build(dir.path(), "process", "hash-map", "hist")?;
    let (p1, p2) = (free_port()?, free_port()?);
    let mut runs = Vec::new();
    for (obj, port) in [(&counter, p1), (&hist, p2)] {
        let child = Command::new(BEE)
            .args(["run", "--no-tty", "--interval", "200ms", "--duration", "60s", "--prom-port"])
            .arg(port.to_string())
            .arg(obj)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let name = obj.display().to_string();
        runs.push(Run { child, out: obj.with_extension("none"), err: obj.with_extension("none"), name });
    }
    let comm_label = format!("comm=\"{comm}\"");
    // the value of the sample of `name` whose labels include `labels` (in any order)
    let sample = |text: &str, name: &str, labels: &[&str]| -> Option<f64> {
        text.lines().find_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let inner = series.strip_prefix(name)?.strip_prefix('{')?.strip_suffix('}')?;
            let have: Vec<&str> = inner.split(',').collect();
            labels.iter().all(|w| have.contains(w)).then(|| value.parse().ok())?
        })
    };
    let deadline = Instant::now() + Duration::from_secs(45);
    loop {
        Command::new(&sh).args(["-c", "exit 0"]).status()?;
        let (a, b) = (scrape(p1).unwrap_or_default(), scrape(p2).unwrap_or_default());
        let n_counter =
            sample(&a, "ebpf_solo_io_counter_exits", &["probe=\"process-ring-buffer-counter\"", &comm_label]);
        let n_hist = sample(&b, "ebpf_solo_io_hist_exits_count", &["probe=\"process-hash-map-hist\"", &comm_label]);
        if n_counter.is_some_and(|n| n >= 3.0) && n_hist.is_some_and(|n| n >= 3.0) {
            assert!(a.contains("# TYPE ebpf_solo_io_counter_exits counter"), "{a}");
            assert!(b.contains("# TYPE ebpf_solo_io_hist_exits histogram"), "{b}");
            assert!(a.starts_with("HTTP/1.1 200 OK"), "{a}");
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("no counter_exits / hist_exits_count >= 3 for {comm_label}:\n{a}\n{b}").into());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}
