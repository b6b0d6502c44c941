//! Attaching a probe's programs. Most program types attach from their
//! section name alone (kprobe/…, tracepoint/…, fentry/…, lsm/…, iter/…);
//! uprobes, USDT, perf_event sampling, XDP and TC need a target from
//! `[probes.NAME.attach.PROGRAM]`. Every failure names the program, its
//! attach point and the likely cause.

use std::os::fd::{AsFd, FromRawFd, OwnedFd};

use libbpf_rs::{Link, ProgramMut};

use crate::error::{Error, Result};
use crate::libbpf_log::capture_libbpf;
use crate::spec::AttachTarget as AttachConfig;
use crate::tc::{Direction, TcAttachment};

/// Something attached; detaches when dropped.
#[derive(Debug)]
pub enum Attachment {
    Link(Link),
    /// A TCX link or a tc filter (see `tc`).
    Tc(TcAttachment),
}

/// The kind of attach point a section name asks for.
pub use bee_object::validate::section_kind;

/// Capability numbers (linux/capability.h).
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Whether this process has capability `cap` in its effective set.
fn has_cap(cap: u32) -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else { return true };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        .is_none_or(|mask| mask >> cap & 1 == 1)
}

/// Why an attach (or load) may have failed. `target` names the attach
/// point when the section does not (uprobes from config).
pub fn hint(section: &str, err: &libbpf_rs::Error, target: Option<&str>) -> String {
    let kind = section_kind(section);
    let sec_target = section.split_once('/').map(|(_, t)| t).unwrap_or("");
    let target = target.unwrap_or(sec_target);
    let func = target.split('+').next().unwrap_or("");
    let denied = matches!(err.kind(), libbpf_rs::ErrorKind::PermissionDenied);
    match kind {
        "kprobe" | "kretprobe" | "ksyscall" | "kretsyscall" => {
            if !std::path::Path::new("/sys/kernel/tracing/kprobe_events").exists()
                && !std::path::Path::new("/sys/kernel/debug/tracing/kprobe_events").exists()
                && !std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists()
            {
                " (kprobes are not enabled in this kernel (CONFIG_KPROBES); prefer a tracepoint)".into()
            } else if !func.is_empty() && kind.starts_with('k') && !kind.contains("syscall") && !kallsyms_has(func) {
                format!(" (function {func} not found in /proc/kallsyms)")
            } else {
                String::new()
            }
        }
        "fentry" | "fexit" | "fmod_ret" | "lsm" | "tp_btf" | "iter" if denied => {
            " (this kernel refuses BPF trampoline programs (fentry/fexit/LSM); LSM also needs `bpf` in the lsm= boot parameter)".into()
        }
        "lsm" => " (is `bpf` in the kernel's lsm= list? see /sys/kernel/security/lsm)".into(),
        "tracepoint" | "tp" if err.kind() == libbpf_rs::ErrorKind::TooBig => format!(
            " (the kernel allows at most 64 BPF programs on one tracepoint (BPF_TRACE_MAX_PROGS) and {target} has them all: \
             remove a probe that uses it)"
        ),
        "tracepoint" | "tp" if err.kind() == libbpf_rs::ErrorKind::NotFound => {
            format!(" (no tracepoint {target} in this kernel, or tracefs is not mounted)")
        }
        "uprobe" | "uretprobe" | "usdt" if denied && !has_cap(CAP_SYS_ADMIN) => {
            " (uprobes need CAP_SYS_ADMIN: under systemd add it with a drop-in, see beed(8))".into()
        }
        "uprobe" | "uretprobe" | "usdt" => format!(" (check the binary and function: {target})"),
        "xdp" | "tc" | "classifier" | "tcx" if denied && !has_cap(CAP_NET_ADMIN) => {
            " (XDP and TC programs need CAP_NET_ADMIN: under systemd add it with a drop-in, see beed(8))".into()
        }
        _ if denied && !(has_cap(CAP_BPF) && has_cap(CAP_PERFMON)) && !has_cap(CAP_SYS_ADMIN) => {
            " (beed needs CAP_BPF and CAP_PERFMON, or root)".into()
        }
        _ => String::new(),
    }
}

fn kallsyms_has(func: &str) -> bool {
    match std::fs::read_to_string("/proc/kallsyms") {
        Ok(s) => s.lines().any(|l| l.split_whitespace().nth(2) == Some(func)),
        Err(_) => true, // cannot tell
    }
}

/// Attaches `prog` (from section `section`), using `cfg` when given.
pub fn attach(prog: &ProgramMut<'_>, section: &str, cfg: Option<&AttachConfig>) -> Result<Vec<Attachment>> {
    let name = prog.name().to_string_lossy().into_owned();
    let (res, log) = capture_libbpf(|| attach_inner(prog, section, cfg, &name));
    res.map_err(|e| match e {
        Failure::Libbpf(what, err) => {
            let detail: Vec<&str> = log.lines().map(|l| l.trim_start_matches("libbpf: ")).collect();
            let detail = if detail.is_empty() { String::new() } else { format!(" [libbpf: {}]", detail.join("; ")) };
            let target = cfg.and_then(|c| {
                let bin = c.binary.as_ref()?.display().to_string();
                Some(format!("{bin}:{}", c.func.as_deref().or(c.name.as_deref()).unwrap_or("")))
            });
            let h = hint(section, &err, target.as_deref());
            Error::libbpf(format!("program {name} (SEC(\"{section}\")): {what} failed{h}{detail}"), err)
        }
        Failure::Config(reason) => Error::Setting { what: format!("program {name} (SEC(\"{section}\"))"), reason },
    })
}

enum Failure {
    Libbpf(String, libbpf_rs::Error),
    Config(String),
}

fn lb(what: impl Into<String>) -> impl FnOnce(libbpf_rs::Error) -> Failure {
    let what = what.into();
    move |e| Failure::Libbpf(what, e)
}

fn attach_inner(
    prog: &ProgramMut<'_>,
    section: &str,
    cfg: Option<&AttachConfig>,
    name: &str,
) -> Result<Vec<Attachment>, Failure> {
    let kind = section_kind(section);
    let need = |what: &str| {
        Failure::Config(format!(
            "needs `{what}` in [probes.NAME.attach.{name}] (the section name does not give a target)"
        ))
    };
    let Some(cfg) = cfg else {
        return match kind {
            "perf_event" => perf_event(prog, &AttachConfig::default()),
            "xdp" | "tc" | "classifier" | "tcx" => Err(need("interface")),
            _ => prog.attach().map(|l| vec![Attachment::Link(l)]).map_err(lb("attach")),
        };
    };
    match kind {
        "uprobe" | "uretprobe" => {
            let binary = cfg.binary.as_ref().ok_or_else(|| need("binary"))?;
            let retprobe = kind == "uretprobe";
            let opts = libbpf_rs::UprobeOpts { retprobe, func_name: cfg.func.clone(), ..Default::default() };
            let off = usize::try_from(cfg.offset.unwrap_or(0)).map_err(|_| need("offset"))?;
            let what = format!("attach to {}:{}", binary.display(), cfg.func.as_deref().unwrap_or("?"));
            prog.attach_uprobe_with_opts(cfg.pid.unwrap_or(-1), binary, off, opts)
                .map(|l| vec![Attachment::Link(l)])
                .map_err(lb(what))
        }
        "usdt" => {
            let binary = cfg.binary.as_ref().ok_or_else(|| need("binary"))?;
            let provider = cfg.provider.as_ref().ok_or_else(|| need("provider"))?;
            let probe = cfg.name.as_ref().ok_or_else(|| need("name"))?;
            let what = format!("attach to USDT {provider}:{probe} in {}", binary.display());
            prog.attach_usdt(cfg.pid.unwrap_or(-1), binary, provider, probe)
                .map(|l| vec![Attachment::Link(l)])
                .map_err(lb(what))
        }
        "perf_event" => perf_event(prog, cfg),
        "xdp" => {
            let ifname = cfg.interface.as_ref().ok_or_else(|| need("interface"))?;
            let idx = ifindex(ifname)?;
            prog.attach_xdp(idx).map(|l| vec![Attachment::Link(l)]).map_err(lb(format!("attach XDP to {ifname}")))
        }
        "tc" | "classifier" | "tcx" => {
            let ifname = cfg.interface.as_ref().ok_or_else(|| need("interface"))?;
            let idx = ifindex(ifname)?;
            let dir = tc_direction(section, cfg.direction.as_deref())?;
            crate::tc::attach(prog.as_fd(), name, ifname, idx, dir)
                .map(|a| vec![Attachment::Tc(a)])
                .map_err(|e| Failure::Libbpf(e.what, libbpf_rs::Error::from(e.source)))
        }
        _ => prog.attach().map(|l| vec![Attachment::Link(l)]).map_err(lb("attach")),
    }
}

/// The direction a TC program attaches in: from its section (`tc/ingress`,
/// `tcx/egress`, ...) or `direction` (default ingress); both must agree.
fn tc_direction(section: &str, configured: Option<&str>) -> Result<Direction, Failure> {
    let configured = match configured {
        None => None,
        Some(d) => Some(
            Direction::parse(d)
                .ok_or_else(|| Failure::Config(format!("direction = \"{d}\": must be \"ingress\" or \"egress\"")))?,
        ),
    };
    let from_section = section.split_once('/').and_then(|(_, d)| Direction::parse(d));
    match (from_section, configured) {
        (Some(s), Some(c)) if s != c => {
            Err(Failure::Config(format!("direction = \"{c}\" contradicts the section name, which attaches on {s}")))
        }
        (Some(d), _) | (None, Some(d)) => Ok(d),
        (None, None) => Ok(Direction::Ingress),
    }
}

fn ifindex(name: &str) -> Result<i32, Failure> {
    let c = std::ffi::CString::new(name).map_err(|_| Failure::Config(format!("bad interface name `{name}`")))?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(Failure::Config(format!("no network interface `{name}`")));
    }
    i32::try_from(idx).map_err(|_| Failure::Config(format!("interface index of `{name}` out of range")))
}

/// The first 64 bytes of `struct perf_event_attr` (PERF_ATTR_SIZE_VER0).
#[repr(C)]
#[derive(Default)]
struct PerfEventAttr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period_or_freq: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}

const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_COUNT_SW_CPU_CLOCK: u64 = 0;
const FLAG_FREQ: u64 = 1 << 10;
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 1 << 3;

fn online_cpus() -> Vec<i32> {
    let s = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_else(|_| "0".into());
    let mut out = Vec::new();
    for part in s.trim().split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<i32>(), b.parse::<i32>()) {
            out.extend(a..=b);
        }
    }
    out
}

/// Samples on the CPU clock of every online CPU.
fn perf_event(prog: &ProgramMut<'_>, cfg: &AttachConfig) -> Result<Vec<Attachment>, Failure> {
    let mut attr = PerfEventAttr {
        kind: PERF_TYPE_SOFTWARE,
        size: std::mem::size_of::<PerfEventAttr>() as u32,
        config: PERF_COUNT_SW_CPU_CLOCK,
        ..Default::default()
    };
    match cfg.period {
        Some(p) => attr.sample_period_or_freq = p,
        None => {
            attr.sample_period_or_freq = cfg.frequency.unwrap_or(49);
            attr.flags |= FLAG_FREQ;
        }
    }
    let mut out = Vec::new();
    for cpu in online_cpus() {
        // SAFETY: attr is a valid perf_event_attr of `size` bytes; pid -1 with
        // a cpu means "every task on that CPU"; the returned fd is owned below.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                &attr as *const PerfEventAttr,
                -1i32,
                cpu,
                -1i32,
                PERF_FLAG_FD_CLOEXEC,
            )
        };
        if fd < 0 {
            let e = std::io::Error::last_os_error();
            return Err(Failure::Config(format!("perf_event_open on CPU {cpu}: {e}")));
        }
        // SAFETY: fd is a fresh descriptor we own.
        let owned = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let link = prog
            .attach_perf_event(std::os::fd::AsRawFd::as_raw_fd(&owned))
            .map_err(lb(format!("attach to the CPU clock of CPU {cpu}")))?;
        // the link now owns the perf event fd and closes it on detach
        std::mem::forget(owned);
        out.push(Attachment::Link(link));
    }
    Ok(out)
}
