//! Daemon logs: tracing to journald when stderr is the journal, else to
//! stderr; libbpf's own messages routed through tracing, and captured while a
//! probe loads so a verifier rejection can be reported with its log.

use std::cell::RefCell;

use libbpf_rs::PrintLevel;
use tracing_subscriber::prelude::*;
use tracing_subscriber::EnvFilter;

/// Whether stderr is connected to journald (systemd sets `JOURNAL_STREAM`
/// to the device and inode of the stream it gave us).
pub fn stderr_is_journal() -> bool {
    let Ok(val) = std::env::var("JOURNAL_STREAM") else { return false };
    let Some((dev, ino)) = val.split_once(':') else { return false };
    let Ok(st) = nix::sys::stat::fstat(std::os::fd::AsRawFd::as_raw_fd(&std::io::stderr())) else { return false };
    dev.parse::<u64>().ok() == Some(st.st_dev) && ino.parse::<u64>().ok() == Some(st.st_ino)
}

/// Installs the global subscriber. `RUST_LOG`/`BEED_LOG` override the level
/// (default `info`).
pub fn init(verbose: bool) {
    let default = if verbose { "debug" } else { "info" };
    let filter = std::env::var("BEED_LOG")
        .ok()
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let journald = if stderr_is_journal() {
        tracing_journald::layer().ok().map(|l| l.with_syslog_identifier("beed".into()))
    } else {
        None
    };
    let fmt = journald.is_none().then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
    });
    let _ = tracing_subscriber::registry().with(filter).with(journald).with(fmt).try_init();
    libbpf_rs::set_print(Some((PrintLevel::Debug, libbpf_print)));
}

thread_local! {
    static CAPTURE: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f` while capturing libbpf's messages on this thread; returns the
/// result and what libbpf printed.
pub fn capture_libbpf<T>(f: impl FnOnce() -> T) -> (T, String) {
    CAPTURE.with(|c| *c.borrow_mut() = Some(String::new()));
    let r = f();
    let log = CAPTURE.with(|c| c.borrow_mut().take()).unwrap_or_default();
    (r, log)
}

fn libbpf_print(level: PrintLevel, msg: String) {
    let msg = msg.trim_end();
    let captured = CAPTURE.with(|c| {
        if let Some(buf) = c.borrow_mut().as_mut() {
            buf.push_str(msg);
            buf.push('\n');
            true
        } else {
            false
        }
    });
    // libbpf retries a RINGBUF whose value type we had to drop without BTF;
    // that is expected for every bee ringbuf and not worth a warning.
    let benign = msg.contains("Retrying without BTF") || msg.contains("Error in bpf_create_map_xattr");
    match level {
        PrintLevel::Warn if !benign && !captured => tracing::warn!(target: "libbpf", "{msg}"),
        PrintLevel::Warn | PrintLevel::Info => tracing::debug!(target: "libbpf", "{msg}"),
        PrintLevel::Debug => tracing::trace!(target: "libbpf", "{msg}"),
    }
}
