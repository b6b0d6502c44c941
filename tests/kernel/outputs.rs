//! The output table of DESIGN.md section 2, row by row, in both spellings:
//! a probe compiled by clang from tests/fixtures/matrix.bpf.c, loaded by beed,
//! driven by real getpriority() calls, asserted on exact decoded values and
//! exact metric values. Needs root.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{fixture, is_root, sample, Beed, TestResult};

const VALUES: [u64; 8] = [1, 2, 3, 5, 8, 13, 100, 1000];

fn gen(dir: &Path) -> Result<std::path::PathBuf, String> {
    let out = dir.join("getpriority");
    let st = Command::new("cc")
        .arg("-O2")
        .arg("-o")
        .arg(&out)
        .arg(fixture("getpriority.c"))
        .status()
        .map_err(|e| e.to_string())?;
    st.success().then_some(out).ok_or_else(|| "compiling getpriority.c failed".into())
}

struct Names {
    legacy: bool,
}

impl Names {
    fn map(&self, kw: &str, name: &str) -> String {
        if self.legacy {
            name.to_string()
        } else {
            format!("{kw}_{name}")
        }
    }
    fn metric(&self, kw: &str, name: &str) -> String {
        format!("ebpf_solo_io_{}", self.map(kw, name))
    }
}

fn wait_value(b: &Beed, name: &str, labels: &[(&str, &str)], want: f64) -> Result<(), String> {
    let got = b.wait_sample(name, labels, Some(want), Duration::from_secs(10))?;
    if got != Some(want) {
        return Err(format!("{name}{labels:?} = {got:?}, want {want}\n{}", b.scrape()?));
    }
    Ok(())
}

fn run_matrix(legacy: bool) -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let n = Names { legacy };
    let dir = tempfile::tempdir()?;
    let obj = dir.path().join("matrix.bpf.o");
    common::compile_to(&fixture("matrix.bpf.c"), &obj, if legacy { &["-DLEGACY"] } else { &[] })?;
    let gen = gen(dir.path())?;
    let comm = if legacy { "beemxlegacy" } else { "beemxprefix" };
    let cfg = format!(
        "[metrics]\nlisten = \"127.0.0.1:{{port}}\"\n[events]\noutput = \"stdout\"\n[poll]\ninterval = \"100ms\"\n\
         [probes.matrix]\nobject = \"{}\"\n[probes.matrix.vars]\ntarget_comm = \"{comm}\"\n\
         [probes.matrix.maps.{}]\nbuckets = [1, 10, 100, 1000]\n",
        obj.display(),
        n.map("hist", "ring_hist"),
    );
    let mut beed = common::start(dir.path(), &cfg)?;
    // other processes' getpriority calls must not count: the filter is in the kernel
    Command::new(&gen).arg("beemxother").args(VALUES.map(|v| v.to_string())).status()?;
    let st = Command::new(&gen).arg(comm).args(VALUES.map(|v| v.to_string())).status()?;
    assert!(st.success());

    // ringbuf print: one record per event, exact values
    let mut seen = Vec::new();
    while seen.len() < VALUES.len() {
        let ev = beed
            .wait_event(Duration::from_secs(10), |v| v["mapName"] == n.map("print", "events").as_str())
            .ok_or_else(|| format!("only {} print events: {seen:?}", seen.len()))?;
        let e = &ev["entry"];
        assert_eq!(e["comm"], comm);
        let v = e["v"].as_u64().ok_or("v not a number")?;
        let want_d = {
            let mut s = String::new();
            bee_object::decode::write_duration(&mut s, v * 1000);
            s
        };
        assert_eq!(e["d"], want_d.as_str(), "{e}");
        seen.push(v);
    }
    assert_eq!(seen, VALUES);

    // ringbuf counter: +1 per event, labels = fields
    let m = n.metric("counter", "ring_count");
    wait_value(&beed, &m, &[("bucket", "0")], 1.0)?;
    wait_value(&beed, &m, &[("bucket", "1")], 4.0)?;
    wait_value(&beed, &m, &[("bucket", "2")], 3.0)?;
    // ringbuf gauge: the last value; ringbuf hist: bucket counts of the observed values
    wait_value(&beed, &n.metric("gauge", "ring_gauge"), &[("kind", "1")], 1000.0)?;
    let h = n.metric("hist", "ring_hist");
    for (le, count) in [("1", 1.0), ("10", 5.0), ("100", 7.0), ("1000", 8.0), ("+Inf", 8.0)] {
        wait_value(&beed, &format!("{h}_bucket"), &[("kind", "1"), ("le", le)], count)?;
    }
    wait_value(&beed, &format!("{h}_sum"), &[("kind", "1")], 1132.0)?;
    // hash counter / gauge / per-CPU / LRU / array
    for (kw, name) in [("counter", "hash_count"), ("counter", "pcpu_count"), ("counter", "lru_count")] {
        wait_value(&beed, &n.metric(kw, name), &[("parity", "0")], 4.0)?;
        wait_value(&beed, &n.metric(kw, name), &[("parity", "1")], 4.0)?;
    }
    wait_value(&beed, &n.metric("gauge", "hash_gauge"), &[("parity", "0")], 1000.0)?;
    wait_value(&beed, &n.metric("gauge", "hash_gauge"), &[("parity", "1")], 13.0)?;
    wait_value(&beed, &n.metric("counter", "arr_count"), &[("key", "0")], 4.0)?;
    wait_value(&beed, &n.metric("counter", "arr_count"), &[("key", "1")], 4.0)?;
    wait_value(&beed, &n.metric("gauge", "pcpu_arr"), &[("key", "0")], 1110.0)?;
    wait_value(&beed, &n.metric("gauge", "pcpu_arr"), &[("key", "1")], 22.0)?;
    // hash hist: log2 slots 0,1,1,2,3,3,6,9 → cumulative counts at le = 2^(i+1)-1
    let hh = n.metric("hist", "hash_hist");
    for (le, count) in [
        ("1", 1.0),
        ("3", 3.0),
        ("7", 4.0),
        ("15", 6.0),
        ("63", 6.0),
        ("127", 7.0),
        ("511", 7.0),
        ("1023", 8.0),
        ("+Inf", 8.0),
    ] {
        wait_value(&beed, &format!("{hh}_bucket"), &[("kind", "1"), ("le", le)], count)?;
    }
    wait_value(&beed, &format!("{hh}_count"), &[("kind", "1")], 8.0)?;
    // hash print: the changed entries, with the final sums
    let sums = beed
        .wait_event(Duration::from_secs(10), |v| {
            v["mapName"] == n.map("print", "hash_sum").as_str()
                && v["entries"]
                    .as_array()
                    .is_some_and(|es| es.iter().any(|e| e["key"]["parity"] == 0 && e["value"] == 1110))
        })
        .ok_or("no hash print record with parity 0 = 1110")?;
    assert!(sums["entries"].as_array().is_some_and(|es| !es.is_empty()));
    // perf event array: one record per event
    let mut perf = Vec::new();
    while perf.len() < VALUES.len() {
        let ev = beed
            .wait_event(Duration::from_secs(10), |v| v["mapName"] == n.map("print", "perf_events").as_str())
            .ok_or_else(|| format!("only {} perf events", perf.len()))?;
        perf.push(ev["entry"]["v"].as_u64().unwrap_or(0));
    }
    assert_eq!(perf, VALUES);

    let text = beed.scrape()?;
    let events_map = n.map("print", "events");
    assert_eq!(sample(&text, "beed_events_total", &[("map", events_map.as_str())]), Some(8.0), "{text}");
    for line in
        text.lines().filter(|l| l.starts_with("beed_decode_errors_total") || l.starts_with("beed_series_dropped_total"))
    {
        assert!(line.ends_with(" 0"), "{line}");
    }
    promtool_ok(&text)?;

    // an entry the probe deletes stops being exported; the others stay
    Command::new(&gen).arg(comm).arg("999").status()?;
    let hc = n.metric("counter", "hash_count");
    let got = beed.wait_sample(&hc, &[("parity", "1")], None, Duration::from_secs(10))?;
    assert_eq!(got, None, "deleted entry still exported");
    assert_eq!(sample(&beed.scrape()?, &hc, &[("parity", "0")]), Some(4.0));
    Ok(())
}

fn promtool_ok(text: &str) -> TestResult {
    Ok(common::promtool_ok(text)?)
}

#[test]
fn every_output_kind_name_prefix_spelling() -> TestResult {
    run_matrix(false)
}

#[test]
fn every_output_kind_section_suffix_spelling() -> TestResult {
    run_matrix(true)
}

#[test]
fn label_selection_and_series_cap() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let obj = common::compile(&fixture("user_probe.bpf.c"), dir.path())?;
    let getppid = dir.path().join("getppid");
    assert!(Command::new("cc").arg("-O2").arg("-o").arg(&getppid).arg(fixture("getppid.c")).status()?.success());
    let cfg = format!(
        "[metrics]\nlisten = \"127.0.0.1:{{port}}\"\n[events]\noutput = \"none\"\n[poll]\ninterval = \"100ms\"\n\
         [probes.labels]\nobject = \"{}\"\n\
         [probes.labels.maps.counter_getppid]\nmax_series = 2\n\
         [probes.labels.maps.gauge_last_pid]\ndrop = [\"comm\"]\n",
        obj.display()
    );
    let beed = common::start(dir.path(), &cfg)?;
    for comm in ["beecapa", "beecapb", "beecapc", "beecapd"] {
        assert!(Command::new(&getppid).args([comm, "2"]).status()?.success());
    }
    let dropped = beed.wait_sample(
        "beed_series_dropped_total",
        &[("probe", "labels"), ("map", "counter_getppid")],
        Some(2.0),
        Duration::from_secs(10),
    )?;
    let text = beed.scrape()?;
    let series = text.lines().filter(|l| l.starts_with("ebpf_solo_io_counter_getppid{")).count();
    assert_eq!(series, 2, "{text}");
    // other processes call getppid too, so at least the 4 test comms beyond the cap were refused
    assert!(dropped.is_some_and(|d| d >= 2.0), "dropped {dropped:?}\n{text}");
    // dropping the only key field leaves one series (labelled only by the
    // probe): the sum over all entries
    let gauge: Vec<&str> = text.lines().filter(|l| l.starts_with("ebpf_solo_io_gauge_last_pid{")).collect();
    assert_eq!(gauge.len(), 1, "{text}");
    assert!(gauge[0].starts_with("ebpf_solo_io_gauge_last_pid{probe=\"labels\"} "), "{text}");
    // naming a field that does not exist is a clear per-probe error
    let bad = format!(
        "[metrics]\nlisten = \"127.0.0.1:{{port}}\"\n[events]\noutput = \"none\"\n[probes.bad]\nobject = \"{}\"\n[probes.bad.maps.counter_getppid]\nlabels = [\"pid\"]\n[probes.bad.maps.nosuchmap]\n",
        obj.display()
    );
    let dir2 = tempfile::tempdir()?;
    let b2 = common::start(dir2.path(), &bad)?;
    let log = b2.log.join("\n");
    assert!(log.contains("probes.bad.maps.nosuchmap: the object has no watched map `nosuchmap`"), "{log}");
    Ok(())
}
