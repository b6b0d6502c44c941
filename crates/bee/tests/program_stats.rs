//! ROOT ONLY: `bee run --program-stats --no-tty` reports what the probe's
//! program costs the kernel: a `programStats` JSON line whose run count
//! covers real getppid() calls made while it runs. Needs clang and root.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use common::{bee, bee_build, fixture, require_root, tempdir, TestResult};

#[test]
fn no_tty_reports_program_runs() -> TestResult {
    require_root()?;
    let tmp = tempdir()?;
    let obj = bee_build(&fixture("user_probe.bpf.c"), tmp.path(), "user_probe.bpf")?;
    let getppid = bee_testutil::build_tool(tmp.path(), "getppid")?;
    let mut child = Command::new(bee())
        .args(["run", "--no-tty", "--program-stats", "--duration", "3s"])
        .arg(&obj)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // the probe is attached once bee says it runs (its 3 s count from then)
    let mut stderr = BufReader::new(child.stderr.take().ok_or("no stderr")?);
    let mut seen = String::new();
    while !seen.contains("bee: running") {
        if stderr.read_line(&mut seen)? == 0 {
            return Err(format!("bee ended before running:\n{seen}").into());
        }
    }
    assert!(Command::new(&getppid).args(["beecosts", "2000"]).status()?.success());
    let mut stdout = String::new();
    child.stdout.take().ok_or("no stdout")?.read_to_string(&mut stdout)?;
    stderr.read_to_string(&mut seen)?;
    let status = child.wait()?;
    let stderr = seen;
    assert!(status.success(), "{stderr}");
    // the last line is written at exit, after the calls
    let last = stdout
        .lines()
        .rfind(|l| l.contains("\"programStats\""))
        .ok_or_else(|| format!("no programStats line:\n{stdout}\n{stderr}"))?;
    let v: serde_json::Value = serde_json::from_str(last)?;
    assert!(v["probe"].is_string(), "{last}");
    let p = &v["programStats"][0];
    assert_eq!(p["program"], "on_getppid", "{last}");
    assert!(p["runs"].as_u64().is_some_and(|n| n >= 2000), "{last}");
    assert!(p["runNanos"].as_u64().is_some_and(|n| n > 0), "{last}");
    Ok(())
}
