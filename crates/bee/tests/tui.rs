//! ROOT ONLY: `bee run`'s terminal UI as a person sees it. The real `bee`
//! runs the repo fixture `tests/fixtures/user_probe.bpf.c` (a print_calls
//! ring buffer, counter_getppid and gauge_last_pid hash maps, all fed by
//! getppid()) inside a detached tmux session of a fixed size, on a private
//! tmux socket; the test drives real getppid() calls under its own comm,
//! types keys with `tmux send-keys` and reads the screen with
//! `tmux capture-pane`. Needs root, clang, cc and tmux.
//!
//! Nothing is timed: every wait polls the screen until what is expected
//! shows, with a generous deadline.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{bee, bee_build, build_tool, fail, fixture, require_root, tempdir, Error, TestResult};

/// How long the screen may take to show something.
const DEADLINE: Duration = Duration::from_secs(30);

/// A tmux server of its own (`-S`, a socket in a temporary directory),
/// killed on drop, pass or fail; the directory goes after it.
struct Tmux {
    socket: PathBuf,
    session: String,
    _dir: tempfile::TempDir,
}

impl Tmux {
    /// Starts `command` (run by `sh -c`) in a detached WIDTHxHEIGHT session.
    fn start(width: u16, height: u16, command: &str) -> Result<Self, Error> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = tempfile::Builder::new().prefix("bee-tmux-").tempdir()?;
        let t = Tmux { socket: dir.path().join("socket"), session: format!("bee{n}"), _dir: dir };
        let (w, h) = (width.to_string(), height.to_string());
        t.tmux(&["new-session", "-d", "-s", &t.session, "-x", &w, "-y", &h, "sh", "-c", command])?;
        Ok(t)
    }

    fn tmux(&self, args: &[&str]) -> Result<String, Error> {
        let out = Command::new("tmux")
            .args(["-f", "/dev/null", "-S"])
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running tmux: {e}"))?;
        if !out.status.success() {
            return Err(format!("tmux {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr)).into());
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The screen, wrapped lines joined.
    fn screen(&self) -> Result<String, Error> {
        self.tmux(&["capture-pane", "-p", "-J", "-t", &self.session])
    }

    /// Presses keys (tmux key names: `Tab`, `Enter`, `p`).
    fn keys(&self, keys: &[&str]) -> Result<(), Error> {
        let mut args = vec!["send-keys", "-t", &self.session];
        args.extend_from_slice(keys);
        self.tmux(&args).map(drop)
    }

    /// Types `text` as it is.
    fn type_text(&self, text: &str) -> Result<(), Error> {
        self.tmux(&["send-keys", "-t", &self.session, "-l", "--", text]).map(drop)
    }

    fn resize(&self, width: u16, height: u16) -> Result<(), Error> {
        let (w, h) = (width.to_string(), height.to_string());
        self.tmux(&["resize-window", "-t", &self.session, "-x", &w, "-y", &h]).map(drop)
    }

    /// Polls the screen until `ok` holds, calling `between` before each
    /// look; fails after the deadline, showing the last screen.
    fn wait(
        &self,
        what: &str,
        ok: impl Fn(&str) -> bool,
        mut between: impl FnMut() -> TestResult,
    ) -> Result<String, Error> {
        let end = Instant::now() + DEADLINE;
        loop {
            between()?;
            let s = self.screen()?;
            if ok(&s) {
                return Ok(s);
            }
            if Instant::now() > end {
                return Err(fail(format!("the screen never showed {what}; it shows:\n{s}")));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> Result<String, Error> {
        self.wait(what, ok, || Ok(()))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

/// The probe, the getppid helper, and the shell command that runs bee
/// then leaves its exit code on the screen.
struct Setup {
    _dir: tempfile::TempDir,
    obj: PathBuf,
    getppid: PathBuf,
}

impl Setup {
    fn new() -> Result<Self, Error> {
        require_root()?;
        if let Err(e) = bee_runtime::tracefs::ensure_mounted() {
            eprintln!("tracefs: {e}");
        }
        let dir = tempdir()?;
        let obj = bee_build(&fixture("user_probe.bpf.c"), dir.path(), "user_probe.bpf")?;
        let getppid = build_tool(dir.path(), "getppid")?;
        Ok(Setup { _dir: dir, obj, getppid })
    }

    fn command(&self) -> String {
        format!("'{}' run '{}'; echo EXIT=$?; sleep 120", bee().display(), self.obj.display())
    }

    /// Calls getppid() `n` times under `comm`; returns the caller's pid.
    fn getppid(&self, comm: &str, n: u32) -> Result<u32, Error> {
        let mut child = Command::new(&self.getppid).arg(comm).arg(n.to_string()).spawn()?;
        let pid = child.id();
        if !child.wait()?.success() {
            return Err(format!("{} failed", self.getppid.display()).into());
        }
        Ok(pid)
    }
}

/// A comm of this test run: starts with `0` to sort before other
/// processes' comms in the hash map panes (sorted by key).
fn unique_comm(tag: &str) -> String {
    format!("0{tag}{}", std::process::id() % 100_000)
}

/// The cells of the table rows (lines between `│` borders) that hold `needle`.
fn rows_with(screen: &str, needle: &str) -> Vec<Vec<String>> {
    table_rows(screen).into_iter().filter(|r| r.iter().any(|c| c == needle)).collect()
}

/// Every non-empty table row, as cells.
fn table_rows(screen: &str) -> Vec<Vec<String>> {
    screen
        .lines()
        .filter_map(|l| l.trim().strip_prefix('│')?.strip_suffix('│'))
        .map(|inner| inner.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .filter(|cells| !cells.is_empty())
        .collect()
}

fn header_line(screen: &str) -> &str {
    screen.lines().next().unwrap_or("")
}

fn bee_exited(screen: &str, code: &str) -> bool {
    screen.lines().any(|l| l.trim() == format!("EXIT={code}"))
}

/// The whole session: events, tabs, counter, gauge, pause, filter, quit.
#[test]
fn panes_keys_and_quit() -> TestResult {
    let setup = Setup::new()?;
    let comm = unique_comm("tui");
    let tmux = Tmux::start(120, 35, &setup.command())?;
    let s = tmux.wait_for("the probe running", |s| header_line(s).contains("probe user_probe  [running]"))?;
    assert!(s.contains("programs on_getppid (tracepoint/syscalls/sys_enter_getppid)"), "{s}");
    assert!(s.contains("1 print_calls") && s.contains("2 counter_getppid") && s.contains("3 gauge_last_pid"), "{s}");

    // pane 1: print_calls events, the newest at the bottom
    let s = tmux.wait(
        "a print_calls row of our comm",
        |s| !rows_with(s, &comm).is_empty(),
        || setup.getppid(&comm, 3).map(drop),
    )?;
    assert!(s.contains("print_calls · events"), "{s}");
    let headers = ["pid", "minus_pid", "comm", "since_boot"];
    assert!(table_rows(&s).iter().any(|r| r == &headers), "no print_calls headers {headers:?}:\n{s}");
    for row in rows_with(&s, &comm) {
        let [pid, minus, c, since] = row.as_slice() else { return Err(format!("a row of 4 cells: {row:?}").into()) };
        assert_eq!(c, &comm, "{s}");
        assert!(pid.parse::<u32>().is_ok(), "pid {pid}:\n{s}");
        assert_eq!(minus, &format!("-{pid}"), "minus_pid of {pid}:\n{s}");
        assert!(since.ends_with('s') && since.chars().next().is_some_and(|c| c.is_ascii_digit()), "duration {since}");
    }

    // pane 2 by Tab: the counter, one row per comm with its count
    tmux.keys(&["Tab"])?;
    let s = tmux.wait_for("counter_getppid with our comm", |s| {
        s.contains("counter_getppid · counter") && !rows_with(s, &comm).is_empty()
    })?;
    assert!(table_rows(&s).iter().any(|r| r == &["comm", "value", "rate/s"]), "counter headers:\n{s}");
    let row = rows_with(&s, &comm).into_iter().next().ok_or("no row")?;
    let count: u64 = row.get(1).ok_or("no count")?.parse()?;
    assert!(count >= 3, "count {count} of {comm}:\n{s}");

    // pane 3 by its number: the gauge holds the last caller's pid
    tmux.keys(&["3"])?;
    let pid = setup.getppid(&comm, 1)?.to_string();
    tmux.wait_for("gauge_last_pid with our last pid", |s| {
        s.contains("gauge_last_pid · gauge") && rows_with(s, &comm).iter().any(|r| r.get(1) == Some(&pid))
    })?;

    // pause and resume
    tmux.keys(&["p"])?;
    tmux.wait_for("paused", |s| header_line(s).contains("[running, paused]"))?;
    tmux.keys(&["p"])?;
    tmux.wait_for("running again", |s| header_line(s).contains("[running]"))?;

    // a bad regex: one line in the footer, the UI goes on
    tmux.keys(&["1", "/"])?;
    tmux.wait_for("the filter prompt", |s| s.contains("filter (regex, Enter to apply, empty to clear):"))?;
    tmux.type_text("(oops")?;
    tmux.keys(&["Enter"])?;
    tmux.wait_for("the invalid filter message", |s| {
        s.lines().any(|l| l.starts_with("invalid filter: `(oops` is not a valid regular expression"))
    })?;

    // a filter: only rows matching it, in every pane
    let re = format!("^{comm}$");
    tmux.keys(&["/"])?;
    tmux.type_text(&re)?;
    tmux.keys(&["Enter"])?;
    let s = tmux.wait(
        "only rows of our comm",
        |s| {
            let rows: Vec<Vec<String>> = table_rows(s).into_iter().filter(|r| r.as_slice() != headers).collect();
            s.contains(&format!("filter: /{re}/")) && !rows.is_empty() && rows.iter().all(|r| r.contains(&comm))
        },
        || setup.getppid(&comm, 1).map(drop),
    )?;
    assert!(s.contains("print_calls · events"), "{s}");
    tmux.keys(&["Tab"])?;
    tmux.wait_for("the counter filtered", |s| {
        let rows: Vec<Vec<String>> = table_rows(s).into_iter().skip(1).collect();
        s.contains("counter_getppid · counter") && rows.len() == 1 && rows_with(s, &comm).len() == 1
    })?;

    tmux.keys(&["q"])?;
    tmux.wait_for("bee exiting with 0", |s| bee_exited(s, "0"))?;
    Ok(())
}

/// Too small a terminal: one line saying what size is needed, exit ≠ 0.
#[test]
fn terminal_too_small() -> TestResult {
    let setup = Setup::new()?;
    let tmux = Tmux::start(30, 8, &setup.command())?;
    let s = tmux.wait_for("bee exiting", |s| s.contains("EXIT="))?;
    assert!(bee_exited(&s, "1"), "{s}");
    let errors: Vec<&str> = s.lines().filter(|l| l.starts_with("bee: error:")).collect();
    assert_eq!(errors.len(), 1, "{s}");
    let line = errors.first().copied().unwrap_or("");
    assert!(
        line.contains("the terminal is 30x8") && line.contains("at least 50x12") && line.contains("--no-tty"),
        "{s}"
    );
    assert!(!s.contains("panicked"), "{s}");
    Ok(())
}

/// Resizing redraws at the new size, below the minimum it says so, and
/// back above it the UI carries on.
#[test]
fn resize_keeps_drawing() -> TestResult {
    let setup = Setup::new()?;
    let tmux = Tmux::start(120, 35, &setup.command())?;
    tmux.wait_for("the probe running", |s| header_line(s).contains("[running]"))?;
    let fits = |s: &str, w: usize| s.lines().all(|l| l.chars().count() <= w);

    tmux.resize(70, 20)?;
    let s = tmux.wait_for("the UI at 70x20", |s| {
        let bottom = s.lines().find(|l| l.starts_with('└')).map_or(0, |l| l.chars().count());
        header_line(s).contains("[running]") && bottom == 70 && s.lines().count() <= 20
    })?;
    assert!(fits(&s, 70), "{s}");
    assert!(s.contains("print_calls ·"), "{s}");

    tmux.resize(40, 10)?;
    tmux.wait_for("the too-small notice", |s| s.contains("terminal too small: 40x10 (need 50x12)"))?;

    tmux.resize(100, 30)?;
    tmux.wait_for("the UI at 100x30", |s| {
        let bottom = s.lines().find(|l| l.starts_with('└')).map_or(0, |l| l.chars().count());
        header_line(s).contains("[running]") && bottom == 100
    })?;
    tmux.keys(&["q"])?;
    tmux.wait_for("bee exiting with 0", |s| bee_exited(s, "0"))?;
    Ok(())
}
