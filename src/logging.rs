//! Daemon logs: tracing to journald when stderr is the journal, else to
//! stderr, with libbpf's messages routed through tracing (see
//! `bee_runtime::libbpf_log`).
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
    bee_runtime::libbpf_log::install();
}
