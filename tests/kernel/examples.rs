//! The example library (examples/*.bpf.c): every example compiles with
//! clang, passes `beed --check-config --load`, and, loaded all at once into
//! one beed, reports what this test drives: execs, exits, opens, signals,
//! loopback TCP connections (with their bytes and a retransmitted SYN),
//! syscalls, page faults, UDP packets on lo, capability checks, an OOM kill
//! in a memory cgroup and direct I/O on a loop device. Needs root.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{self, is_root, repo, sample, Beed, TestResult};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const WAIT: Duration = Duration::from_secs(30);

/// Compiles every examples/*.bpf.c into `dir`: (probe name, object).
fn compile_examples(dir: &Path) -> Res<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo().join("examples"))? {
        let src = entry?.path();
        let Some(name) = src.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".bpf.c")) else {
            continue;
        };
        let obj = dir.join(format!("{name}.bpf.o"));
        common::compile_to(&src, &obj, &[])?;
        out.push((name.to_string(), obj));
    }
    out.sort();
    assert!(out.len() >= 15, "only {} examples", out.len());
    Ok(out)
}

fn config(probes: &[(String, PathBuf)]) -> String {
    let mut cfg = String::from(
        "[metrics]\nlisten = \"127.0.0.1:{port}\"\n[events]\noutput = \"stdout\"\n[poll]\ninterval = \"100ms\"\n",
    );
    for (name, obj) in probes {
        cfg.push_str(&format!("[probes.{name}]\nobject = \"{}\"\n", obj.display()));
    }
    cfg.push_str("[probes.packets.attach.count_packet]\ninterface = \"lo\"\n");
    cfg
}

/// The capable variant this kernel can attach: the tracepoint where it
/// exists, else the kprobe.
fn capable_variant() -> &'static str {
    let tp = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        .iter()
        .any(|t| Path::new(t).join("events/capability/cap_capable").exists());
    if tp {
        "capable"
    } else {
        "capable_kprobe"
    }
}

#[test]
fn every_example_passes_check_config_load() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let probes = compile_examples(dir.path())?;
    let path = dir.path().join("beed.toml");
    std::fs::write(&path, config(&probes).replace("{port}", "0"))?;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_beed"));
    cmd.arg("--check-config").arg(&path).arg("--load");
    let (code, out) = common::run_bounded(cmd)?;
    assert_eq!(code, Some(0), "{out}");
    for (name, _) in &probes {
        let want = format!("probe {name}: ok (");
        assert!(out.contains(&want) && out.contains("loaded into the kernel and verified"), "{name}:\n{out}");
    }
    Ok(())
}

/// Scrapes until `name{labels}` is at least `min`; returns it.
fn at_least(b: &Beed, name: &str, labels: &[(&str, &str)], min: f64) -> Res<f64> {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = b.scrape()?;
        let got = sample(&text, name, labels);
        if got.is_some_and(|v| v >= min) {
            return Ok(got.unwrap_or(min));
        }
        if Instant::now() > deadline {
            return Err(format!("{name}{labels:?} = {got:?}, want >= {min}\n{text}").into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Scrapes until `name{labels}` equals `want`.
fn exactly(b: &Beed, name: &str, labels: &[(&str, &str)], want: f64) -> TestResult {
    let got = b.wait_sample(name, labels, Some(want), WAIT)?;
    assert_eq!(got, Some(want), "{name}{labels:?}\n{}", b.scrape()?);
    Ok(())
}

/// The next event of `map` satisfying `pred`.
fn event(b: &mut Beed, map: &str, mut pred: impl FnMut(&serde_json::Value) -> bool) -> Res<serde_json::Value> {
    b.wait_event(WAIT, |v| v["mapName"] == map && pred(&v["entry"]))
        .map(|v| v["entry"].clone())
        .ok_or_else(|| format!("no {map} event as expected").into())
}

/// `src` copied to `dir/name`, so that processes run from it carry `name` as comm.
fn renamed(src: &str, dir: &Path, name: &str) -> Res<PathBuf> {
    let dst = dir.join(name);
    std::fs::copy(src, &dst)?;
    Ok(dst)
}

fn run(cmd: &mut Command) -> Res<std::process::ExitStatus> {
    Ok(cmd.status()?)
}

/// Three loopback connections to one listener, 1000 bytes out and 500 back
/// each, held open while `open` runs, then closed client first.
fn tcp_traffic(open: impl FnOnce(u16) -> TestResult) -> Res<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let mut pairs = Vec::new();
    for _ in 0..3 {
        let mut c = TcpStream::connect(("127.0.0.1", port))?;
        let (mut s, _) = listener.accept()?;
        c.write_all(&[7u8; 1000])?;
        s.read_exact(&mut [0u8; 1000])?;
        s.write_all(&[9u8; 500])?;
        c.read_exact(&mut [0u8; 500])?;
        pairs.push((c, s));
    }
    open(port)?;
    for (c, mut s) in pairs {
        drop(c);
        // the client's FIN has arrived once the server reads end of file
        assert_eq!(s.read(&mut [0u8; 16])?, 0);
    }
    Ok(port)
}

/// A SYN that gets no answer: the listener's accept queue (backlog 0) is
/// full after one connection, so the kernel drops the next SYN and the
/// client retransmits it after its 1 s initial timeout.
fn syn_retransmit() -> Res<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr: SocketAddr = listener.local_addr()?;
    // SAFETY: listen(2) on a socket this function owns: it only lowers the backlog.
    let rc = unsafe { libc::listen(listener.as_raw_fd(), 0) };
    assert_eq!(rc, 0);
    let _queued = TcpStream::connect(addr)?;
    let _ = TcpStream::connect_timeout(&addr, Duration::from_millis(2500));
    Ok(addr.port())
}

/// Direct I/O a block device sees: 64 4-KiB writes to a fresh loop device,
/// or, where loop devices cannot be set up, 64 direct reads of the first
/// disk. Returns (major, minor, requests), or None when there is no block
/// device at all.
fn block_io(dir: &Path) -> Res<Option<(u32, u32, u64)>> {
    let file = dir.join("loop.img");
    std::fs::File::create(&file)?.set_len(8 << 20)?;
    let out = Command::new("losetup").args(["-f", "--show"]).arg(&file).output()?;
    let (dev, loop_dev) = if out.status.success() {
        (String::from_utf8_lossy(&out.stdout).trim().to_string(), true)
    } else {
        eprintln!("losetup failed ({}): trying a disk", String::from_utf8_lossy(&out.stderr).trim());
        let disk = std::fs::read_dir("/sys/block")?.filter_map(|e| e.ok()).find_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let size: u64 = std::fs::read_to_string(e.path().join("size")).ok()?.trim().parse().ok()?;
            let virt = ["loop", "ram", "zram", "nbd"].iter().any(|p| name.starts_with(p));
            (!virt && size > 0).then(|| format!("/dev/{name}"))
        });
        match disk {
            Some(d) => (d, false),
            None => {
                eprintln!("SKIPPED biolatency: no loop device and no disk in /sys/block");
                return Ok(None);
            }
        }
    };
    let rdev = std::fs::metadata(&dev)?.rdev();
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    let mut dd = Command::new("dd");
    if loop_dev {
        dd.arg("if=/dev/zero").arg(format!("of={dev}")).arg("oflag=direct");
    } else {
        dd.arg(format!("if={dev}")).arg("of=/dev/null").arg("iflag=direct");
    }
    let st = dd.args(["bs=4096", "count=64", "status=none"]).status();
    if loop_dev {
        run(Command::new("losetup").arg("-d").arg(&dev))?;
    }
    assert!(st?.success(), "dd on {dev}");
    Ok(Some((major, minor, 64)))
}

/// A process named `beedexoom` killed by the OOM killer of a 32 MiB memory
/// cgroup (v1 or v2). Returns its pid.
fn oom_kill(dir: &Path) -> Res<u32> {
    let pid = std::process::id();
    let (cg, limits): (PathBuf, &[(&str, &str)]) = if Path::new("/sys/fs/cgroup/memory/tasks").exists() {
        (
            PathBuf::from(format!("/sys/fs/cgroup/memory/beedex-oom-{pid}")),
            &[("memory.limit_in_bytes", "33554432"), ("memory.memsw.limit_in_bytes", "33554432")],
        )
    } else {
        let _ = std::fs::write("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
        (
            PathBuf::from(format!("/sys/fs/cgroup/beedex-oom-{pid}")),
            &[("memory.max", "33554432"), ("memory.swap.max", "0")],
        )
    };
    std::fs::create_dir(&cg).map_err(|e| format!("creating memory cgroup {}: {e}", cg.display()))?;
    let result = (|| -> Res<u32> {
        for (file, value) in limits {
            let path = cg.join(file);
            if path.exists() {
                std::fs::write(&path, value)?;
            }
        }
        let oom = renamed("/usr/bin/dd", dir, "beedexoom")?;
        let script = format!(
            "echo $$ > {}/cgroup.procs && exec {} if=/dev/zero of=/dev/null bs=256M count=1",
            cg.display(),
            oom.display()
        );
        let mut child = Command::new("sh").arg("-c").arg(script).spawn()?;
        let victim = child.id();
        let st = child.wait()?;
        assert!(!st.success(), "dd in a 32 MiB cgroup was not killed: {st}");
        Ok(victim)
    })();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::remove_dir(&cg).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    result
}

#[test]
fn examples_report_what_was_driven() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    // other users (nobody, for the denied capability check) traverse it
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let skip = if capable_variant() == "capable" { "capable_kprobe" } else { "capable" };
    let probes: Vec<_> = compile_examples(dir.path())?.into_iter().filter(|(n, _)| n != skip).collect();
    let mut beed = common::start(dir.path(), &config(&probes))?;
    let text = beed.scrape()?;
    for (name, _) in &probes {
        assert_eq!(sample(&text, "beed_probe_up", &[("probe", name)]), Some(1.0), "{name}:\n{text}");
    }
    let me = u64::from(std::process::id());

    // execsnoop: the file, the arguments, the parent
    run(Command::new("/bin/echo").args(["beedex-a", "beedex-b"]).stdout(std::process::Stdio::null()))?;
    let e = event(&mut beed, "print_execs", |e| e["filename"] == "/bin/echo" && e["ppid"].as_u64() == Some(me))?;
    assert_eq!(e["args"], "/bin/echo beedex-a beedex-b", "{e}");
    assert_eq!(e["comm"], "echo", "{e}");

    // exitcodes, signals: an exit code, and a SIGTERM sent by kill(1)
    let sh = renamed("/bin/sh", dir.path(), "beedexit")?;
    assert_eq!(run(Command::new(&sh).args(["-c", "exit 3"]))?.code(), Some(3));
    let mut sleeper = Command::new(renamed("/bin/sleep", dir.path(), "beedexsleep")?).arg("60").spawn()?;
    run(Command::new("kill").arg("-TERM").arg(sleeper.id().to_string()))?;
    sleeper.wait()?;
    at_least(&beed, "ebpf_solo_io_counter_exits", &[("comm", "beedexit"), ("code", "3"), ("sig", "0")], 1.0)?;
    at_least(&beed, "ebpf_solo_io_counter_exits", &[("comm", "beedexsleep"), ("code", "0"), ("sig", "15")], 1.0)?;
    let sig = [("sig", "15"), ("sender", "kill"), ("target", "beedexsleep"), ("result", "0")];
    at_least(&beed, "ebpf_solo_io_counter_signals", &sig, 1.0)?;

    // opensnoop: a file that exists (fd >= 0) and one that does not (-ENOENT)
    let present = dir.path().join("beedex-present");
    std::fs::write(&present, "x")?;
    let missing = dir.path().join("beedex-missing");
    std::fs::File::open(&present)?;
    assert!(std::fs::File::open(&missing).is_err());
    let path = present.to_string_lossy().into_owned();
    let e = event(&mut beed, "print_opens", |e| e["filename"] == path.as_str())?;
    assert!(e["ret"].as_i64().is_some_and(|r| r >= 0) && e["pid"].as_u64() == Some(me), "{e}");
    let path = missing.to_string_lossy().into_owned();
    let e = event(&mut beed, "print_opens", |e| e["filename"] == path.as_str())?;
    assert_eq!(e["ret"], -2, "{e}");

    // tcpopen (gauge) while three connections are open, then zero again
    let port = tcp_traffic(|port| {
        let p = port.to_string();
        exactly(&beed, "ebpf_solo_io_gauge_tcp_open", &[("dir", "out"), ("port", &p)], 3.0)?;
        exactly(&beed, "ebpf_solo_io_gauge_tcp_open", &[("dir", "in"), ("port", &p)], 3.0)
    })?;
    let p = port.to_string();
    exactly(&beed, "ebpf_solo_io_gauge_tcp_open", &[("dir", "out"), ("port", &p)], 0.0)?;
    exactly(&beed, "ebpf_solo_io_gauge_tcp_open", &[("dir", "in"), ("port", &p)], 0.0)?;
    // tcpconnlat, tcpaccept: three each; tcplife: both ends of each, with their bytes
    for _ in 0..3 {
        let e = event(&mut beed, "print_connects", |e| e["dport"] == port && e["daddr"] == "127.0.0.1")?;
        assert!(e["pid"].as_u64() == Some(me) && e["latency"].is_string(), "{e}");
        let e = event(&mut beed, "print_accepts", |e| e["lport"] == port)?;
        assert_eq!(e["raddr"], "127.0.0.1", "{e}");
        let e = event(&mut beed, "print_lifes", |e| e["rport"] == port)?;
        assert!(e["tx_bytes"].as_u64() >= Some(1000) && e["rx_bytes"].as_u64() >= Some(500), "{e}");
        assert!(e["pid"].as_u64() == Some(me) && e["span"].is_string(), "{e}");
        let e = event(&mut beed, "print_lifes", |e| e["lport"] == port)?;
        assert!(e["rx_bytes"].as_u64() >= Some(1000) && e["tx_bytes"].as_u64() >= Some(500), "{e}");
        assert_eq!(e["pid"].as_u64(), Some(me), "closed by this process: {e}");
    }
    exactly(&beed, "ebpf_solo_io_counter_accepts", &[("lport", &p)], 3.0)?;

    // tcpretrans: the retransmitted SYN (state 2, SYN_SENT)
    let rport = syn_retransmit()?.to_string();
    let labels = [("raddr", "127.0.0.1"), ("rport", rport.as_str()), ("state", "2")];
    at_least(&beed, "ebpf_solo_io_counter_retransmits", &labels, 1.0)?;

    // syscount, syscount_comm: 500 getppid() calls
    let getppid = common::build_tool(dir.path(), "getppid")?;
    assert!(run(Command::new(&getppid).args(["beedexsys", "500"]))?.success());
    at_least(&beed, "ebpf_solo_io_counter_syscalls_by_comm", &[("comm", "beedexsys")], 500.0)?;
    let nr = if cfg!(target_arch = "aarch64") { "173" } else { "110" };
    at_least(&beed, "ebpf_solo_io_counter_syscalls", &[("nr", nr)], 500.0)?;

    // pagefaults: 2000 fresh pages touched from user space
    let touch = common::build_tool(dir.path(), "touch_pages")?;
    assert!(run(Command::new(&touch).args(["beedexfault", "2000"]))?.success());
    at_least(&beed, "ebpf_solo_io_counter_page_faults", &[("comm", "beedexfault")], 2000.0)?;

    // runqlat: 200 sleeps, each a wakeup and a wait in the run queue
    let before = sample(&beed.scrape()?, "ebpf_solo_io_hist_runqlat_usecs_count", &[]).unwrap_or(0.0);
    for _ in 0..200 {
        std::thread::sleep(Duration::from_millis(1));
    }
    at_least(&beed, "ebpf_solo_io_hist_runqlat_usecs_count", &[("probe", "runqlat")], before + 200.0)?;

    // packets: 20 UDP datagrams of 100 bytes on lo (14 + 20 + 8 bytes of headers each)
    let udp = UdpSocket::bind("127.0.0.1:0")?;
    for _ in 0..20 {
        udp.send_to(&[0u8; 100], udp.local_addr()?)?;
    }
    at_least(&beed, "ebpf_solo_io_counter_packets", &[("l3", "ipv4"), ("l4", "udp")], 20.0)?;
    at_least(&beed, "ebpf_solo_io_counter_packet_bytes", &[("l3", "ipv4"), ("l4", "udp")], 20.0 * 142.0)?;
    at_least(&beed, "ebpf_solo_io_counter_packets", &[("l3", "ipv4"), ("l4", "tcp")], 1.0)?;

    // capable: CAP_CHOWN granted to root, denied to nobody
    let chown = renamed("/usr/bin/chown", dir.path(), "beedexchown")?;
    let file = dir.path().join("beedex-owned");
    std::fs::write(&file, "x")?;
    assert!(run(Command::new(&chown).arg("1:1").arg(&file))?.success());
    let nobody = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&chown)
        .arg("0:0")
        .arg(&file)
        .stderr(std::process::Stdio::null())
        .status()?;
    assert!(!nobody.success());
    let cap = [("cap", "CAP_CHOWN"), ("comm", "beedexchown")];
    if capable_variant() == "capable" {
        at_least(&beed, "ebpf_solo_io_counter_capable", &[cap[0], cap[1], ("denied", "false")], 1.0)?;
        at_least(&beed, "ebpf_solo_io_counter_capable", &[cap[0], cap[1], ("denied", "true")], 1.0)?;
    } else {
        at_least(&beed, "ebpf_solo_io_counter_capable", &cap, 2.0)?;
    }

    // biolatency: the device's histogram counts every request
    match block_io(dir.path())? {
        Some((major, minor, n)) => {
            let (major, minor) = (major.to_string(), minor.to_string());
            let labels = [("major", major.as_str()), ("minor", minor.as_str())];
            at_least(&beed, "ebpf_solo_io_hist_biolatency_usecs_count", &labels, n as f64)?;
        }
        None => eprintln!("biolatency: not exercised (no block device)"),
    }

    // oomkill: the victim, by pid and comm
    let victim = u64::from(oom_kill(dir.path())?);
    let e = event(&mut beed, "print_oomkills", |e| e["pid"].as_u64() == Some(victim))?;
    assert_eq!(e["comm"], "beedexoom", "{e}");
    assert_eq!(e["trigger_comm"], "beedexoom", "{e}");

    let text = beed.scrape()?;
    for (name, _) in &probes {
        assert_eq!(sample(&text, "beed_probe_up", &[("probe", name)]), Some(1.0), "{name}:\n{text}");
    }
    common::promtool_ok(&text)?;
    let (status, log) = beed.terminate();
    assert!(status.is_some_and(|s| s.success()), "{log}");
    Ok(())
}
