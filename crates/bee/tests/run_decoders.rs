//! `bee run --decode MAP,FIELD,DECODER` and the `"time"` of its JSON lines:
//! the decoders fixture (tests/fixtures/decoders.bpf.c) built with `bee
//! build`, run against a renamed `cat` opening a missing file. The check of
//! a bad `--decode` needs no root; the run does.

mod common;

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{bee, bee_build, bee_in, failed_with, fixture, require_root, tempdir, TestResult};

#[test]
fn a_decoder_that_does_not_fit_is_refused() -> TestResult {
    let tmp = tempdir()?;
    let obj = bee_build(&fixture("decoders.bpf.c"), tmp.path(), "decoders.bpf")?;
    let o = obj.display().to_string();
    for (decode, want) in [
        ("print_opens,comm,errno", "print_opens.fields.comm: decoder `errno` needs an integer field"),
        ("print_opens,pid,ksym", "print_opens.fields.pid: decoder `ksym` needs an 8-byte integer or pointer field"),
        ("print_opens,nosuch,hex", "map `print_opens` has no field `nosuch`"),
        ("nosuch,ret,errno", "the probe has no watched map `nosuch`"),
        ("print_opens,ret,static_map", "`static_map` takes parameters"),
        ("print_opens,ret", "expected MAP,FIELD,DECODER"),
    ] {
        let ran = bee_in(tmp.path(), &["run", "--no-tty", "--decode", decode, &o])?;
        failed_with(&ran, &["--decode", want], true)?;
    }
    Ok(())
}

fn now_ns() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128)
}

/// Nanoseconds since the epoch of an RFC 3339 time, as date(1) reads it.
fn parse_time(t: &str) -> Result<i128, String> {
    let out = Command::new("date").args(["-u", "-d", t, "+%s%N"]).output().map_err(|e| e.to_string())?;
    String::from_utf8_lossy(&out.stdout).trim().parse().map_err(|_| format!("date cannot parse {t:?}"))
}

#[test]
fn json_lines_carry_time_and_decoded_fields() -> TestResult {
    require_root()?;
    let tmp = tempdir()?;
    let obj = bee_build(&fixture("decoders.bpf.c"), tmp.path(), "decoders.bpf")?;
    let out = tmp.path().join("out.jsonl");
    let err = tmp.path().join("err.txt");
    let mut child = Command::new(bee())
        .args(["run", "--no-tty", "--duration", "60s", "--decode", "print_opens,ret,errno"])
        .args(["--decode", "print_opens,func,ksym"])
        .arg(&obj)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out)?)
        .stderr(std::fs::File::create(&err)?)
        .spawn()?;
    let cat = tmp.path().join("beedecbee");
    std::fs::copy("/bin/cat", &cat)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut found = None;
    let mut before = now_ns();
    while found.is_none() && Instant::now() < deadline {
        if std::fs::read_to_string(&err).unwrap_or_default().contains("bee: running") {
            before = now_ns();
            Command::new(&cat).arg("/nonexistent/bee-decoders").stderr(Stdio::null()).status()?;
        }
        std::thread::sleep(Duration::from_millis(200));
        let mut text = String::new();
        std::fs::File::open(&out)?.read_to_string(&mut text)?;
        found = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["entry"]["comm"] == "beedecbee" && v["entry"]["ret"] == "ENOENT");
    }
    let after = now_ns();
    let _ = Command::new("kill").arg("-INT").arg(child.id().to_string()).status();
    let _ = child.wait();
    let ev = found.ok_or_else(|| format!("no ENOENT line:\n{}", std::fs::read_to_string(&err).unwrap_or_default()))?;
    let time = parse_time(ev["time"].as_str().ok_or("no time")?)?;
    assert!(
        time >= before - 1_000_000_000 && time <= after + 1_000_000_000,
        "time {} off the test's clock",
        ev["time"]
    );
    assert!(ev["entry"]["func"].is_string() && ev["entry"]["func"] != "0x0", "{ev}");
    assert!(ev["entry"]["ts"].as_str().is_some_and(|t| t.ends_with('Z')), "ktime converted: {ev}");
    Ok(())
}
