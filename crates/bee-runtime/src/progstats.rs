//! What each program of a probe costs the kernel: its run count and run
//! time, from the kernel's BPF statistics (`bpf_prog_info.run_cnt` and
//! `run_time_ns`, counted only while statistics are enabled: by the
//! `kernel.bpf_stats_enabled` sysctl or while someone holds the descriptor
//! that `BPF_ENABLE_STATS` returns, see [`enable`]). Like bpftop. And the
//! runs the kernel skipped (`recursion_misses`, always counted).

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

/// One program's statistics source: its name and a descriptor of its own
/// (a duplicate, so reading from another thread never races with the
/// probe's unload; the program lives until the last reader lets go).
#[derive(Debug, Clone)]
pub struct ProgramStats {
    pub program: String,
    fd: Arc<OwnedFd>,
}

/// Run count and total run time of a program, and its missed runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Runs {
    pub count: u64,
    pub nanos: u64,
    /// Runs the kernel skipped because the program would have run inside
    /// itself on that CPU (raw tracepoints, fentry/fexit), or, for a kprobe,
    /// inside any BPF program (`recursion_misses`, Linux 6.7+). Counted
    /// whether statistics are on or not: whatever such a run would have
    /// recorded is lost.
    pub missed: u64,
}

impl ProgramStats {
    /// Reads the program's counters (`None`: the kernel refused the query).
    pub fn read(&self) -> Option<Runs> {
        let mut info = libbpf_sys::bpf_prog_info::default();
        let mut len = std::mem::size_of::<libbpf_sys::bpf_prog_info>() as u32;
        // SAFETY: `info` and `len` are valid for writes and `len` is the
        // size of `info`; the descriptor is open for the call's duration.
        let rc = unsafe { libbpf_sys::bpf_prog_get_info_by_fd(self.fd.as_raw_fd(), &mut info, &mut len) };
        (rc == 0).then_some(Runs { count: info.run_cnt, nanos: info.run_time_ns, missed: info.recursion_misses })
    }
}

/// The statistics sources of every program of `object`, skipping a
/// program whose descriptor cannot be duplicated (out of descriptors).
pub fn of(object: &libbpf_rs::Object) -> Vec<ProgramStats> {
    object
        .progs()
        .filter_map(|p| {
            let fd = p.as_fd().try_clone_to_owned().ok()?;
            Some(ProgramStats { program: p.name().to_string_lossy().into_owned(), fd: Arc::new(fd) })
        })
        .collect()
}

/// Keeps the kernel's run-time statistics on while held (`BPF_ENABLE_STATS`,
/// Linux 5.8+; needs CAP_SYS_ADMIN). Every BPF program then pays for two
/// clock reads per run.
#[derive(Debug)]
pub struct StatsEnabled(#[allow(dead_code)] OwnedFd);

/// Turns the statistics on until the returned guard is dropped.
pub fn enable() -> io::Result<StatsEnabled> {
    // SAFETY: plain syscall wrapper; it returns a new descriptor or -errno.
    let fd = unsafe { libbpf_sys::bpf_enable_stats(libbpf_sys::BPF_STATS_RUN_TIME) };
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(-fd));
    }
    // SAFETY: `fd` was just returned to us and is owned by nobody else.
    Ok(StatsEnabled(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Whether the `kernel.bpf_stats_enabled` sysctl turns statistics on for
/// everyone.
pub fn sysctl_enabled() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled").is_ok_and(|s| s.trim() == "1")
}
