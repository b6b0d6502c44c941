//! The /metrics server under local abuse, against the real beed binary on
//! 127.0.0.1: clients that send a request and never read the answer, a
//! half-sent request, HEAD, and a file descriptor limit smaller than the
//! number of clients. Needs root (the first test loads a BPF probe).
//!
//! No assertion depends on how fast anything runs: memory and CPU are
//! checked against generous bounds, and every wait has a generous deadline.

use crate::common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{fixture, is_root, Beed, TestResult};

/// No probes: only the HTTP server is exercised.
const NO_PROBES: &str = "[metrics]\nlisten = \"127.0.0.1:{port}\"\n[events]\noutput = \"none\"\n";

/// Series the many_series fixture exports: a scrape of about 11 MB.
const SERIES: u32 = 200_000;

fn require_root() -> TestResult {
    if !is_root() {
        return Err("these tests load BPF programs: run them as root (make test)".into());
    }
    Ok(())
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
    // fields after "(comm) ": state is field 3, utime 14, stime 15
    let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or("no ) in stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).ok_or(format!("stat field {}", i + 3));
    Ok(get(11)? + get(12)?)
}

fn clock_ticks_per_sec() -> Result<u64, String> {
    let out = Command::new("getconf").arg("CLK_TCK").output().map_err(|e| format!("getconf: {e}"))?;
    String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|e| format!("getconf CLK_TCK: {e}"))
}

/// Opens `n` connections to `port` from a few threads, sending `request` on
/// each; returns the open ones. Beyond beed's cap and the listen backlog the
/// kernel drops a SYN and the client retries a second later: such a
/// connection is skipped after 300 ms.
fn open_clients(port: u16, n: usize, request: &[u8]) -> Vec<TcpStream> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let threads = 8;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut open = Vec::new();
                    for _ in (t..n).step_by(threads) {
                        if let Ok(mut c) = TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                            if c.write_all(request).is_ok() {
                                open.push(c);
                            }
                        }
                    }
                    open
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

/// Scrapes until one succeeds or `timeout` passes.
fn scrape_within(beed: &Beed, timeout: Duration) -> Result<String, String> {
    let deadline = Instant::now() + timeout;
    loop {
        match beed.scrape() {
            Ok(body) => return Ok(body),
            Err(e) if Instant::now() > deadline => return Err(format!("no scrape within {timeout:?}: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Every stderr line beed wrote so far (and within `settle`).
fn drain_log(beed: &mut Beed, settle: Duration) {
    while let Ok(l) = beed.stderr.recv_timeout(settle) {
        beed.log.push(l);
    }
}

#[test]
fn clients_that_never_read_share_one_rendered_body() -> TestResult {
    require_root()?;
    let dir = tempfile::tempdir()?;
    let obj = common::compile(&fixture("many_series.bpf.c"), dir.path())?;
    let gen = dir.path().join("getpriority");
    assert!(Command::new("cc").arg("-O2").arg("-o").arg(&gen).arg(fixture("getpriority.c")).status()?.success());
    let cfg = format!(
        "[metrics]\nlisten = \"127.0.0.1:{{port}}\"\n[events]\noutput = \"none\"\n\
         [probes.series]\nobject = \"{}\"\ninterval = \"2s\"\n\
         [probes.series.maps.counter_series]\nmax_series = 300000\n",
        obj.display()
    );
    let beed = common::start(dir.path(), &cfg)?;
    let pid = beed.child.id();
    assert!(Command::new(&gen).args(["beeseries", &SERIES.to_string()]).status()?.success());
    let last = format!("ebpf_solo_io_counter_series{{probe=\"series\",n=\"{}\"}} 1", SERIES - 1);
    let deadline = Instant::now() + Duration::from_secs(30);
    let body = loop {
        let body = beed.scrape()?;
        if body.contains(&last) || Instant::now() > deadline {
            break body;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(body.contains(&last), "no {last} after 30s (scrape of {} bytes)", body.len());
    let base = common::rss_kib(pid)?;

    // 200 clients ask for ~11 MB each and never read a byte of it
    let clients = open_clients(beed.port, 200, b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let mut peak = 0;
    for _ in 0..20 {
        peak = peak.max(common::rss_kib(pid)?);
        std::thread::sleep(Duration::from_millis(200));
    }
    let open = clients.len();
    drop(clients);
    let body = scrape_within(&beed, Duration::from_secs(30))?;
    assert!(body.contains(&last), "scrape after the stalled clients lacks {last}");
    let after = common::rss_kib(pid)?;
    eprintln!(
        "scrape {} bytes; VmRSS {} MiB before, peak {} MiB with {open} stalled clients, {} MiB after",
        body.len(),
        base / 1024,
        peak / 1024,
        after / 1024
    );
    assert!(open >= 100, "only {open} of 200 clients connected");
    assert!(peak < 200 * 1024, "VmRSS peaked at {} MiB with {open} stalled clients", peak / 1024);
    assert!(after < 200 * 1024, "VmRSS {} MiB after the stalled clients left", after / 1024);
    Ok(())
}

/// Reads until the server closes the connection, for at most `timeout`.
fn closed_by_server(mut c: TcpStream, timeout: Duration) -> Result<Vec<u8>, String> {
    c.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(buf.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(got),
            Err(e) => {
                return Err(format!("still open after {timeout:?} ({e}); got {:?}", String::from_utf8_lossy(&got)))
            }
        }
    }
}

#[test]
fn half_sent_and_silent_connections_are_closed() -> TestResult {
    require_root()?;
    let dir = tempfile::tempdir()?;
    let beed = common::start(dir.path(), NO_PROBES)?;
    let mut half = TcpStream::connect(("127.0.0.1", beed.port))?;
    half.write_all(b"GET /metr")?;
    let silent = TcpStream::connect(("127.0.0.1", beed.port))?;
    // the header read timeout is 10 s; allow far more
    let a = std::thread::spawn(move || closed_by_server(half, Duration::from_secs(40)));
    let b = closed_by_server(silent, Duration::from_secs(40));
    let a = a.join().map_err(|_| "reader thread panicked")?;
    a?;
    b?;
    // and the server still answers
    assert!(beed.scrape()?.contains("beed_build_info"));
    Ok(())
}

fn raw_request(port: u16, req: &str) -> Result<(String, Vec<u8>), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).map_err(|e| e.to_string())?;
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no end of headers")?;
    let head = String::from_utf8_lossy(buf.get(..split).unwrap_or_default()).to_ascii_lowercase();
    Ok((head, buf.get(split + 4..).unwrap_or_default().to_vec()))
}

#[test]
fn head_answers_headers_only_and_routes_keep_their_types() -> TestResult {
    require_root()?;
    let dir = tempfile::tempdir()?;
    let beed = common::start(dir.path(), NO_PROBES)?;
    let req = |m: &str, p: &str| format!("{m} {p} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let text = "content-type: text/plain; version=0.0.4";

    let (head, body) = raw_request(beed.port, &req("HEAD", "/metrics"))?;
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains(text), "{head}");
    assert!(body.is_empty(), "HEAD /metrics sent a body: {:?}", String::from_utf8_lossy(&body));

    let (head, body) = raw_request(beed.port, &req("GET", "/metrics"))?;
    assert!(head.starts_with("http/1.1 200") && head.contains(text), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("beed_build_info{version="));

    let (head, body) = raw_request(beed.port, &req("GET", "/"))?;
    assert!(head.starts_with("http/1.1 200") && head.contains("content-type: text/html"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("href=\"/metrics\""));
    let (head, body) = raw_request(beed.port, &req("HEAD", "/"))?;
    assert!(head.starts_with("http/1.1 200") && body.is_empty(), "{head}");
    let (head, _) = raw_request(beed.port, &req("GET", "/nope"))?;
    assert!(head.starts_with("http/1.1 404"), "{head}");
    let (head, _) = raw_request(beed.port, &req("POST", "/metrics"))?;
    assert!(head.starts_with("http/1.1 405"), "{head}");
    Ok(())
}

#[test]
fn fd_exhaustion_backs_off_quietly_and_recovers() -> TestResult {
    require_root()?;
    let dir = tempfile::tempdir()?;
    let mut beed = common::start(dir.path(), NO_PROBES)?;
    let pid = beed.child.id();
    let st = Command::new("prlimit").args(["--pid", &pid.to_string(), "--nofile=64:64"]).status()?;
    assert!(st.success(), "prlimit failed");

    // more clients than descriptors: accept fails with EMFILE
    let clients = open_clients(beed.port, 150, b"");
    beed.wait_log("accepting a metrics connection", Duration::from_secs(10))?;
    let hz = clock_ticks_per_sec()?;
    let (t0, c0) = (Instant::now(), cpu_ticks(pid)?);
    std::thread::sleep(Duration::from_secs(3));
    let (window, used) = (t0.elapsed(), cpu_ticks(pid)? - c0);
    let used_s = used as f64 / hz as f64;
    drain_log(&mut beed, Duration::from_millis(100));
    let warnings = beed.log.iter().filter(|l| l.contains("WARN")).count();
    eprintln!("{} clients; beed used {used_s:.2}s CPU in {window:.1?}; {warnings} warnings", clients.len());
    assert!(used_s < 0.5 * window.as_secs_f64(), "beed used {used_s:.2}s CPU in {window:.1?} at EMFILE");
    assert!(warnings < 50, "{warnings} warning lines:\n{}", beed.log.join("\n"));

    // the clients leave: beed accepts again and says so once
    drop(clients);
    let body = scrape_within(&beed, Duration::from_secs(20))?;
    assert!(body.contains("beed_build_info"));
    beed.wait_log("accepting metrics connections again", Duration::from_secs(10))?;
    Ok(())
}
