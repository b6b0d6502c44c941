//! The engine never waits on its outputs or dies unnoticed: a stdout reader
//! that stops reading (`beed | sleep 30`) costs events, counted in
//! `beed_events_dropped_total`, not the walks, the metrics, SIGTERM or
//! memory (however long each line is); an
//! engine thread that dies takes the daemon down with a non-zero exit
//! instead of leaving stale metrics up. Needs root.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{compile, fixture, free_port, http_get, is_root, sample, TestResult};

/// Starts beed with stdout on a pipe nobody reads; returns it once ready.
fn spawn(config: &std::path::Path, env: &[(&str, &str)]) -> Result<(Child, mpsc::Receiver<String>), String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_beed"));
    cmd.arg("--config").arg(config).env_remove("JOURNAL_STREAM").env_remove("NOTIFY_SOCKET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| e.to_string())?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok((child, rx))
}

/// Starts beed with its stdout on a pipe that stays open and unread (the
/// returned handle) and waits until it is ready.
fn spawn_unread(config: &std::path::Path) -> Result<(Child, Option<std::process::ChildStdout>), String> {
    let (mut child, stderr) = spawn(config, &[])?;
    let unread = child.stdout.take();
    let ready =
        stderr.recv_timeout(Duration::from_secs(30)).into_iter().chain(stderr.iter()).find(|l| l.contains("ready:"));
    if ready.is_none() {
        let _ = child.kill();
        let _ = child.wait();
        return Err("beed did not get ready".into());
    }
    Ok((child, unread))
}

fn wait_exit(child: &mut Child, within: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn a_stalled_stdout_reader_costs_events_not_the_engine() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let obj = compile(&fixture("user_probe.bpf.c"), d)?;
    let gen = common::build_tool(d, "getppid")?;
    let port = free_port();
    let cfg = d.join("beed.toml");
    std::fs::write(
        &cfg,
        format!(
            "[metrics]\nlisten = \"127.0.0.1:{port}\"\n[events]\noutput = \"stdout\"\n[poll]\ninterval = \"100ms\"\n\
             [probes.mine]\nobject = \"{}\"\n[probes.mine.maps.print_calls]\nmax_entries = 4194304\n",
            obj.display()
        ),
    )?;
    let (mut child, _unread) = spawn_unread(&cfg)?;
    // far more than the pipe (64 KiB) and beed's queue (4 MiB) hold
    let calls = 300_000u32;
    assert!(Command::new(&gen).args(["beestall", &calls.to_string()]).status()?.success());
    let metric = |name: &str, labels: &[(&str, &str)]| -> Result<Option<f64>, String> {
        Ok(sample(&http_get(port, "/metrics")?, name, labels))
    };
    // walks go on: the kernel's exact count arrives in the hash map metric
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut counted = None;
    while Instant::now() < deadline {
        counted = metric("ebpf_solo_io_counter_getppid", &[("comm", "beestall")])?;
        if counted == Some(f64::from(calls)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(counted, Some(f64::from(calls)));
    let dropped = metric("beed_events_dropped_total", &[("output", "stdout")])?;
    assert!(dropped.is_some_and(|n| n > 0.0), "nothing counted as dropped: {dropped:?}");
    let read = metric("beed_events_total", &[("map", "print_calls")])?;
    assert!(read.is_some_and(|n| n > 100_000.0), "the ring buffer was not drained: {read:?}");
    // SIGTERM ends it although stdout never drains
    assert!(Command::new("kill").arg("-TERM").arg(child.id().to_string()).status()?.success());
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "beed did not stop cleanly on SIGTERM: {status:?}");
    Ok(())
}

/// A print hash map's walk is one line with every changed entry: 13 MB
/// here. The stdout queue used to bound chunks (64), not bytes, so with a
/// stalled reader it kept 64 such lines (about 870 MB) before dropping any.
#[test]
fn a_stalled_reader_of_huge_lines_costs_events_not_memory() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let obj = compile(&fixture("big_print_map.bpf.c"), d)?;
    let gen = common::build_tool(d, "getppid")?;
    let port = free_port();
    let cfg = d.join("beed.toml");
    std::fs::write(
        &cfg,
        format!(
            "[metrics]\nlisten = \"127.0.0.1:{port}\"\n[events]\noutput = \"stdout\"\n\
             [probes.big]\nobject = \"{}\"\ninterval = \"100ms\"\n",
            obj.display()
        ),
    )?;
    let (mut child, _unread) = spawn_unread(&cfg)?;
    // every walk after a rewrite is a 13 MB line; a few of them fill the
    // queue, and the ones after it are dropped
    let limit_kib = 400 * 1024;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut dropped = None;
    let mut peak = 0;
    while Instant::now() < deadline {
        assert!(Command::new(&gen).args(["beebig", "1"]).status()?.success());
        std::thread::sleep(Duration::from_millis(300));
        peak = peak.max(common::rss_kib(child.id())?);
        if peak > limit_kib {
            break;
        }
        dropped = sample(&http_get(port, "/metrics")?, "beed_events_dropped_total", &[("output", "stdout")]);
        if dropped.is_some_and(|n| n >= 5.0) {
            break;
        }
    }
    assert!(Command::new("kill").arg("-TERM").arg(child.id().to_string()).status()?.success());
    let status = wait_exit(&mut child, Duration::from_secs(20));
    assert!(peak <= limit_kib, "beed grew to {peak} KiB with its stdout stalled (dropped: {dropped:?})");
    assert!(dropped.is_some_and(|n| n >= 5.0), "lines were not dropped: {dropped:?}");
    assert!(status.is_some_and(|s| s.success()), "beed did not stop cleanly on SIGTERM: {status:?}");
    Ok(())
}

#[test]
fn a_dead_engine_stops_beed() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let cfg = dir.path().join("beed.toml");
    std::fs::write(&cfg, format!("[metrics]\nlisten = \"127.0.0.1:{}\"\n[probes.exitsnoop]\n", free_port()))?;
    let (mut child, stderr) = spawn(&cfg, &[("BEED_TEST_FAULT", "engine-panic")])?;
    let status = wait_exit(&mut child, Duration::from_secs(30));
    let log: Vec<String> = stderr.try_iter().collect();
    let log = log.join("\n");
    assert!(status.is_some_and(|s| s.code() == Some(1)), "{status:?}\n{log}");
    assert!(log.contains("the engine thread panicked: injected fault"), "{log}");
    Ok(())
}
