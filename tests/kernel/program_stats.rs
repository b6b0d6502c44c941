//! `[metrics] program_stats`: each program's run count and run time from
//! the kernel's BPF statistics, driven by real getppid() calls against
//! tests/fixtures/user_probe.bpf.c; absent when off. Runs the kernel skipped
//! (`beed_program_misses_total`) with statistics off, from
//! tests/fixtures/nested_tracepoint.bpf.c. Needs root.

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

const MISSES: &str = "beed_program_misses_total";

/// The running kernel's (major, minor).
fn kernel_version() -> Option<(u32, u32)> {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let mut parts = release.trim().split(['.', '-', '+']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[test]
fn missed_runs_are_counted_with_statistics_off() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    // the kernel counts a raw tracepoint's skipped nested run from 6.7
    let Some(v) = kernel_version() else { return Err("cannot read the kernel version".into()) };
    if v < (6, 7) {
        eprintln!("skipped: kernel {}.{} does not count skipped tracepoint runs (6.7+)", v.0, v.1);
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let obj = common::compile(&fixture("nested_tracepoint.bpf.c"), dir.path())?;
    let getppid = bee_testutil::build_tool(dir.path(), "getppid")?;
    let cfg = format!(
        "[metrics]\nlisten = \"127.0.0.1:{{port}}\"\n[events]\noutput = \"none\"\n\
         [probes.nested]\nobject = \"{}\"\n",
        obj.display()
    );
    let beed = common::start(dir.path(), &cfg)?;
    let labels = [("probe", "nested"), ("program", "on_printk")];
    let text = beed.scrape()?;
    let before = sample(&text, MISSES, &labels).ok_or_else(|| format!("no {MISSES}:\n{text}"))?;
    // the program that runs misses nothing
    let outer = [("probe", "nested"), ("program", "on_getppid")];
    assert_eq!(sample(&text, MISSES, &outer), Some(0.0), "{text}");
    assert!(Command::new(&getppid).args(["beemiss", "200"]).status()?.success());
    // each getppid() ran on_printk once (its counter, read by map walks) and
    // skipped its nested run once; scrape until both show (a scrape may
    // reuse a render made a few ms before)
    let runs = [("probe", "nested"), ("key", "0")];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let (text, after, ran) = loop {
        let text = beed.scrape()?;
        let after = sample(&text, MISSES, &labels).unwrap_or(0.0);
        let ran = sample(&text, "ebpf_solo_io_counter_printks", &runs).unwrap_or(0.0);
        if (after >= before + 200.0 && ran >= 200.0) || std::time::Instant::now() > deadline {
            break (text, after, ran);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(ran >= 200.0, "on_printk ran {ran} times after 200 calls:\n{text}");
    assert!(after >= before + 200.0, "{before} then {after} missed runs after 200 calls:\n{text}");
    // statistics stay off: no run counts
    assert!(!text.contains(RUNS), "{text}");
    common::promtool_ok(&text)?;
    Ok(())
}
