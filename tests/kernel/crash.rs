//! Crash safety: `kill -9` while a probe of every attach type this kernel
//! runs is live leaves nothing behind — every program and link beed held is
//! gone once the process is (the kernel owns them through beed's file
//! descriptors; XDP and TC attach with links, TC through TCX). Needs root and bpftool.

use crate::common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{fixture, is_root, TestResult};

/// Program and link ids beed holds, from /proc/PID/fdinfo.
fn held_ids(pid: u32) -> (Vec<u32>, Vec<u32>) {
    let (mut progs, mut links) = (Vec::new(), Vec::new());
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else { return (progs, links) };
    for e in dir.flatten() {
        let Ok(text) = std::fs::read_to_string(e.path()) else { continue };
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("prog_id:") {
                progs.extend(v.trim().parse::<u32>().ok());
            } else if let Some(v) = line.strip_prefix("link_id:") {
                links.extend(v.trim().parse::<u32>().ok());
            }
        }
    }
    progs.sort_unstable();
    progs.dedup();
    links.sort_unstable();
    links.dedup();
    (progs, links)
}

fn exists(kind: &str, id: u32) -> bool {
    Command::new("bpftool").args([kind, "show", "id", &id.to_string()]).output().is_ok_and(|o| o.status.success())
}

#[test]
fn sigkill_leaves_nothing_attached() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let target = dir.path().join("uprobe_target");
    assert!(Command::new("cc").arg("-O2").arg("-o").arg(&target).arg(fixture("uprobe_target.c")).status()?.success());
    let mut cfg = String::from("[metrics]\nlisten = \"127.0.0.1:{port}\"\n[events]\noutput = \"none\"\n");
    let kinds = ["tracepoint", "raw_tp", "uprobe", "uretprobe", "perf_event", "xdp", "tc", "iter"];
    for kind in kinds {
        let obj = dir.path().join(format!("{kind}.bpf.o"));
        common::compile_to(&fixture("attach_types.bpf.c"), &obj, &[&format!("-DKIND_{kind}")])?;
        cfg.push_str(&format!("[probes.{kind}]\nobject = \"{}\"\n", obj.display()));
    }
    let t = target.display();
    cfg.push_str(&format!(
        "[probes.uprobe.attach.prog]\nbinary = \"{t}\"\nfunc = \"bee_target_function\"\n\
         [probes.uretprobe.attach.prog]\nbinary = \"{t}\"\nfunc = \"bee_target_function\"\n\
         [probes.xdp.attach.prog]\ninterface = \"lo\"\n[probes.tc.attach.prog]\ninterface = \"lo\"\n[probes.perf_event.attach.prog]\nfrequency = 99\n[probes.exitsnoop]\n"
    ));
    let mut beed = common::start(dir.path(), &cfg)?;
    let text = beed.scrape()?;
    for kind in kinds {
        assert_eq!(common::sample(&text, "beed_probe_up", &[("probe", kind)]), Some(1.0), "{kind}: {text}");
    }
    let (progs, links) = held_ids(beed.child.id());
    assert!(progs.len() >= kinds.len() && !links.is_empty(), "progs {progs:?} links {links:?}");
    beed.child.kill()?; // SIGKILL
    beed.child.wait()?;
    // the kernel frees them once the last reference (beed's fds) is gone
    let deadline = Instant::now() + Duration::from_secs(20);
    let left = loop {
        let left: Vec<String> = progs
            .iter()
            .filter(|id| exists("prog", **id))
            .map(|id| format!("prog {id}"))
            .chain(links.iter().filter(|id| exists("link", **id)).map(|id| format!("link {id}")))
            .collect();
        if left.is_empty() || Instant::now() > deadline {
            break left;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let net = Command::new("bpftool").args(["net", "show", "dev", "lo"]).output()?;
    assert!(left.is_empty(), "left behind after SIGKILL: {left:?}\n{}", String::from_utf8_lossy(&net.stdout));
    Ok(())
}
