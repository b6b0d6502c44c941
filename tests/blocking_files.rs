//! Files that are not what their `stat` promises, wherever beed reads or
//! writes one: a FIFO in the runtime directory (`tc.PID`, `reload`,
//! `.reload.tmp`), a kernel file whose reads block (`trace_pipe`, a regular
//! file to `stat`) as an object, a `btf_path` or a `probes.d/*.toml`, and
//! `/proc/self/pagemap` (size 0, hundreds of GiB to read). Each is an error
//! naming the file, in bounded time and memory, never a hang.
//!
//! Before: `beed --check-config` blocked forever on the first kind and grew
//! until out of memory on the second; beed blocked at start (SIGTERM
//! ignored) on a FIFO in its runtime directory, and `beed --reload` blocked
//! before even signalling. `beed --reload PID` of a process that is not a
//! beed sent it SIGHUP (ending it) instead of refusing.

mod common;

use std::path::Path;
use std::process::Command;

use common::{fixture, is_root, start, TestResult};

const TRACE_PIPE: &str = "/sys/kernel/tracing/trace_pipe";

fn mkfifo(p: &Path) -> TestResult {
    assert!(Command::new("mkfifo").arg(p).status()?.success());
    Ok(())
}

/// Runs beed with `args` under a 3 GiB address-space limit (so that a read
/// that grows without bound fails instead of exhausting the machine); kills
/// it after 30 s (a hang is a failure). Returns (exit code, output).
fn run(args: &[&str], env: &[(&str, &Path)]) -> Result<(Option<i32>, String), Box<dyn std::error::Error>> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg("ulimit -v 3000000 && exec \"$0\" \"$@\"").arg(env!("CARGO_BIN_EXE_beed")).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    Ok(common::run_bounded(cmd)?)
}

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
fn fifos_in_the_runtime_directory_stop_nothing() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let rundir = d.join("run");
    std::fs::create_dir(&rundir)?;
    // a "state file" of a gone beed, and the status file's scratch name
    mkfifo(&rundir.join("tc.99999"))?;
    mkfifo(&rundir.join(".reload.tmp"))?;
    let beed = start(d, "[metrics]\nlisten = \"127.0.0.1:{port}\"\n[events]\noutput = \"none\"\n")?;

    // the status file itself: `--reload` reads it before signalling
    std::fs::remove_file(rundir.join("reload"))?;
    mkfifo(&rundir.join("reload"))?;
    let pid = beed.child.id().to_string();
    let (code, text) = run(&["--reload", &pid], &[("BEED_RUNTIME_DIR", &rundir)])?;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("reloaded: 0 probes up, 0 failed"), "{text}");

    let (status, log) = beed.terminate();
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
    assert!(log.contains("tc.99999") && log.contains("not a regular file"), "{log}");
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
