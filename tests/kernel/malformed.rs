//! A broken object through beed: the broken probe is reported down while
//! the others run (the object layer's own errors: crates/bee-object/tests/malformed.rs).
//! Needs root.

use std::process::Command;

use crate::common;
use bee_testutil::legacy_object;
use common::{is_root, sample, TestResult};

#[test]
fn broken_object_is_one_failed_probe() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let obj = legacy_object(dir.path())?;
    let bad = dir.path().join("truncated.bpf.o");
    std::fs::write(&bad, &obj[..obj.len() / 2])?;
    let cfg = format!(
        "[metrics]\nlisten = \"127.0.0.1:{{port}}\"\n[events]\noutput = \"stdout\"\n[probes.exitsnoop]\n[probes.broken]\nobject = \"{}\"\n",
        bad.display()
    );
    let beed = common::start(dir.path(), &cfg)?;
    let log = beed.log.join("\n");
    assert!(log.contains(&format!("probe broken failed: {}: not a valid BPF ELF object", bad.display())), "{log}");
    let text = beed.scrape()?;
    assert_eq!(sample(&text, "beed_probe_up", &[("probe", "broken")]), Some(0.0));
    assert_eq!(sample(&text, "beed_probe_up", &[("probe", "exitsnoop")]), Some(1.0));
    // --check-config reports it too, without loading anything
    let out = Command::new(env!("CARGO_BIN_EXE_beed"))
        .arg("--check-config")
        .arg("-c")
        .arg(dir.path().join("beed.toml"))
        .output()?;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("probe broken"), "{}", String::from_utf8_lossy(&out.stderr));
    Ok(())
}
