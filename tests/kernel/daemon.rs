//! End-to-end tests of the real beed binary against the running kernel: real
//! probes, real processes and sockets, real scrapes checked by promtool.
//! Needs root (CAP_BPF, CAP_PERFMON); run with `make test`.

use crate::common;

use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{compile, fixture, is_root, sample, start, TestResult};

const BUILTINS: &str = "[metrics]\nlisten = \"127.0.0.1:{port}\"\n[events]\noutput = \"stdout\"\n[poll]\ninterval = \"200ms\"\n[probes.exitsnoop]\n[probes.tcpconnect]\n";

fn require_root() -> TestResult {
    if !is_root() {
        return Err("these tests load BPF programs: run them as root (make test)".into());
    }
    Ok(())
}

#[test]
fn exit_event_has_pid_ppid_comm_and_code() -> TestResult {
    require_root()?;
    let dir = tempfile::tempdir()?;
    let mut beed = start(dir.path(), BUILTINS)?;
    // a process with a known comm that exits with code 3
    let script = dir.path().join("beeexit3");
    std::fs::write(&script, "#!/bin/sh\nexit 3\n")?;
    Command::new("chmod").arg("+x").arg(&script).status()?;
    let child = Command::new(&script).spawn()?;
    let pid = child.id() as u64;
    let out = child.wait_with_output()?;
    assert_eq!(out.status.code(), Some(3));
    let me = std::process::id() as u64;
    let ev = beed
        .wait_event(Duration::from_secs(10), |v| v["entry"]["pid"].as_u64() == Some(pid))
        .ok_or_else(|| format!("no exit event for pid {pid}"))?;
    assert_eq!(ev["probe"], "exitsnoop");
    assert_eq!(ev["mapName"], "print_exits");
    let e = &ev["entry"];
    assert_eq!(e["comm"], "beeexit3");
    assert_eq!(e["exit_code"].as_i64(), Some(3));
    assert_eq!(e["sig"].as_i64(), Some(0));
    assert_eq!(e["ppid"].as_u64(), Some(me));
    assert_eq!(e["tid"].as_u64(), Some(pid));
    assert!(e["age"].as_str().is_some_and(|a| a.ends_with('s')), "{e}");
    let (status, log) = beed.terminate();
    assert!(status.is_some_and(|s| s.success()), "beed did not stop cleanly: {status:?}\n{log}");
    Ok(())
}

fn promtool_check(text: &str) -> TestResult {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("promtool (Debian package prometheus): {e}"))?;
    child.stdin.take().ok_or("stdin")?.write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // exit 1 = the scrape does not parse; 3 = lint findings only. The only
    // findings allowed are the two that bumblebee's metric names imply
    // (counter names without _total, and `counter_` in the name); beed's own
    // metrics must be lint-clean.
    match out.status.code() {
        Some(0) => Ok(()),
        Some(3) => {
            for line in report.lines().filter(|l| !l.trim().is_empty()) {
                let allowed = line.starts_with("ebpf_solo_io_")
                    && (line.contains("counter metrics should have \"_total\" suffix")
                        || line.contains("metric name should not include type"));
                if !allowed {
                    return Err(format!("promtool finding: {line}\nfull report:\n{report}").into());
                }
            }
            Ok(())
        }
        other => Err(format!("promtool rejected the scrape ({other:?}):\n{report}\n{text}").into()),
    }
}

#[test]
fn tcp_connections_are_counted_exactly() -> TestResult {
    require_root()?;
    let dir = tempfile::tempdir()?;
    let mut beed = start(dir.path(), BUILTINS)?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let n = 7;
    for _ in 0..n {
        let c = TcpStream::connect(("127.0.0.1", port))?;
        let _ = listener.accept()?;
        drop(c);
    }
    let labels = [("saddr", "127.0.0.1"), ("daddr", "127.0.0.1"), ("dport", &port.to_string()[..])];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = None;
    let mut text = String::new();
    while Instant::now() < deadline {
        text = beed.scrape()?;
        got = sample(&text, "ebpf_solo_io_counter_connections", &labels);
        if got == Some(n as f64) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(got, Some(n as f64), "scrape:\n{text}");
    // counted once more after the walk, and never more than n
    std::thread::sleep(Duration::from_millis(500));
    let text = beed.scrape()?;
    assert_eq!(sample(&text, "ebpf_solo_io_counter_connections", &labels), Some(n as f64));
    assert!(text.contains("# TYPE ebpf_solo_io_counter_connections counter"), "{text}");
    promtool_check(&text)?;
    // the print map saw the same connections
    let ev = beed
        .wait_event(Duration::from_secs(5), |v| {
            v["mapName"] == "print_connects" && v["entry"]["dport"].as_u64() == Some(port as u64)
        })
        .ok_or("no print_connects event")?;
    assert_eq!(ev["entry"]["daddr"], "127.0.0.1");
    assert_eq!(sample(&text, "beed_probe_up", &[("probe", "tcpconnect")]), Some(1.0));
    Ok(())
}

#[test]
fn user_probe_from_object_file() -> TestResult {
    require_root()?;
    let dir = tempfile::tempdir()?;
    let obj = compile(&fixture("user_probe.bpf.c"), dir.path())?;
    let gen = dir.path().join("getppid");
    let st = Command::new("cc").arg("-O2").arg("-o").arg(&gen).arg(fixture("getppid.c")).status()?;
    assert!(st.success(), "compiling getppid.c");
    let cfg = format!(
        "[metrics]\nlisten = \"127.0.0.1:{{port}}\"\n[events]\noutput = \"stdout\"\n[probes.mine]\nobject = \"{}\"\ninterval = \"100ms\"\n",
        obj.display()
    );
    let mut beed = start(dir.path(), &cfg)?;
    let child = Command::new(&gen).args(["beeuser", "5"]).spawn()?;
    let pid = child.id() as u64;
    let out = child.wait_with_output()?;
    assert!(out.status.success());
    let ev = beed
        .wait_event(Duration::from_secs(10), |v| v["entry"]["pid"].as_u64() == Some(pid))
        .ok_or("no print_calls event")?;
    assert_eq!(ev["probe"], "mine");
    assert_eq!(ev["mapName"], "print_calls");
    assert_eq!(ev["entry"]["comm"], "beeuser");
    assert_eq!(ev["entry"]["minus_pid"].as_i64(), Some(-(pid as i64)));
    let labels = [("comm", "beeuser")];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    while Instant::now() < deadline {
        text = beed.scrape()?;
        if sample(&text, "ebpf_solo_io_counter_getppid", &labels) == Some(5.0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(sample(&text, "ebpf_solo_io_counter_getppid", &labels), Some(5.0), "{text}");
    assert_eq!(sample(&text, "ebpf_solo_io_gauge_last_pid", &labels), Some(pid as f64), "{text}");
    assert!(text.contains("# TYPE ebpf_solo_io_gauge_last_pid gauge"));
    let events = sample(&text, "beed_events_total", &[("probe", "mine"), ("map", "print_calls")]).unwrap_or(0.0);
    assert!(events >= 5.0, "beed_events_total {events}");
    promtool_check(&text)?;
    Ok(())
}

#[test]
fn failing_probe_does_not_stop_the_others() -> TestResult {
    require_root()?;
    let dir = tempfile::tempdir()?;
    // a kprobe: compiled out on some kernels (this CI's), present on others
    let src = dir.path().join("kp.bpf.c");
    std::fs::write(
        &src,
        "#include \"vmlinux.h\"\n#include <bpf/bpf_helpers.h>\n\
         struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 8); __type(key, u32); __type(value, u64); } counter_x SEC(\".maps\");\n\
         SEC(\"kprobe/nonexistent_function_for_beed_tests\") int kp(void *ctx) { return 0; }\n\
         char LICENSE[] SEC(\"license\") = \"GPL\";\n",
    )?;
    let obj = compile(&src, dir.path())?;
    let rejected = compile(&fixture("verifier_reject.bpf.c"), dir.path())?;
    let cfg = format!(
        "[metrics]\nlisten = \"127.0.0.1:{{port}}\"\n[events]\noutput = \"stdout\"\n[probes.exitsnoop]\n[probes.broken]\nobject = \"{}\"\n[probes.rejected]\nobject = \"{}\"\n",
        obj.display(),
        rejected.display()
    );
    let mut beed = start(dir.path(), &cfg)?;
    let text = beed.scrape()?;
    assert_eq!(sample(&text, "beed_probe_up", &[("probe", "broken")]), Some(0.0), "{text}");
    assert_eq!(sample(&text, "beed_probe_up", &[("probe", "exitsnoop")]), Some(1.0), "{text}");
    let err = beed.log.join("\n");
    assert!(err.contains("probe broken failed") && err.contains("kp") && err.contains("kprobe"), "{err}");
    assert!(err.contains("1 probes up, 2 failed (broken, rejected)"), "{err}");
    // the verifier's reason is in the error
    let rejected =
        err.lines().skip_while(|l| !l.contains("probe rejected failed")).take(20).collect::<Vec<_>>().join("\n");
    assert!(
        rejected.contains("the verifier rejected program unchecked") && rejected.contains("invalid mem access"),
        "{rejected}"
    );
    assert_eq!(sample(&text, "beed_probe_up", &[("probe", "rejected")]), Some(0.0), "{text}");
    // exitsnoop still delivers
    let child = Command::new("true").spawn()?;
    let pid = child.id() as u64;
    child.wait_with_output()?;
    beed.wait_event(Duration::from_secs(10), |v| v["entry"]["pid"].as_u64() == Some(pid))
        .ok_or("exitsnoop stopped delivering")?;
    Ok(())
}
