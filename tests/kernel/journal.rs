//! Events as native journal entries, against a datagram socket standing in
//! for journald (`BEED_JOURNAL_SOCKET`): the real beed, the real exitsnoop,
//! real processes; checks the fields and the per-probe rate limit. Needs root.

use crate::common;

use std::collections::HashMap;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{is_root, sample, TestResult};

/// Parses one native-protocol datagram into its fields.
fn fields(d: &[u8]) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = d;
    while !rest.is_empty() {
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else { break };
        let line = &rest[..nl];
        if let Some(eq) = line.iter().position(|&b| b == b'=') {
            out.insert(String::from_utf8_lossy(&line[..eq]).into(), String::from_utf8_lossy(&line[eq + 1..]).into());
            rest = &rest[nl + 1..];
        } else {
            // binary form: NAME\n<le64 length><data>\n
            let name = String::from_utf8_lossy(line).into_owned();
            let after = &rest[nl + 1..];
            if after.len() < 8 {
                break;
            }
            let len = u64::from_le_bytes(after[..8].try_into().unwrap_or([0; 8])) as usize;
            let data = &after[8..(8 + len).min(after.len())];
            out.insert(name, String::from_utf8_lossy(data).into());
            rest = after.get(8 + len + 1..).unwrap_or(&[]);
        }
    }
    out
}

#[test]
fn events_are_journal_entries_with_a_field_per_member_and_a_rate_limit() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let sock_path = dir.path().join("journal.sock");
    let sock = UnixDatagram::bind(&sock_path)?;
    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
    let cfg = dir.path().join("beed.toml");
    let port = common::free_port();
    std::fs::write(
        &cfg,
        format!(
            "[metrics]\nlisten = \"127.0.0.1:{port}\"\n[events]\noutput = \"journal\"\njournal_rate_limit = 20\n[probes.exitsnoop]\n"
        ),
    )?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_beed"))
        .arg("-c")
        .arg(&cfg)
        .env("BEED_JOURNAL_SOCKET", &sock_path)
        .env_remove("JOURNAL_STREAM")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let _guard = scopeguard(&mut child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while common::http_get(port, "/metrics")
        .map(|t| !t.contains("beed_probe_up{probe=\"exitsnoop\"} 1"))
        .unwrap_or(true)
    {
        if Instant::now() > deadline {
            return Err("beed not up".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // one process with a known name and exit code 3
    let script = dir.path().join("beejournal3");
    std::fs::write(&script, "#!/bin/sh\nexit 3\n")?;
    Command::new("chmod").arg("+x").arg(&script).status()?;
    let pid = Command::new(&script).spawn()?.id().to_string();
    let mut buf = vec![0u8; 65536];
    let mut entry = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    while entry.is_none() && Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            let f = fields(&buf[..n]);
            if f.get("PID") == Some(&pid) {
                entry = Some(f);
            }
        }
    }
    let f = entry.ok_or("no journal entry for the process")?;
    assert_eq!(f.get("PROBE").map(String::as_str), Some("exitsnoop"));
    assert_eq!(f.get("MAP").map(String::as_str), Some("print_exits"));
    assert_eq!(f.get("COMM").map(String::as_str), Some("beejournal3"));
    assert_eq!(f.get("EXIT_CODE").map(String::as_str), Some("3"));
    assert_eq!(f.get("PRIORITY").map(String::as_str), Some("6"));
    assert_eq!(f.get("SYSLOG_IDENTIFIER").map(String::as_str), Some("beed"));
    let msg = f.get("MESSAGE").ok_or("no MESSAGE")?;
    assert!(msg.starts_with("exitsnoop print_exits pid=") && msg.contains("comm=beejournal3"), "{msg}");

    // a flood: 300 exits in a burst; at most ~20/s reach the journal, the rest is counted
    std::thread::sleep(Duration::from_millis(1100)); // refill the bucket
    while sock.recv(&mut buf).is_ok() {}
    let burst = 300;
    let st = Command::new("sh").arg("-c").arg(format!("for i in $(seq {burst}); do /bin/true; done")).status()?;
    assert!(st.success());
    let start = Instant::now();
    let mut got = 0;
    while start.elapsed() < Duration::from_millis(1500) {
        if sock.recv(&mut buf).is_ok() {
            got += 1;
        }
    }
    let text = common::http_get(port, "/metrics")?;
    let suppressed = sample(&text, "beed_events_suppressed_total", &[("probe", "exitsnoop")]).unwrap_or(0.0);
    assert!(got <= 60, "{got} entries reached the journal in 1.5 s at journal_rate_limit = 20");
    assert!(suppressed >= (burst - 60) as f64, "suppressed {suppressed}, sent {got}");
    Ok(())
}

/// Kills the child when the test ends, whatever happened.
fn scopeguard(child: &mut std::process::Child) -> impl Drop + '_ {
    struct G<'a>(&'a mut std::process::Child);
    impl Drop for G<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    G(child)
}
