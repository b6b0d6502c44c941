//! `beed --check-config --load` runs the verifier too, without attaching
//! (the checks that need no kernel: tests/check_config.rs). Needs root.

use crate::common;
use common::{check_config as check, compile, fixture, is_root, TestResult};

#[test]
fn load_runs_the_verifier_without_attaching() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let good = compile(&fixture("user_probe.bpf.c"), d)?;
    let bad = compile(&fixture("verifier_reject.bpf.c"), d)?;
    std::fs::write(d.join("good.toml"), format!("[probes.good]\nobject = \"{}\"\n", good.display()))?;
    std::fs::write(d.join("bad.toml"), format!("[probes.bad]\nobject = \"{}\"\n", bad.display()))?;
    // without --load the rejected object passes: only the kernel knows
    assert_eq!(check(&d.join("bad.toml"), &[])?.0, Some(0));
    let (code, text) = check(&d.join("bad.toml"), &["--load"])?;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("the verifier rejected program unchecked"), "{text}");
    let (code, text) = check(&d.join("good.toml"), &["--load"])?;
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("loaded into the kernel and verified"), "{text}");
    Ok(())
}
