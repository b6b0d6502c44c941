//! ROOT ONLY: `bee run` errors that need root to reach: the refusal of a
//! user without the rights (run as `nobody` from root) and a probe the
//! kernel's verifier rejects. Each fails with one clear `bee: error:` line
//! and exit code ≠ 0, never a panic. Needs clang and root.

mod common;

use std::process::{Command, Stdio};

use common::{bee, bee_build, bee_in, failed_with, fixture, require_root, tempdir, Ran, TestResult};

/// `bee run` as `nobody`: it says to run as root before loading anything.
#[test]
fn run_without_root() -> TestResult {
    require_root()?;
    let tmp = tempdir()?;
    let obj = bee_build(&fixture("user_probe.bpf.c"), tmp.path(), "user_probe.bpf")?;
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bee())
        .args(["run", "--no-tty", "--duration", "1s"])
        .arg(&obj)
        .current_dir(tmp.path())
        .stdin(Stdio::null())
        .env_remove("RUST_BACKTRACE")
        .output()
        .map_err(|e| format!("running setpriv: {e}"))?;
    let ran = Ran::from(out);
    failed_with(&ran, &["user_probe.bpf.o", "run it as root", "sudo bee run"], true)?;
    Ok(())
}

/// The verifier's rejection names the program, then shows the log.
#[test]
fn run_verifier_reject() -> TestResult {
    require_root()?;
    let tmp = tempdir()?;
    let obj = bee_build(&fixture("verifier_reject.bpf.c"), tmp.path(), "verifier_reject.bpf")?;
    let ran = bee_in(tmp.path(), &["run", "--no-tty", "--duration", "5s", &obj.display().to_string()])?;
    let line = failed_with(&ran, &["verifier_reject.bpf.o", "verifier rejected", "unchecked"], false)?;
    // the log follows the line, and holds the verifier's reason
    assert!(ran.stderr.lines().next() == Some(line.as_str()), "the error line is not first:\n{}", ran.show());
    assert!(ran.stderr.contains("invalid mem access"), "the verifier log is missing:\n{}", ran.show());
    Ok(())
}
