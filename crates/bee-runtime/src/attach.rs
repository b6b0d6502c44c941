//! Attaching a probe's programs. Most program types attach from their
//! section name alone (kprobe/…, tracepoint/…, fentry/…, lsm/…, iter/…);
//! uprobes, USDT, perf_event sampling, XDP and TC need a target from
//! `[probes.NAME.attach.PROGRAM]`. Every failure names the program, its
//! attach point and the likely cause.

use std::os::fd::{AsFd, FromRawFd, OwnedFd};

use libbpf_rs::{Link, ProgramMut};

use crate::cause::{self, Code, Facts};
use crate::error::{AttachError, Error, Result};
use crate::libbpf_log::capture_libbpf;
use crate::spec::AttachTarget as AttachConfig;
use crate::tc::{Direction, TcAttachment};

/// Something attached; detaches when dropped. Nothing reads the fields:
/// they are held for their `Drop`.
#[derive(Debug)]
#[allow(dead_code)]
pub enum Attachment {
    Link(Link),
    /// A TCX link or a tc filter (see `tc`).
    Tc(TcAttachment),
}

/// The kind of attach point a section name asks for.
pub use bee_object::validate::section_kind;

/// Attaches `prog` (from section `section`), using `cfg` when given.
pub fn attach(prog: &ProgramMut<'_>, section: &str, cfg: Option<&AttachConfig>) -> Result<Vec<Attachment>> {
    let name = prog.name().to_string_lossy().into_owned();
    let (res, log) = capture_libbpf(|| attach_inner(prog, section, cfg, &name));
    res.map_err(|e| match e {
        Failure::Libbpf(action, err) => {
            let target = cfg.and_then(|c| {
                let bin = c.binary.as_ref()?.display().to_string();
                Some(format!("{bin}:{}", c.func.as_deref().or(c.name.as_deref()).unwrap_or("")))
            });
            let kind = section_kind(section);
            let point = cause::attach_target(section, target.as_deref());
            let cause = cause::classify_attach(kind, point, Code::of(&err), &Facts::gather(kind, point));
            Error::Attach(Box::new(AttachError {
                program: name,
                section: section.to_string(),
                action,
                target,
                cause,
                detail: log.lines().map(|l| l.trim_start_matches("libbpf: ").to_string()).collect(),
                error: err,
            }))
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
    let mut attr = libbpf_sys::perf_event_attr {
        type_: libbpf_sys::PERF_TYPE_SOFTWARE,
        size: std::mem::size_of::<libbpf_sys::perf_event_attr>() as u32,
        config: u64::from(libbpf_sys::PERF_COUNT_SW_CPU_CLOCK),
        ..Default::default()
    };
    match cfg.period {
        Some(p) => attr.__bindgen_anon_1.sample_period = p,
        None => {
            attr.__bindgen_anon_1.sample_freq = cfg.frequency.unwrap_or(49);
            attr.set_freq(1);
        }
    }
    let mut out = Vec::new();
    for cpu in online_cpus() {
        // SAFETY: attr is a valid perf_event_attr of `size` bytes; pid -1 with
        // a cpu means "every task on that CPU"; the returned fd is owned below.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_perf_event_open,
                &attr as *const libbpf_sys::perf_event_attr,
                -1i32,
                cpu,
                -1i32,
                libc::c_ulong::from(libbpf_sys::PERF_FLAG_FD_CLOEXEC),
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
