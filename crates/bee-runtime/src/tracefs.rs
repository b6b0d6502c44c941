//! Tracepoint programs need tracefs; mount it when it is missing.

use std::path::Path;

/// Makes sure tracefs is mounted at /sys/kernel/tracing (or reachable through
/// debugfs). Returns a note on what was done, or an error message.
pub fn ensure_mounted() -> Result<Option<String>, String> {
    let tracing = Path::new("/sys/kernel/tracing");
    if tracing.join("events").is_dir() || Path::new("/sys/kernel/debug/tracing/events").is_dir() {
        return Ok(None);
    }
    if !tracing.is_dir() {
        return Err("/sys/kernel/tracing does not exist: is tracefs enabled in this kernel?".into());
    }
    nix::mount::mount(
        Some("tracefs"),
        tracing,
        Some("tracefs"),
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV | nix::mount::MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| format!("mounting tracefs at /sys/kernel/tracing: {e} (tracepoint probes will fail)"))?;
    Ok(Some("mounted tracefs at /sys/kernel/tracing".into()))
}
