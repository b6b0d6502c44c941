//! A FIFO in the runtime directory of a running beed (`tc.PID`, `reload`,
//! `.reload.tmp`) stops nothing: beed starts, `beed --reload` reads its
//! status without blocking, SIGTERM ends it (the other files that are not
//! what their `stat` promises: tests/blocking_files.rs). Needs root.

use std::path::Path;
use std::process::Command;

use crate::common;
use common::{is_root, run_limited as run, start, TestResult};

fn mkfifo(p: &Path) -> TestResult {
    assert!(Command::new("mkfifo").arg(p).status()?.success());
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
