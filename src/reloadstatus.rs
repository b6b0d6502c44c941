//! The outcome of the last configuration (re)load, kept in
//! `RUNTIME_DIR/reload` so that `beed --reload PID` (the unit's
//! `ExecReload=`) can signal the daemon, wait for the reload to finish and
//! exit with its outcome: `systemctl reload beed` then fails when a probe's
//! new version did not load, with the reason in its output.
//!
//! The file holds `PID GENERATION ok|failed` on its first line and the
//! message after it; it is replaced atomically (written aside, then renamed).
//! The PID tells a status of the running beed from one a previous beed left
//! (the directory is kept across restarts).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const FILE: &str = "reload";
/// Largest status file read (a message is a few lines per failed probe).
const MAX_BYTES: u64 = 1 << 20;

/// The last outcome: generation, success, message.
#[derive(Debug, Clone, PartialEq)]
pub struct Status {
    /// The beed that wrote it.
    pub pid: u32,
    /// Counts the (re)loads of that beed, from 1 at start.
    pub generation: u64,
    pub ok: bool,
    pub message: String,
}

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Reads the status in `dir`, if there is one.
pub fn read(dir: &Path) -> Option<Status> {
    // written by beed, but whatever is there must not block or fill memory
    let text = bee_runtime::fsread::read_regular_string(&path(dir), MAX_BYTES).ok()?;
    let (first, message) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    let mut words = first.split(' ');
    let (pid, generation, outcome) = (words.next()?, words.next()?, words.next()?);
    Some(Status {
        pid: pid.parse().ok()?,
        generation: generation.parse().ok()?,
        ok: outcome == "ok",
        message: message.trim_end().to_string(),
    })
}

/// Writes a status into `dir` (created if missing).
pub fn write(dir: &Path, st: &Status) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{FILE}.tmp"));
    let body = format!("{} {} {}\n{}\n", st.pid, st.generation, if st.ok { "ok" } else { "failed" }, st.message);
    bee_runtime::fsread::replace(&path(dir), &tmp, body.as_bytes(), 0o644, false)
}

/// Sends SIGHUP to `pid` and waits up to `timeout` for the reload it
/// starts to be recorded in `dir`; returns its outcome.
pub fn request(pid: i32, dir: &Path, timeout: Duration) -> Result<Status, String> {
    if pid <= 0 {
        return Err(format!("--reload {pid}: not a process id"));
    }
    // SIGHUP ends most processes: signal only a beed (same command name as
    // this one), not whatever a mistyped PID happens to be
    if let (Ok(theirs), Ok(ours)) =
        (std::fs::read_to_string(format!("/proc/{pid}/comm")), std::fs::read_to_string("/proc/self/comm"))
    {
        if theirs != ours {
            return Err(format!(
                "--reload {pid}: process {pid} is `{}`, not beed; nothing was signalled",
                theirs.trim()
            ));
        }
    }
    let target = Pid::from_raw(pid);
    let wanted = pid.unsigned_abs();
    // what the beed at PID reported last (a status of another beed is stale)
    let before = read(dir).filter(|s| s.pid == wanted).map_or(0, |s| s.generation);
    kill(target, Signal::SIGHUP).map_err(|e| format!("sending SIGHUP to beed (PID {pid}): {e}"))?;
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(st) = read(dir).filter(|s| s.pid == wanted && s.generation > before) {
            return Ok(st);
        }
        if kill(target, None).is_err() {
            return Err(format!("beed (PID {pid}) exited during the reload"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "beed (PID {pid}) did not report the reload within {}s (no new status in {})",
        timeout.as_secs(),
        path(dir).display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        assert_eq!(read(dir.path()), None);
        let st = Status { pid: 42, generation: 3, ok: false, message: "probe x: bad\nsecond line".into() };
        write(dir.path(), &st)?;
        assert_eq!(read(dir.path()), Some(st));
        Ok(())
    }
}
