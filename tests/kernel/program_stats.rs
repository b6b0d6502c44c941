//! `[metrics] program_stats`: each program's run count and run time from
//! the kernel's BPF statistics, driven by real getppid() calls against
//! tests/fixtures/user_probe.bpf.c; absent when off. Needs root.

use crate::common;

use std::process::Command;

use common::{fixture, is_root, sample, TestResult};

const RUNS: &str = "beed_program_runs_total";
const SECONDS: &str = "beed_program_run_seconds_total";

fn config(obj: &std::path::Path, on: bool) -> String {
    format!(
        "[metrics]\nlisten = \"127.0.0.1:{{port}}\"\nprogram_stats = {on}\n[events]\noutput = \"none\"\n\
         [probes.costs]\nobject = \"{}\"\n",
        obj.display()
    )
}

#[test]
fn program_stats_count_real_runs_when_enabled() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let obj = common::compile(&fixture("user_probe.bpf.c"), dir.path())?;
    let getppid = bee_testutil::build_tool(dir.path(), "getppid")?;
    let labels = [("probe", "costs"), ("program", "on_getppid")];

    let beed = common::start(dir.path(), &config(&obj, true))?;
    assert!(Command::new(&getppid).args(["beecost", "1000"]).status()?.success());
    let text = beed.scrape()?;
    let runs = sample(&text, RUNS, &labels).ok_or_else(|| format!("no {RUNS}:\n{text}"))?;
    let secs = sample(&text, SECONDS, &labels).ok_or_else(|| format!("no {SECONDS}:\n{text}"))?;
    // every getppid() call ran the program (other processes' calls may add)
    assert!(runs >= 1000.0, "{runs} runs after 1000 calls");
    assert!(secs > 0.0, "{secs}");
    assert!(Command::new(&getppid).args(["beecost", "5000"]).status()?.success());
    let text = beed.scrape()?;
    let more = sample(&text, RUNS, &labels).unwrap_or(0.0);
    assert!(more >= runs + 5000.0, "{runs} then {more} after 5000 more calls");
    assert!(sample(&text, SECONDS, &labels).is_some_and(|s| s > secs), "{text}");
    common::promtool_ok(&text)?;
    drop(beed);

    // off (the default): no series at all
    let dir2 = tempfile::tempdir()?;
    let beed = common::start(dir2.path(), &config(&obj, false))?;
    assert!(Command::new(&getppid).args(["beecost", "100"]).status()?.success());
    // (read at each scrape from the kernel, like the enabled case above)
    let text = beed.scrape()?;
    assert!(!text.contains(RUNS) && !text.contains(SECONDS), "{text}");
    assert!(text.contains("beed_probe_up{probe=\"costs\"} 1"), "{text}");
    Ok(())
}
