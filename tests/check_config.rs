//! `beed --check-config` runs every check that does not need the kernel:
//! each bad setting is a clear error naming the file, probe, map, field or
//! key, in bounded time, never a panic; beed itself refuses a bad config
//! before loading anything. No root (`--check-config --load`, which runs the
//! verifier: tests/kernel/check_config.rs).

mod common;

use std::process::Command;

use common::{check_config as check, compile, fixture, TestResult};

#[test]
fn every_setting_is_checked_without_the_kernel() -> TestResult {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let obj = compile(&fixture("user_probe.bpf.c"), d)?;
    let half = d.join("half.o");
    let bytes = std::fs::read(&obj)?;
    std::fs::write(&half, &bytes[..bytes.len() / 2])?;
    let probe = format!("[probes.p]\nobject = \"{}\"\n", obj.display());
    let cases: Vec<(String, &str)> = vec![
        (format!("{probe}[probes.p.vars]\nnosuch = 1\n"), "no `const volatile` variable `nosuch`"),
        (format!("{probe}[probes.p.maps.counter_getppid]\nlabels = [\"comn\"]\n"), "label setting names `comn`"),
        (format!("{probe}[probes.p.maps.counter_getppid]\nlables = [\"comm\"]\n"), ":4:1: unknown field `lables`"),
        (
            format!("{probe}[probes.p.maps.counter_getpid]\n"),
            "probes.p.maps.counter_getpid: the object has no watched map",
        ),
        (
            format!("{probe}[probes.p.attach.nosuch]\nfunc = \"x\"\n"),
            "probes.p.attach.nosuch: the object has no program",
        ),
        (format!("{probe}[probes.p.maps.print_calls]\nmax_entries = 1000\n"), "a power of two and at least 4096"),
        (format!("[probes.p]\nobject = \"{}\"\n", half.display()), "half.o: not a valid BPF ELF object"),
        (format!("[poll]\nlatency = \"1h\"\n{probe}"), "poll.latency: `1h` is out of range (100us to 1s)"),
        (format!("[poll]\nlatency = \"1ns\"\n{probe}"), "poll.latency: `1ns` is out of range (100us to 1s)"),
        (
            format!("[poll]\ninterval = \"18446744073709551616s\"\n{probe}"),
            "poll.interval: `18446744073709551616s` is out of range (10ms to 24h)",
        ),
        (format!("[poll]\ninterval = \"5000000000000000000s\"\n{probe}"), "is out of range (10ms to 24h)"),
        (
            format!("{probe}interval = \"9999999999h\"\n"),
            "probes.p.interval: `9999999999h` is out of range (10ms to 24h)",
        ),
        (format!("[metrics]\nmax_series = 0\n{probe}"), "metrics.max_series must be at least 1"),
    ];
    for (i, (cfg, want)) in cases.iter().enumerate() {
        let path = d.join(format!("case{i}.toml"));
        std::fs::write(&path, cfg)?;
        let (code, text) = check(&path, &[])?;
        assert_eq!(code, Some(1), "case {i} accepted:\n{cfg}\n{text}");
        assert!(text.contains(want), "case {i}: want {want:?}:\n{cfg}\n{text}");
    }
    Ok(())
}

#[test]
fn non_regular_files_and_os_errors() -> TestResult {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    std::fs::write(d.join("beed.toml"), "[probes.exitsnoop]\n")?;
    std::fs::create_dir(d.join("probes.d"))?;
    // a FIFO named like a config file: skipped, not read (reading blocks)
    let fifo = d.join("probes.d/fifo.toml");
    assert!(Command::new("mkfifo").arg(&fifo).status()?.success());
    let (code, text) = check(&d.join("beed.toml"), &[])?;
    assert_eq!(code, Some(0), "{text}");
    // a FIFO as the main config is an error, not a hang
    let (code, text) = check(&fifo, &[])?;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("fifo.toml: not a regular file"), "{text}");
    // the OS error is said once
    let (code, text) = check(&d.join("missing.toml"), &[])?;
    assert_eq!(code, Some(1), "{text}");
    assert_eq!(text.matches("No such file or directory").count(), 1, "{text}");
    Ok(())
}

#[test]
fn bad_config_exits_non_zero_naming_the_line() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("beed.toml");
    let cases = [
        (
            "[metrics]\nlisten = \"127.0.0.1:0\"\n\n[probes.exitsnoop]\nintervall = \"1s\"\n",
            ":5:1: unknown field `intervall`",
        ),
        ("[probes.nosuchprobe]\n", ":1:9: probe `nosuchprobe` is not a built-in"),
        (
            "[probes.mine]\nobject = \"/nonexistent.bpf.o\"\n",
            ":2:10: probes.mine.object: /nonexistent.bpf.o does not exist",
        ),
        ("[metrics\n", ":1:"),
    ];
    for (cfg, want) in cases {
        std::fs::write(&path, cfg)?;
        for extra in [&[][..], &["--check-config"][..]] {
            let out = Command::new(env!("CARGO_BIN_EXE_beed")).args(extra).arg("--config").arg(&path).output()?;
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{cfg:?} {extra:?}: {err}");
            assert!(err.contains(&format!("{}{want}", path.display())), "{cfg:?}: want {want:?} in:\n{err}");
            assert!(!err.contains("loaded"), "loaded something before failing: {err}");
        }
    }
    Ok(())
}

#[test]
fn probes_dir_says_where_the_probe_files_are() -> TestResult {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    std::fs::create_dir_all(d.join("etc/probes.d"))?;
    std::fs::create_dir_all(d.join("probes"))?;
    // the default directory's file would be refused: it is not read once
    // probes_dir points elsewhere
    std::fs::write(d.join("etc/probes.d/bad.toml"), "[probes.nosuch]\n")?;
    std::fs::write(d.join("probes/exits.toml"), "[probes.exitsnoop]\n")?;
    std::fs::write(d.join("probes/conns.toml"), "[probes.tcpconnect]\n")?;
    let main = d.join("etc/beed.toml");
    for set in ["../probes", &d.join("probes").display().to_string()] {
        std::fs::write(&main, format!("probes_dir = \"{set}\"\n"))?;
        let (code, text) = check(&main, &[])?;
        assert_eq!(code, Some(0), "probes_dir = {set}: {text}");
        assert!(text.contains("exitsnoop") && text.contains("tcpconnect"), "probes_dir = {set}: {text}");
    }
    // unset: probes.d next to beed.toml, whose file is refused by name
    std::fs::write(&main, "")?;
    let (code, text) = check(&main, &[])?;
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("bad.toml") && text.contains("probe `nosuch` is not a built-in"), "{text}");
    // a directory that does not exist holds no probes, as probes.d
    std::fs::write(&main, "probes_dir = \"nowhere\"\n[probes.exitsnoop]\n")?;
    let (code, text) = check(&main, &[])?;
    assert_eq!(code, Some(0), "{text}");
    Ok(())
}
