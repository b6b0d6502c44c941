//! Both spellings mixed in one object (with a private map and a prog array
//! initializer), const volatile parameters from config, and records whose
//! size disagrees with their BTF type. Needs root.

use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{compile, fixture, is_root, sample, TestResult};

#[test]
fn mixed_spellings_vars_and_record_sizes() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let obj = compile(&fixture("mixed.bpf.c"), dir.path())?;
    let waiter = dir.path().join("waiter");
    assert!(Command::new("cc").arg("-O2").arg("-o").arg(&waiter).arg(fixture("waiter.c")).status()?.success());
    let mut child = Command::new(&waiter).arg("3").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
    let mut pid = String::new();
    BufReader::new(child.stdout.take().ok_or("stdout")?).read_line(&mut pid)?;
    let pid = pid.trim().to_string();
    let cfg = format!(
        "[metrics]\nlisten = \"127.0.0.1:{{port}}\"\n[events]\noutput = \"stdout\"\n[poll]\ninterval = \"100ms\"\n\
         [probes.mixed]\nobject = \"{}\"\n[probes.mixed.vars]\ntarget_tgid = {pid}\nenabled = true\nsmall = 1\n",
        obj.display()
    );
    let mut beed = common::start(dir.path(), &cfg)?;
    child.stdin.take().ok_or("stdin")?.write_all(b"go\n")?;
    assert!(child.wait()?.success());

    // section spelling: bumblebee's name without a prefix; the vars set the filter and the port
    let m = "ebpf_solo_io_legacy_conns";
    let got = beed.wait_sample(m, &[("addr", "127.0.0.1"), ("port", "4243")], Some(3.0), Duration::from_secs(10))?;
    assert_eq!(got, Some(3.0), "{}", beed.scrape()?);
    // prefix spelling in the same object
    for n in 1..=3u64 {
        let ev = beed
            .wait_event(Duration::from_secs(10), |v| v["mapName"] == "print_ev" && v["entry"]["n"] == n)
            .ok_or_else(|| format!("no print_ev event n={n}"))?;
        assert_eq!(ev["entry"]["pid"].as_u64().map(|p| p.to_string()), Some(pid.clone()));
    }
    // records wider than their type are counted and still decoded; shorter ones only counted
    for n in 1..=3u64 {
        beed.wait_event(Duration::from_secs(10), |v| v["mapName"] == "print_wide" && v["entry"]["n"] == n)
            .ok_or_else(|| format!("no print_wide event n={n}"))?;
    }
    let text = beed.scrape()?;
    for map in ["print_short", "print_wide"] {
        assert_eq!(sample(&text, "beed_events_total", &[("map", map)]), Some(3.0), "{text}");
        assert_eq!(sample(&text, "beed_decode_errors_total", &[("map", map)]), Some(3.0), "{text}");
    }
    assert_eq!(sample(&text, "beed_decode_errors_total", &[("map", "print_ev")]), Some(0.0));
    assert!(beed.wait_event(Duration::from_millis(300), |v| v["mapName"] == "print_short").is_none());
    assert!(!text.contains("calls") && !text.contains("jump"), "private maps must not be exported");
    Ok(())
}

#[test]
fn bad_vars_are_clear_per_probe_errors() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let obj = compile(&fixture("mixed.bpf.c"), dir.path())?;
    let cases = [
        ("nosuch = 1", "probes.bad.vars.nosuch: the object has no `const volatile` variable `nosuch` (it has: "),
        ("small = 40000", "probes.bad.vars.small: 40000 does not fit in a signed 16-bit integer"),
        ("target_tgid = -1", "probes.bad.vars.target_tgid: -1 does not fit in a unsigned 32-bit integer"),
        ("enabled = \"yes\"", "probes.bad.vars.enabled: cannot set a bool from a TOML string"),
    ];
    let mut cfg =
        String::from("[metrics]\nlisten = \"127.0.0.1:{port}\"\n[events]\noutput = \"stdout\"\n[probes.exitsnoop]\n");
    for (i, (var, _)) in cases.iter().enumerate() {
        cfg.push_str(&format!("[probes.bad{i}]\nobject = \"{}\"\n[probes.bad{i}.vars]\n{var}\n", obj.display()));
    }
    let beed = common::start(dir.path(), &cfg)?;
    let log = beed.log.join("\n");
    assert!(log.contains("1 probes up, 4 failed"), "{log}");
    for (i, (_, want)) in cases.iter().enumerate() {
        let want = want.replace("probes.bad.", &format!("probes.bad{i}."));
        assert!(log.contains(&want), "want {want:?} in:\n{log}");
    }
    Ok(())
}

#[test]
fn drops_in_the_kernel_are_counted() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let obj = compile(&fixture("lossy.bpf.c"), dir.path())?;
    let gen = dir.path().join("getppid");
    assert!(Command::new("cc").arg("-O2").arg("-o").arg(&gen).arg(fixture("getppid.c")).status()?.success());
    let cfg = format!(
        "[metrics]\nlisten = \"127.0.0.1:{{port}}\"\n[events]\noutput = \"none\"\n[poll]\nlatency = \"300ms\"\ninterval = \"100ms\"\n\
         [probes.lossy]\nobject = \"{}\"\n",
        obj.display()
    );
    let beed = common::start(dir.path(), &cfg)?;
    let n = 5000u64;
    assert!(Command::new(&gen).args(["beelossy", &n.to_string()]).status()?.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (mut read, mut lost) = (None, None);
    while std::time::Instant::now() < deadline {
        let text = beed.scrape()?;
        read = sample(&text, "beed_events_total", &[("map", "print_burst")]);
        lost = sample(&text, "beed_events_lost_total", &[("probe", "lossy")]);
        if read.unwrap_or(0.0) + lost.unwrap_or(0.0) == n as f64 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (read, lost) = (read.unwrap_or(0.0), lost.unwrap_or(0.0));
    assert_eq!(read + lost, n as f64, "read {read} + lost {lost} != {n}");
    assert!(lost > 0.0 && read > 0.0, "read {read}, lost {lost}: the burst should overflow a 4 KiB ring");
    Ok(())
}

#[test]
fn seed_exitsnoop_runs_unchanged() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    // the seed document's exitsnoop, verbatim: section-suffix spelling
    // (`} exits SEC(".maps.print");`), compiled by plain clang
    let dir = tempfile::tempdir()?;
    let obj = compile(&fixture("seed_exitsnoop.bpf.c"), dir.path())?;
    let cfg = format!(
        "[metrics]\nlisten = \"127.0.0.1:{{port}}\"\n[events]\noutput = \"stdout\"\n[probes.seed]\nobject = \"{}\"\n",
        obj.display()
    );
    let mut beed = common::start(dir.path(), &cfg)?;
    let child = Command::new("sleep").arg("0.01").spawn()?;
    let pid = child.id() as u64;
    child.wait_with_output()?;
    let ev = beed
        .wait_event(Duration::from_secs(10), |v| v["entry"]["pid"].as_u64() == Some(pid))
        .ok_or("no exit event from the seed's exitsnoop")?;
    assert_eq!(ev["mapName"], "exits");
    assert_eq!(ev["entry"]["comm"], "sleep");
    assert_eq!(ev["entry"]["ppid"].as_u64(), Some(std::process::id() as u64));
    Ok(())
}
