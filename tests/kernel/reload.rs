//! SIGHUP reload against the real kernel: added probes attach, unchanged
//! ones keep their counters, an invalid config changes nothing, removed
//! probes stop being exported. Needs root.

use crate::common;

use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::Duration;

use common::{compile, fixture, is_root, start, TestResult};

fn connect(listener: &TcpListener, n: usize) -> TestResult {
    let port = listener.local_addr()?.port();
    for _ in 0..n {
        let c = TcpStream::connect(("127.0.0.1", port))?;
        let _ = listener.accept()?;
        drop(c);
    }
    Ok(())
}

#[test]
fn reload_keeps_unchanged_probes_and_their_counters() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let main = "[metrics]\nlisten = \"127.0.0.1:{port}\"\n[events]\noutput = \"stdout\"\n[poll]\ninterval = \"100ms\"\n[probes.tcpconnect]\n";
    let mut beed = start(dir.path(), main)?;
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port().to_string();
    let labels = [("daddr", "127.0.0.1"), ("dport", port.as_str())];
    let metric = "ebpf_solo_io_counter_connections";
    connect(&listener, 4)?;
    assert_eq!(beed.wait_sample(metric, &labels, Some(4.0), Duration::from_secs(10))?, Some(4.0));

    // add a probe through probes.d
    let obj = compile(&fixture("user_probe.bpf.c"), dir.path())?;
    std::fs::create_dir(dir.path().join("probes.d"))?;
    std::fs::write(dir.path().join("probes.d/mine.toml"), format!("[probes.mine]\nobject = \"{}\"\n", obj.display()))?;
    let line = beed.signal_and_wait("HUP", "reloaded:")?;
    assert!(line.contains("2 probes up, 0 failed") && line.contains("kept [tcpconnect]"), "{line}");
    let text = beed.scrape()?;
    assert_eq!(common::sample(&text, metric, &labels), Some(4.0), "counter reset by reload:\n{text}");
    assert_eq!(common::sample(&text, "beed_probe_up", &[("probe", "mine")]), Some(1.0));
    connect(&listener, 2)?;
    assert_eq!(beed.wait_sample(metric, &labels, Some(6.0), Duration::from_secs(10))?, Some(6.0));

    // an invalid probes.d file: reload fails, nothing changes, still serving
    std::fs::write(dir.path().join("probes.d/bad.toml"), "[probes.bad]\nobjekt = 1\n")?;
    let line = beed.signal_and_wait("HUP", "reload failed")?;
    assert!(line.contains("probes.d/bad.toml:2:1: unknown field `objekt`"), "{line}");
    let text = beed.scrape()?;
    assert_eq!(common::sample(&text, metric, &labels), Some(6.0));
    assert_eq!(common::sample(&text, "beed_probe_up", &[("probe", "mine")]), Some(1.0));
    std::fs::remove_file(dir.path().join("probes.d/bad.toml"))?;

    // remove tcpconnect: its metric disappears, mine keeps running
    let port_cfg = beed.port.to_string();
    std::fs::write(
        dir.path().join("beed.toml"),
        main.replace("[probes.tcpconnect]\n", "").replace("{port}", &port_cfg),
    )?;
    let line = beed.signal_and_wait("HUP", "reloaded:")?;
    assert!(
        line.contains("1 probes up") && line.contains("removed [tcpconnect]") && line.contains("kept [mine]"),
        "{line}"
    );
    let text = beed.scrape()?;
    assert!(!text.contains(metric), "metric of a removed probe still exported:\n{text}");
    // [events] applies on reload: output = "none" stops the JSON lines
    std::fs::write(
        dir.path().join("beed.toml"),
        main.replace("[probes.tcpconnect]\n", "")
            .replace("{port}", &port_cfg)
            .replace("output = \"stdout\"", "output = \"none\""),
    )?;
    beed.signal_and_wait("HUP", "reloaded:")?;
    while beed.stdout.try_recv().is_ok() {}
    let gen = dir.path().join("getppid");
    assert!(Command::new("cc").arg("-O2").arg("-o").arg(&gen).arg(fixture("getppid.c")).status()?.success());
    assert!(Command::new(&gen).args(["beequiet", "3"]).status()?.success());
    let events_total = "beed_events_total";
    let seen =
        beed.wait_sample(events_total, &[("probe", "mine"), ("map", "print_calls")], None, Duration::from_millis(500))?;
    assert!(seen.is_some_and(|n| n > 0.0), "events still counted after the output change");
    assert!(
        beed.wait_event(Duration::from_millis(700), |v| v["entry"]["comm"] == "beequiet").is_none(),
        "events still written to stdout after output = \"none\""
    );
    let (status, log) = beed.terminate();
    assert!(status.is_some_and(|s| s.success()), "{log}");
    Ok(())
}
