//! Metric shaping, const labels and event sampling, end to end: the matrix
//! probe (tests/fixtures/matrix.bpf.c) loaded by a real beed, driven by real
//! getpriority() calls whose argument is the observed value (read as
//! microseconds here), asserted on a real scrape. Needs root.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::{fixture, is_root, sample, Beed, TestResult};

const VALUES: [u64; 8] = [1, 2, 3, 5, 8, 13, 100, 1000];

fn want(b: &Beed, name: &str, labels: &[(&str, &str)], value: f64) -> TestResult {
    let got = b.wait_sample(name, labels, Some(value), Duration::from_secs(10))?;
    if got != Some(value) {
        return Err(format!("{name}{labels:?} = {got:?}, want {value}\n{}", b.scrape()?).into());
    }
    Ok(())
}

const SHAPED: &str = "\
[probes.matrix.maps.hist_hash_hist]
name = \"matrix_latency\"
unit = \"seconds\"
help = \"Observed values, in seconds\"
bucket_multiplier = 0.000001
[probes.matrix.maps.hist_ring_hist]
bucket_multiplier = 0.000001
buckets = [0.0000025, 0.00001, 0.0002, 0.002]
[probes.matrix.maps.counter_hash_count]
name = \"matrix_calls_total\"
rename = { parity = \"odd\" }
[probes.matrix.maps.gauge_hash_gauge]
value_multiplier = 0.001
[probes.matrix.maps.print_events]
sample = 3
";

#[test]
fn shaped_metrics_const_labels_and_sampling() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let obj = dir.path().join("matrix.bpf.o");
    common::compile_to(&fixture("matrix.bpf.c"), &obj, &[])?;
    let gen = bee_testutil::build_tool(dir.path(), "getpriority")?;
    let comm = "beeshape";
    let cfg = format!(
        "[metrics]\nlisten = \"127.0.0.1:{{port}}\"\nconst_labels = {{ node = \"${{BEE_TEST_NODE}}\", cluster = \"c1\" }}\n\
         [events]\noutput = \"stdout\"\n[poll]\ninterval = \"100ms\"\n\
         [probes.matrix]\nobject = \"{}\"\n[probes.matrix.vars]\ntarget_comm = \"{comm}\"\n{SHAPED}",
        obj.display(),
    );
    let mut beed = common::start_with(dir.path(), &cfg, &[], &[("BEE_TEST_NODE", "node-a")])?;
    assert!(Command::new(&gen).arg(comm).args(VALUES.map(|v| v.to_string())).status()?.success());

    // hash hist of microseconds, scaled to seconds, bucket by bucket: log2
    // slots 0,1,1,2,3,3,6,9, each bound (2^(i+1)-1) µs
    let h = "matrix_latency_seconds";
    for (le, count) in [
        ("0.000001", 1.0),
        ("0.000003", 3.0),
        ("0.000007", 4.0),
        ("0.000015", 6.0),
        ("0.000031", 6.0),
        ("0.000063", 6.0),
        ("0.000127", 7.0),
        ("0.000255", 7.0),
        ("0.000511", 7.0),
        ("0.001023", 8.0),
        ("+Inf", 8.0),
    ] {
        want(&beed, &format!("{h}_bucket"), &[("kind", "1"), ("le", le)], count)?;
    }
    want(&beed, &format!("{h}_count"), &[("kind", "1")], 8.0)?;
    let text = beed.scrape()?;
    let sum = sample(&text, &format!("{h}_sum"), &[("kind", "1")]).ok_or("no sum")?;
    // slot midpoints: 0.5 + 2*2.5 + 5.5 + 2*11.5 + 95.5 + 767.5 = 897 µs
    assert!((sum - 0.000897).abs() < 1e-12, "sum {sum}");
    assert!(text.contains("# HELP matrix_latency_seconds Observed values, in seconds\n"), "{text}");
    assert!(!text.contains("ebpf_solo_io_hist_hash_hist"), "the default name is replaced");
    // ring hist: observed values scaled, configured buckets in seconds
    let rh = "ebpf_solo_io_hist_ring_hist_bucket";
    for (le, count) in [("0.0000025", 2.0), ("0.00001", 5.0), ("0.0002", 7.0), ("0.002", 8.0), ("+Inf", 8.0)] {
        want(&beed, rh, &[("kind", "1"), ("le", le)], count)?;
    }
    // renamed metric and label; scaled gauge
    want(&beed, "matrix_calls_total", &[("odd", "0")], 4.0)?;
    want(&beed, "matrix_calls_total", &[("odd", "1")], 4.0)?;
    want(&beed, "ebpf_solo_io_gauge_hash_gauge", &[("parity", "0")], 1.0)?;
    want(&beed, "ebpf_solo_io_gauge_hash_gauge", &[("parity", "1")], 0.013)?;

    // sampling: one event in 3 of the 8, exactly: the 1st, 4th and 7th
    want(&beed, "beed_events_total", &[("map", "print_events")], 8.0)?;
    want(&beed, "beed_events_sampled_out_total", &[("probe", "matrix"), ("map", "print_events")], 5.0)?;
    // the 9th event is sampled out, the 10th (value 4242) kept: once it is
    // read, every kept event before it is known
    assert!(Command::new(&gen).args([comm, "4241", "4242"]).status()?.success());
    let mut kept = Vec::new();
    while kept.last() != Some(&4242) {
        let ev = beed
            .wait_event(Duration::from_secs(10), |v| v["mapName"] == "print_events")
            .ok_or_else(|| format!("events so far: {kept:?}"))?;
        kept.push(ev["entry"]["v"].as_u64().ok_or("v not a number")?);
    }
    assert_eq!(kept, [1, 5, 100, 4242]);
    want(&beed, "beed_events_sampled_out_total", &[("probe", "matrix"), ("map", "print_events")], 6.0)?;

    // const labels: on every series of the scrape (maps' families, beed_*,
    // process_*), the node's from the environment
    let text = beed.scrape()?;
    let mut families = std::collections::BTreeSet::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        assert!(line.contains("node=\"node-a\"") && line.contains("cluster=\"c1\""), "{line}");
        families.insert(line.split(['{', ' ']).next().unwrap_or_default().to_string());
    }
    for f in ["process_resident_memory_bytes", "beed_build_info", "beed_probe_up", "matrix_calls_total"] {
        assert!(families.contains(f), "{f} missing: {families:?}");
    }
    common::promtool_ok(&text)?;

    // const labels take effect at start: a reload that changes them says a
    // restart is needed, and the series keep the labels they had
    let changed = cfg.replace("cluster = \"c1\"", "cluster = \"c2\"").replace("{port}", &beed.port.to_string());
    std::fs::write(dir.path().join("beed.toml"), changed)?;
    beed.signal_and_wait("HUP", "metrics.const_labels changed: restart beed")?;
    beed.wait_log("reloaded:", Duration::from_secs(30))?;
    let text = beed.scrape()?;
    assert!(text.contains("cluster=\"c1\"") && !text.contains("cluster=\"c2\""), "{text}");
    Ok(())
}

#[test]
fn shaping_errors_at_check_config() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let obj = dir.path().join("matrix.bpf.o");
    common::compile_to(&fixture("matrix.bpf.c"), &obj, &[])?;
    let path = dir.path().join("beed.toml");
    let check = |body: &str| -> Result<String, Box<dyn std::error::Error>> {
        std::fs::write(&path, format!("[probes.matrix]\nobject = \"{}\"\n{body}", obj.display()))?;
        let (code, out) = common::check_config(&path, &[])?;
        assert_ne!(code, Some(0), "{body} accepted:\n{out}");
        Ok(out)
    };
    let out = check("[probes.matrix.maps.counter_hash_count]\nrename = { parity = \"probe\" }\n")?;
    assert!(out.contains("probe matrix: error: map counter_hash_count: rename of field `parity`: `probe` is a label beed sets itself"), "{out}");
    let out = check("[metrics]\nconst_labels = { kind = \"x\" }\n")?;
    assert!(out.contains("map ring_gauge") || out.contains("map gauge_ring_gauge"), "{out}");
    assert!(out.contains("label `kind` (field `kind`) collides with metrics.const_labels.kind"), "{out}");
    let out = check("[probes.matrix.maps.gauge_hash_gauge]\nname = \"ebpf_solo_io_counter_hash_count\"\n")?;
    assert!(out.contains("metric name `ebpf_solo_io_counter_hash_count` is already used by map"), "{out}");
    let out = check("[probes.matrix.maps.hist_hash_hist]\nvalue_multiplier = 2.0\n")?;
    assert!(out.contains("map hist_hash_hist: value_multiplier: a hist map scales with bucket_multiplier"), "{out}");
    let out = check("[probes.matrix.maps.counter_hash_count]\nsample = 2\n")?;
    assert!(out.contains("`sample` applies to print maps"), "{out}");
    Ok(())
}
