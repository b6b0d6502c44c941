//! Files that are not what their `stat` promises, wherever beed reads or
//! writes one: a FIFO in the runtime directory (`tc.PID`, `reload`,
//! `.reload.tmp`), a kernel file whose reads block (`trace_pipe`, a regular
//! file to `stat`) as an object, a `btf_path` or a `probes.d/*.toml`, and
//! `/proc/self/pagemap` (size 0, hundreds of GiB to read). Each is an error
//! naming the file, in bounded time and memory, never a hang.
//!
//! No root; the FIFOs in the runtime directory of a running beed, which
//! loads probes: tests/kernel/blocking_files.rs.
//!
//! Before: `beed --check-config` blocked forever on the first kind and grew
//! until out of memory on the second; beed blocked at start (SIGTERM
//! ignored) on a FIFO in its runtime directory, and `beed --reload` blocked
//! before even signalling. `beed --reload PID` of a process that is not a
//! beed sent it SIGHUP (ending it) instead of refusing.

mod common;

use std::path::Path;
use std::process::Command;

use common::{fixture, run_limited as run, TestResult};

const TRACE_PIPE: &str = "/sys/kernel/tracing/trace_pipe";

#[test]
fn kernel_files_in_the_configuration_are_errors_not_hangs() -> TestResult {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let cfg = d.join("beed.toml");
    let check = |body: &str| -> Result<(Option<i32>, String), Box<dyn std::error::Error>> {
        std::fs::write(&cfg, format!("[metrics]\nlisten = \"\"\n{body}"))?;
        run(&["--check-config", &cfg.display().to_string()], &[])
    };

    // size 0 to stat, endless to read
    let (code, text) = check("[probes.x]\nobject = \"/proc/self/pagemap\"\n")?;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("probe x: /proc/self/pagemap:"), "{text}");
    assert!(!text.contains("out of memory"), "{text}");

    if !Path::new(TRACE_PIPE).exists() {
        eprintln!("{TRACE_PIPE} missing: the blocking-read cases are skipped");
        return Ok(());
    }
    let (code, text) = check(&format!("[probes.x]\nobject = \"{TRACE_PIPE}\"\n"))?;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("would block"), "{text}");

    let obj = common::compile(&fixture("user_probe.bpf.c"), d)?;
    let (code, text) = check(&format!("[probes.x]\nobject = \"{}\"\nbtf_path = \"{TRACE_PIPE}\"\n", obj.display()))?;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains(&format!("probe x: {TRACE_PIPE}: reading it would block")), "{text}");

    std::fs::create_dir(d.join("probes.d"))?;
    std::os::unix::fs::symlink(TRACE_PIPE, d.join("probes.d/pipe.toml"))?;
    let (code, text) = check("")?;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("probes.d/pipe.toml: reading it would block"), "{text}");
    Ok(())
}

#[test]
fn reload_signals_only_a_beed() -> TestResult {
    // SIGHUP would end this process: `beed --reload` must refuse it
    let mut other = Command::new("sleep").arg("30").spawn()?;
    let dir = tempfile::tempdir()?;
    let pid = other.id().to_string();
    let res = run(&["--reload", &pid], &[("BEED_RUNTIME_DIR", dir.path())]);
    let alive = other.try_wait()?.is_none();
    let _ = other.kill();
    let _ = other.wait();
    let (code, text) = res?;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("is `sleep`, not beed; nothing was signalled"), "{text}");
    assert!(alive, "beed --reload {pid} signalled a sleep:\n{text}");
    Ok(())
}
