//! `/healthz` and `/readyz` of the real beed (the liveness and readiness
//! probes of its container): ready once every configured probe was tried,
//! a failed one included, and not before; healthy while the engine runs.
//! Needs root (the probes load).

use std::time::{Duration, Instant};

use crate::common;
use common::{compile, fixture, http_status, is_root, spawn_with, TestResult};

#[test]
fn readyz_waits_for_every_probe_and_healthz_for_the_engine() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    // a probe that loads and one the verifier rejects: both tried
    let rejected = compile(&fixture("verifier_reject.bpf.c"), dir.path())?;
    let cfg = format!(
        "[metrics]\nlisten = \"127.0.0.1:{{port}}\"\n[events]\noutput = \"none\"\n[probes.exitsnoop]\n\
         [probes.rejected]\nobject = \"{}\"\n",
        rejected.display()
    );
    // the first load is held back 3 s: time to ask while probes load
    let mut beed = spawn_with(dir.path(), &cfg, &[], &[("BEED_TEST_FAULT", "slow-load")])?;
    let port = beed.port;
    let deadline = Instant::now() + Duration::from_secs(10);
    let healthz = loop {
        match http_status(port, "/healthz") {
            Ok(answer) => break answer,
            Err(e) if Instant::now() > deadline => return Err(format!("no /healthz within 10 s: {e}").into()),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    let readyz = http_status(port, "/readyz")?;
    assert_eq!(healthz, (200, "ok\n".to_string()));
    assert_eq!(readyz, (503, "not ready: loading probes\n".to_string()));
    assert!(!beed.log.iter().any(|l| l.contains("ready:")), "{:?}", beed.log);

    beed.wait_ready()?;
    assert!(beed.log.join("\n").contains("1 probes up, 1 failed (rejected)"), "{:?}", beed.log);
    assert_eq!(http_status(port, "/readyz")?, (200, "ready\n".to_string()));
    assert_eq!(http_status(port, "/healthz")?, (200, "ok\n".to_string()));

    let (status, log) = beed.terminate();
    assert!(status.is_some_and(|s| s.success()), "{status:?}\n{log}");
    Ok(())
}
