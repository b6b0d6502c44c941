//! Hostile data from the traced side: a process names itself with JSON and
//! exposition-format syntax (`"`, `\`, newline, braces). The event line stays
//! one valid JSON object holding the name exactly; the label value is escaped
//! so the scrape still parses (promtool) and holds the name exactly; and a
//! storm of reloads under load leaves beed serving. Needs root.

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{compile, fixture, is_root, sample, start, TestResult};

#[test]
fn hostile_comm_is_escaped_everywhere() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let obj = compile(&fixture("user_probe.bpf.c"), dir.path())?;
    let gen = common::build_tool(dir.path(), "getppid")?;
    let cfg = format!(
        "[metrics]\nlisten = \"127.0.0.1:{{port}}\"\n[events]\noutput = \"stdout\"\n[poll]\ninterval = \"100ms\"\n\
         [probes.mine]\nobject = \"{}\"\n",
        obj.display()
    );
    let mut beed = start(dir.path(), &cfg)?;
    // 15 bytes: the kernel's comm limit
    let comm = "a\"b\\c\n}{x=\",y";
    assert!(Command::new(&gen).args([comm, "2"]).status()?.success());
    let ev = beed.wait_event(Duration::from_secs(10), |v| v["entry"]["comm"] == comm);
    assert!(ev.is_some(), "no event with the exact comm: {:?}", beed.events);
    // the exposition format escapes `\`, `"` and newline in label values
    let want = "comm=\"a\\\"b\\\\c\\n}{x=\\\",y\"} 2";
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut text = beed.scrape()?;
    while !text.lines().any(|l| l.starts_with("ebpf_solo_io_counter_getppid{") && l.ends_with(want)) {
        assert!(Instant::now() < deadline, "no series ending with {want}:\n{text}");
        std::thread::sleep(Duration::from_millis(100));
        text = beed.scrape()?;
    }
    common::promtool_ok(&text)?;
    Ok(())
}

#[test]
fn a_reload_storm_under_load_leaves_beed_serving() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let obj = compile(&fixture("user_probe.bpf.c"), dir.path())?;
    let gen = common::build_tool(dir.path(), "getppid")?;
    let cfg = format!(
        "[metrics]\nlisten = \"127.0.0.1:{{port}}\"\n[events]\noutput = \"none\"\n[poll]\ninterval = \"100ms\"\n\
         [probes.mine]\nobject = \"{}\"\n[probes.exitsnoop]\n",
        obj.display()
    );
    let beed = start(dir.path(), &cfg)?;
    let pid = beed.child.id();
    let fds = || std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0);
    let before = fds();
    let mut load = Command::new(&gen).args(["beestorm", "1000000"]).spawn()?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut sent = 0;
    while sent < 100 && Instant::now() < deadline {
        Command::new("kill").args(["-HUP", &pid.to_string()]).status()?;
        std::thread::sleep(Duration::from_millis(50));
        sent += 1;
    }
    let _ = load.wait();
    // every reload done: no probe changed, so the same descriptors are held
    std::thread::sleep(Duration::from_millis(500));
    let text = beed.scrape()?;
    assert_eq!(sample(&text, "beed_probe_up", &[("probe", "mine")]), Some(1.0), "{text}");
    assert_eq!(sample(&text, "beed_config_last_reload_successful", &[]), Some(1.0), "{text}");
    let after = fds();
    assert!(after <= before + 2, "descriptors grew from {before} to {after} over {sent} reloads");
    let (status, log) = beed.terminate();
    assert!(status.is_some_and(|s| s.success()), "{log}");
    Ok(())
}
