//! Reload is transactional per probe: a changed probe is replaced only once
//! its new version loaded and attached; if it fails, the previous version
//! keeps running with its maps and counters, the failure is logged, exported
//! (`beed_config_last_reload_successful 0`) and returned by `beed --reload`
//! (the unit's ExecReload=, so `systemctl reload` fails). Every series of a
//! probe goes when the probe goes. Needs root.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{compile, fixture, is_root, sample, start, TestResult};

const MAIN: &str =
    "[metrics]\nlisten = \"127.0.0.1:{port}\"\n[events]\noutput = \"none\"\n[poll]\ninterval = \"100ms\"\n";

/// `beed --reload PID` as ExecReload= runs it: (success, output).
fn reload(pid: u32, rundir: &Path) -> Result<(bool, String), Box<dyn std::error::Error>> {
    let out = Command::new(env!("CARGO_BIN_EXE_beed"))
        .arg("--reload")
        .arg(pid.to_string())
        .env("BEED_RUNTIME_DIR", rundir)
        .output()?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Ok((out.status.success(), text))
}

#[test]
fn a_failed_new_version_keeps_the_old_one() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let rundir = d.join("run");
    let good = compile(&fixture("user_probe.bpf.c"), d)?;
    let bad = compile(&fixture("verifier_reject.bpf.c"), d)?;
    let gen = common::build_tool(d, "getppid")?;
    let with = |obj: &Path, port: u16| {
        format!("{}[probes.mine]\nobject = \"{}\"\n", MAIN.replace("{port}", &port.to_string()), obj.display())
    };
    let beed = start(d, &format!("{MAIN}[probes.mine]\nobject = \"{}\"\n", good.display()))?;
    let labels = [("probe", "mine"), ("comm", "beeold")];
    let counter = "ebpf_solo_io_counter_getppid";
    assert!(Command::new(&gen).args(["beeold", "3"]).status()?.success());
    assert_eq!(beed.wait_sample(counter, &labels, Some(3.0), Duration::from_secs(10))?, Some(3.0));
    let text = beed.scrape()?;
    assert_eq!(sample(&text, "beed_config_last_reload_successful", &[]), Some(1.0), "{text}");

    // the new version is rejected by the verifier: the reload fails, says
    // why, and the old version still counts into the same counter
    std::fs::write(d.join("beed.toml"), with(&bad, beed.port))?;
    let (ok, out) = reload(beed.child.id(), &rundir)?;
    assert!(!ok, "{out}");
    assert!(out.contains("probe mine (its previous version keeps running)") && out.contains("verifier"), "{out}");
    assert!(Command::new(&gen).args(["beeold", "2"]).status()?.success());
    assert_eq!(beed.wait_sample(counter, &labels, Some(5.0), Duration::from_secs(10))?, Some(5.0));
    let text = beed.scrape()?;
    assert_eq!(sample(&text, "beed_probe_up", &[("probe", "mine")]), Some(1.0), "{text}");
    assert_eq!(sample(&text, "beed_config_last_reload_successful", &[]), Some(0.0), "{text}");

    // an invalid config: nothing changes, and --reload says so
    std::fs::write(d.join("beed.toml"), format!("{}[probes.mine]\nobjekt = 1\n", MAIN))?;
    let (ok, out) = reload(beed.child.id(), &rundir)?;
    assert!(!ok && out.contains("unknown field `objekt`"), "{out}");

    // a good change applies
    std::fs::write(
        d.join("beed.toml"),
        with(&good, beed.port).replace("interval = \"100ms\"", "interval = \"200ms\""),
    )?;
    let (ok, out) = reload(beed.child.id(), &rundir)?;
    assert!(ok && out.contains("reloaded: 1 probes up, 0 failed"), "{out}");
    let text = beed.scrape()?;
    assert_eq!(sample(&text, "beed_config_last_reload_successful", &[]), Some(1.0), "{text}");
    let (status, log) = beed.terminate();
    assert!(status.is_some_and(|s| s.success()), "{log}");
    Ok(())
}

#[test]
fn removed_probes_leave_no_series() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let rundir = d.join("run");
    let obj = compile(&fixture("user_probe.bpf.c"), d)?;
    let gen = common::build_tool(d, "getppid")?;
    let beed = start(d, &format!("{MAIN}[probes.name0]\nobject = \"{}\"\n", obj.display()))?;
    let series = |text: &str| text.lines().filter(|l| !l.starts_with('#')).count();
    assert!(Command::new(&gen).args(["beerename", "1"]).status()?.success());
    std::thread::sleep(Duration::from_millis(300));
    let first = series(&beed.scrape()?);
    // rename the probe 12 times (each name also fails once: a missing var)
    for i in 1..=12 {
        let cfg = MAIN.replace("{port}", &beed.port.to_string());
        std::fs::write(d.join("beed.toml"), format!("{cfg}[probes.name{i}]\nobject = \"{}\"\n", obj.display()))?;
        let (ok, out) = reload(beed.child.id(), &rundir)?;
        assert!(ok, "{out}");
        assert!(Command::new(&gen).args(["beerename", "1"]).status()?.success());
    }
    std::thread::sleep(Duration::from_millis(300));
    let text = beed.scrape()?;
    for i in 0..12 {
        assert!(!text.contains(&format!("probe=\"name{i}\"")), "series of removed probe name{i} left:\n{text}");
    }
    assert!(text.contains("probe=\"name12\""), "{text}");
    // a probe that failed and was then removed leaves nothing either
    let cfg = MAIN.replace("{port}", &beed.port.to_string());
    std::fs::write(
        d.join("beed.toml"),
        format!(
            "{cfg}[probes.name12]\nobject = \"{}\"\n[probes.failing]\nobject = \"{}\"\n",
            obj.display(),
            compile(&fixture("verifier_reject.bpf.c"), d)?.display()
        ),
    )?;
    let (ok, _) = reload(beed.child.id(), &rundir)?;
    assert!(!ok);
    assert_eq!(sample(&beed.scrape()?, "beed_probe_up", &[("probe", "failing")]), Some(0.0));
    std::fs::write(d.join("beed.toml"), format!("{cfg}[probes.name12]\nobject = \"{}\"\n", obj.display()))?;
    let (ok, out) = reload(beed.child.id(), &rundir)?;
    assert!(ok, "{out}");
    let text = beed.scrape()?;
    assert!(!text.contains("probe=\"failing\""), "{text}");
    // the same number of series as with the first name, give or take the
    // comms that called getppid meanwhile
    let now = series(&text);
    assert!(now <= first + 10, "scrape grew from {first} to {now} series:\n{text}");
    Ok(())
}
