//! Why a load or an attach failed: typed causes, classified from the error
//! code libbpf returned and a few facts about this system, by pure functions
//! (no root needed to test them).
//!
//! Codes come first. libbpf's log is read only for what no code carries:
//! which map could not be created, which program failed, whether the
//! verifier's log is there and whether kernel BTF was missing (as opposed to
//! a missing kernel function, both `ESRCH`). Each such place says so.

use std::fmt;

use libbpf_rs::ErrorKind;

/// What a libbpf error says about its cause, in codes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Code {
    /// The errno libbpf returned, when it can be recovered (see
    /// [`Code::of`]).
    pub errno: Option<i32>,
    /// libbpf-rs' classification of the errno.
    pub kind: ErrorKind,
}

impl Code {
    /// The code of a libbpf-rs error. libbpf-rs 0.27 classifies the errno
    /// ([`libbpf_rs::Error::kind`]) but keeps the `io::Error` holding it
    /// private; the errno itself is recovered from the `(os error N)` that
    /// `io::Error`'s `Display` ends with (std's wording, not libbpf's). It
    /// is needed where the kind merges codes that mean different things
    /// (`EPERM` and `EACCES` are both `PermissionDenied`; `ESRCH` is `Other`).
    pub fn of(e: &libbpf_rs::Error) -> Code {
        let text = format!("{e:#}");
        let errno = text
            .rsplit_once("(os error ")
            .and_then(|(_, n)| n.strip_suffix(')'))
            .and_then(|n| n.parse::<i32>().ok())
            .filter(|n| *n > 0);
        Code { errno, kind: e.kind() }
    }

    /// The code of errno `errno` (positive).
    pub fn from_errno(errno: i32) -> Code {
        Code { errno: Some(errno), kind: libbpf_rs::Error::from_raw_os_error(errno).kind() }
    }

    /// `EPERM` or `EACCES`.
    fn denied(self) -> bool {
        self.kind == ErrorKind::PermissionDenied
    }
}

/// A capability (linux/capability.h).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    NetAdmin,
    SysAdmin,
    Perfmon,
    Bpf,
}

impl Capability {
    /// Its number. Neither `libc` nor `libbpf-sys` defines the `CAP_*`
    /// constants, so they are copied from linux/capability.h.
    pub fn number(self) -> u32 {
        match self {
            Capability::NetAdmin => 12,
            Capability::SysAdmin => 21,
            Capability::Perfmon => 38,
            Capability::Bpf => 39,
        }
    }
}

/// The capabilities of this process, as far as the causes need them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caps {
    /// The effective set, bit `n` for capability `n`; `None` when it could
    /// not be read (then every capability counts as present: nothing is
    /// blamed on a missing one).
    pub effective: Option<u64>,
}

impl Caps {
    /// This process' effective capabilities (`CapEff` in /proc/self/status).
    pub fn current() -> Caps {
        let effective = std::fs::read_to_string("/proc/self/status").ok().and_then(|status| {
            status.lines().find_map(|l| l.strip_prefix("CapEff:")).and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        });
        Caps { effective }
    }

    /// Whether capability `cap` is effective (or cannot be known).
    pub fn has(self, cap: Capability) -> bool {
        self.effective.is_none_or(|mask| mask >> cap.number() & 1 == 1)
    }
}

/// What confines this process, as far as a refused `bpf()` needs it: its
/// capabilities and whether a seccomp filter applies to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Confinement {
    pub caps: Caps,
    /// A seccomp filter applies (`Seccomp: 2` in /proc/self/status); `None`
    /// when that could not be read.
    pub seccomp: Option<bool>,
}

impl Confinement {
    /// This process' capabilities and seccomp mode.
    pub fn current() -> Confinement {
        let seccomp = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| status.lines().find_map(|l| l.strip_prefix("Seccomp:")).map(|mode| mode.trim() == "2"));
        Confinement { caps: Caps::current(), seccomp }
    }
}

/// What was looked up on this system for classifying a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The kernel has kprobes (CONFIG_KPROBES: a kprobe PMU or
    /// kprobe_events in tracefs).
    pub kprobes: bool,
    /// Whether the kprobe's function is in /proc/kallsyms: `None` when it
    /// was not looked up (other kinds, no function) or could not be.
    pub kallsyms: Option<bool>,
    /// Whether `bpf` is in the kernel's active LSM list
    /// (/sys/kernel/security/lsm): `None` when it was not looked up (other
    /// kinds) or could not be (no securityfs).
    pub bpf_lsm: Option<bool>,
    pub caps: Caps,
}

impl Facts {
    /// Looks up what classifying a failure of a `kind` program on `target`
    /// needs: /proc/kallsyms is read only for a kprobe's function, the LSM
    /// list only for an LSM program.
    pub fn gather(kind: &str, target: &str) -> Facts {
        let kprobes = [
            "/sys/kernel/tracing/kprobe_events",
            "/sys/kernel/debug/tracing/kprobe_events",
            "/sys/bus/event_source/devices/kprobe",
        ]
        .iter()
        .any(|p| std::path::Path::new(p).exists());
        let func = kprobe_function(kind, target);
        let kallsyms = match func {
            Some(f) if kprobes => kallsyms_has(f),
            _ => None,
        };
        let bpf_lsm = (kind == "lsm").then(bpf_lsm_active).flatten();
        Facts { kprobes, kallsyms, bpf_lsm, caps: Caps::current() }
    }
}

/// Whether `bpf` is among the active LSMs (`None`: securityfs unreadable).
fn bpf_lsm_active() -> Option<bool> {
    let list = std::fs::read_to_string("/sys/kernel/security/lsm").ok()?;
    Some(list.trim().split(',').any(|l| l == "bpf"))
}

/// The kernel-internal `ENOTSUPP` (include/linux/errno.h, not a userspace
/// errno, so not in `libc`), which the kernel's BPF trampoline code returns
/// when it cannot attach to a kernel function.
const ENOTSUPP: i32 = 524;

/// The function a kprobe or kretprobe on `target` (`FUNC[+OFFSET]`) probes;
/// `None` for other kinds, syscalls (whose symbol is the architecture's
/// wrapper) and an empty target.
fn kprobe_function<'a>(kind: &str, target: &'a str) -> Option<&'a str> {
    let func = target.split('+').next().unwrap_or("");
    (matches!(kind, "kprobe" | "kretprobe") && !func.is_empty()).then_some(func)
}

/// Whether /proc/kallsyms lists `func` (`None`: unreadable).
fn kallsyms_has(func: &str) -> Option<bool> {
    let s = std::fs::read_to_string("/proc/kallsyms").ok()?;
    Some(s.lines().any(|l| l.split_whitespace().nth(2) == Some(func)))
}

/// The capabilities a refused program needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// uprobes and USDT: CAP_SYS_ADMIN.
    SysAdmin,
    /// XDP and TC: CAP_NET_ADMIN.
    NetAdmin,
    /// Everything else: CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN).
    BpfAndPerfmon,
}

/// Why attaching a program (or loading it, for the causes its section's
/// kind explains) failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttachCause {
    /// The kernel has no kprobes (CONFIG_KPROBES).
    NoKprobes,
    /// The kprobe's function is not in /proc/kallsyms.
    KernelFunction { name: String },
    /// `EPERM`/`EACCES` for a BPF trampoline program (fentry, fexit,
    /// fmod_ret, lsm, tp_btf, iter).
    Trampoline,
    /// `ENOTSUPP` attaching a trampoline to a kernel function (fentry, fexit,
    /// fmod_ret, lsm): the kernel has no ftrace direct calls on this
    /// architecture (`register_fentry` in kernel/bpf/trampoline.c without
    /// CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS, which arm64 gained in Linux
    /// 6.4; Debian's arm64 6.1 lacks it) or no trampoline JIT at all.
    NoDirectCalls,
    /// An LSM program failed otherwise and `bpf` is not (or not known to
    /// be) among the active LSMs.
    LsmNotEnabled,
    /// `E2BIG` on a tracepoint: it has its 64 programs (BPF_TRACE_MAX_PROGS).
    TooManyPrograms { tracepoint: String },
    /// `ENOENT` on a tracepoint: no such tracepoint (or no tracefs).
    Tracepoint { name: String },
    /// `EPERM`/`EACCES` and this process lacks the capabilities.
    Permission { needs: Needs },
    /// A uprobe or USDT probe failed otherwise: its binary or function.
    UprobeTarget { target: String },
    /// Nothing known explains it.
    Other,
}

impl fmt::Display for AttachCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachCause::NoKprobes => {
                f.write_str("kprobes are not enabled in this kernel (CONFIG_KPROBES); prefer a tracepoint")
            }
            AttachCause::KernelFunction { name } => write!(f, "function {name} not found in /proc/kallsyms"),
            AttachCause::Trampoline => f.write_str(
                "this kernel refuses BPF trampoline programs (fentry/fexit/LSM); LSM also needs `bpf` in the lsm= boot parameter",
            ),
            AttachCause::NoDirectCalls => f.write_str(
                "this kernel cannot attach BPF trampolines (fentry/fexit/LSM) to kernel functions: ENOTSUPP, it has \
                 no ftrace direct calls (CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS; arm64 has them from Linux 6.4 on); \
                 use a kprobe or tracepoint instead, or a newer kernel",
            ),
            AttachCause::LsmNotEnabled => f.write_str("is `bpf` in the kernel's lsm= list? see /sys/kernel/security/lsm"),
            AttachCause::TooManyPrograms { tracepoint } => write!(
                f,
                "the kernel allows at most 64 BPF programs on one tracepoint (BPF_TRACE_MAX_PROGS) and {tracepoint} \
                 has them all: remove a probe that uses it"
            ),
            AttachCause::Tracepoint { name } => {
                write!(f, "no tracepoint {name} in this kernel, or tracefs is not mounted")
            }
            AttachCause::Permission { needs: Needs::SysAdmin } => {
                f.write_str("uprobes need CAP_SYS_ADMIN: under systemd add it with a drop-in, see beed(8)")
            }
            AttachCause::Permission { needs: Needs::NetAdmin } => f.write_str(
                "XDP and TC programs need CAP_NET_ADMIN: under systemd add it with a drop-in, see beed(8)",
            ),
            AttachCause::Permission { needs: Needs::BpfAndPerfmon } => {
                f.write_str("beed needs CAP_BPF and CAP_PERFMON, or root")
            }
            AttachCause::UprobeTarget { target } => write!(f, "check the binary and function: {target}"),
            AttachCause::Other => f.write_str("no known cause"),
        }
    }
}

/// ` (CAUSE)`, or nothing for [`AttachCause::Other`]: how messages append a
/// cause.
pub(crate) struct Hint<'a>(pub &'a AttachCause);

impl fmt::Display for Hint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            AttachCause::Other => Ok(()),
            cause => write!(f, " ({cause})"),
        }
    }
}

/// Why a `kind` program (section kind, see `section_kind`) on `target`
/// failed with `code`. `target` is the attach point: from the
/// configuration (uprobes: `BINARY:FUNC`) or the section (`FUNC[+OFF]`,
/// `CATEGORY/NAME`).
pub fn classify_attach(kind: &str, target: &str, code: Code, facts: &Facts) -> AttachCause {
    let caps = facts.caps;
    match kind {
        // kprobes fail with ENOENT both when the kernel has none and when the
        // function is missing: the facts tell which
        "kprobe" | "kretprobe" | "ksyscall" | "kretsyscall" => {
            if !facts.kprobes {
                AttachCause::NoKprobes
            } else if let (Some(name), Some(false)) = (kprobe_function(kind, target), facts.kallsyms) {
                AttachCause::KernelFunction { name: name.to_string() }
            } else {
                AttachCause::Other
            }
        }
        "fentry" | "fexit" | "fmod_ret" | "lsm" | "tp_btf" | "iter" if code.denied() => AttachCause::Trampoline,
        // tp_btf and iter need no ftrace: only these attach to a kernel
        // function's entry through ftrace
        "fentry" | "fexit" | "fmod_ret" | "lsm" if code.errno == Some(ENOTSUPP) => AttachCause::NoDirectCalls,
        // with `bpf` among the active LSMs, the LSM list is not the cause
        "lsm" if facts.bpf_lsm != Some(true) => AttachCause::LsmNotEnabled,
        "tracepoint" | "tp" if code.kind == ErrorKind::TooBig => {
            AttachCause::TooManyPrograms { tracepoint: target.to_string() }
        }
        "tracepoint" | "tp" if code.kind == ErrorKind::NotFound => AttachCause::Tracepoint { name: target.to_string() },
        "uprobe" | "uretprobe" | "usdt" if code.denied() && !caps.has(Capability::SysAdmin) => {
            AttachCause::Permission { needs: Needs::SysAdmin }
        }
        "uprobe" | "uretprobe" | "usdt" => AttachCause::UprobeTarget { target: target.to_string() },
        "xdp" | "tc" | "classifier" | "tcx" if code.denied() && !caps.has(Capability::NetAdmin) => {
            AttachCause::Permission { needs: Needs::NetAdmin }
        }
        _ if code.denied()
            && !(caps.has(Capability::Bpf) && caps.has(Capability::Perfmon))
            && !caps.has(Capability::SysAdmin) =>
        {
            AttachCause::Permission { needs: Needs::BpfAndPerfmon }
        }
        _ => AttachCause::Other,
    }
}

/// The attach point of a program in `section` (what follows the first `/`),
/// unless `configured` names it.
pub fn attach_target<'a>(section: &'a str, configured: Option<&'a str>) -> &'a str {
    configured.unwrap_or_else(|| section.split_once('/').map_or("", |(_, t)| t))
}

/// Why loading an object failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadCause {
    /// `bpf()` itself was refused with `EPERM` (libbpf could not load even
    /// its trivial probing program, and blames RLIMIT_MEMLOCK, which no
    /// kernel since 5.11 uses for BPF): a seccomp filter (a container
    /// runtime's default profile refuses `bpf`) or a missing CAP_BPF.
    BpfRefused { confinement: Confinement },
    /// `ENOMEM` or `E2BIG` creating map `map`, of about `bytes` of kernel
    /// memory.
    MapMemory { map: String, bytes: u64, too_big: bool },
    /// libbpf found no kernel BTF (`ESRCH`) for CO-RE.
    NoKernelBtf,
    /// The verifier rejected program `program` (its log is in the error).
    Verifier { program: String },
    /// Extern `name` was not resolved (`ESRCH`): a typeless `__ksym` is
    /// looked up in /proc/kallsyms, which shows addresses only to
    /// CAP_SYSLOG and which systemd's `ProtectKernelTunables=yes` hides.
    UnresolvedExtern { name: String },
    /// Program `program` reads `target` (`struct foo.bar`), which this
    /// kernel's BTF does not have: a CO-RE relocation could not be resolved
    /// (libbpf poisons the instruction, the verifier refuses it).
    CoreRelocation { program: String, target: String },
    /// Program `program` (in `section`) was refused for a reason its
    /// section's kind explains, as for an attach.
    Program { program: String, section: String, cause: AttachCause },
    /// Nothing known explains it.
    Other,
}

impl LoadCause {
    /// What to say about a refused `bpf()`: both possible causes, the one
    /// this process' confinement points at first, and what to do.
    pub fn bpf_refused_text(confinement: &Confinement) -> String {
        let head = "bpf() refused (EPERM): seccomp or missing CAP_BPF";
        let allow = "allow the bpf and perf_event_open system calls (containers: the seccomp profile in \
                     beed's deploy/container/seccomp.json, with --security-opt seccomp=FILE or as a \
                     Kubernetes Localhost profile)";
        if !confinement.caps.has(Capability::Bpf) && !confinement.caps.has(Capability::SysAdmin) {
            format!(
                "{head}: beed lacks CAP_BPF; run it as root or with CAP_BPF and CAP_PERFMON \
                 (containers: --cap-add=BPF,PERFMON,DAC_READ_SEARCH){}",
                if confinement.seccomp == Some(true) { format!(", and {allow}") } else { String::new() }
            )
        } else if confinement.seccomp == Some(false) {
            format!(
                "{head}: beed holds CAP_BPF and no seccomp filter applies to it, so a security module \
                 (SELinux, AppArmor, lockdown) refused it"
            )
        } else {
            format!("{head}: beed holds CAP_BPF, so a seccomp filter refused it: {allow}")
        }
    }
}

/// The load-specific cause of a load that failed with `code`, from
/// libbpf's `log` while loading, the approximate kernel memory of each map
/// (`sizes`) and what confines this process; `None` when the failure is not
/// one of those (then [`program_cause`] may explain it).
pub fn classify_load(log: &str, code: Code, sizes: &[(String, u64)], confinement: &Confinement) -> Option<LoadCause> {
    // libbpf's first bpf() call loads a trivial program: EPERM there is
    // bpf() refused as such, whatever the object holds (libbpf's message
    // names only RLIMIT_MEMLOCK; `bpf_object__probe_loading` is the function
    // that says it, in every libbpf since 0.1)
    if code.errno == Some(libc::EPERM)
        && (log.contains("bpf_object__probe_loading") || log.contains("Couldn't load trivial BPF program"))
    {
        return Some(LoadCause::BpfRefused { confinement: *confinement });
    }
    if matches!(code.kind, ErrorKind::TooBig | ErrorKind::OutOfMemory) {
        // the code says the kernel had no room; only the log says for which
        // map (libbpf: "map 'NAME': failed to create: -ENOMEM")
        if let Some(map) = failed_map(log) {
            let bytes = sizes.iter().find(|(n, _)| *n == map).map_or(0, |(_, b)| *b);
            return Some(LoadCause::MapMemory { map, bytes, too_big: code.kind == ErrorKind::TooBig });
        }
    }
    // ESRCH is both "no kernel BTF" and "a kernel function or type CO-RE
    // needs is missing": libbpf's "failed to find valid kernel BTF" tells
    // the first
    if code.errno == Some(libc::ESRCH) && log.contains("failed to find valid kernel BTF") {
        return Some(LoadCause::NoKernelBtf);
    }
    // libbpf: "extern 'vfs_read' (strong): not resolved"
    if code.errno == Some(libc::ESRCH) {
        if let Some(name) = log.lines().find_map(|l| l.split_once("extern '")?.1.split_once("' (strong): not resolved"))
        {
            return Some(LoadCause::UnresolvedExtern { name: name.0.to_string() });
        }
    }
    if let Some(target) = failed_relocation(log) {
        return Some(LoadCause::CoreRelocation { program: failed_program(log).unwrap_or("").to_string(), target });
    }
    // no code says the verifier ran: libbpf prints its log between these
    // markers; EPERM (not EACCES) is a refusal before verification
    if log.contains("END PROG LOAD LOG") && code.errno != Some(libc::EPERM) {
        return Some(LoadCause::Verifier { program: failed_program(log).unwrap_or("").to_string() });
    }
    None
}

/// The cause of a load that failed with `code` on program `program` in
/// `section` (as far as its kind explains it).
pub fn program_cause(program: &str, section: &str, code: Code, facts: &Facts) -> LoadCause {
    let kind = bee_object::validate::section_kind(section);
    match classify_attach(kind, attach_target(section, None), code, facts) {
        AttachCause::Other => LoadCause::Other,
        cause => LoadCause::Program { program: program.to_string(), section: section.to_string(), cause },
    }
}

/// The map libbpf could not create: only its log names it
/// (`map 'NAME': failed to create: ...`).
fn failed_map(log: &str) -> Option<String> {
    log.lines().find_map(|l| {
        let rest = l.split("map '").nth(1)?;
        let (name, tail) = rest.split_once('\'')?;
        tail.contains("failed to create").then(|| name.to_string())
    })
}

/// The program libbpf's log is about (`prog 'NAME': ...`): only the log
/// names the program that failed to load. The line saying it failed wins
/// over earlier lines about other programs (relocations of each program
/// are logged before any is loaded).
pub fn failed_program(log: &str) -> Option<&str> {
    fn name(line: &str) -> Option<&str> {
        line.split("prog '").nth(1).and_then(|s| s.split('\'').next())
    }
    let failed =
        log.lines().find(|l| l.contains("prog '") && (l.contains("load failed") || l.contains("failed to load")));
    failed.or_else(|| log.lines().find(|l| l.contains("prog '"))).and_then(name)
}

/// What a CO-RE relocation libbpf could not resolve refers to: `struct
/// foo.bar` of "failed to resolve CO-RE relocation <byte_off> [39] struct
/// foo.bar (0:1 @ offset 8)".
fn failed_relocation(log: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains("failed to resolve CO-RE relocation"))?;
    let after = line.split_once("] ").map_or(line, |(_, t)| t);
    let target = after.split(" (").next().unwrap_or(after).trim();
    Some(if target.is_empty() { "a type or field".to_string() } else { target.to_string() })
}

/// The last lines of libbpf's log worth showing (BPF token probing is
/// noise).
pub fn log_tail(log: &str) -> Vec<String> {
    let lines: Vec<&str> = log.lines().filter(|l| !l.contains("BPF token")).collect();
    lines.iter().skip(lines.len().saturating_sub(12)).map(|l| l.to_string()).collect()
}

/// `16.0 MiB`, `512.0 KiB`, `100 B`.
pub fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    const ALL_CAPS: Caps = Caps { effective: Some(u64::MAX) };
    const NO_CAPS: Caps = Caps { effective: Some(0) };
    /// root, outside any container
    const ROOT: Confinement = Confinement { caps: ALL_CAPS, seccomp: Some(false) };

    fn facts(caps: Caps) -> Facts {
        Facts { kprobes: true, kallsyms: None, bpf_lsm: None, caps }
    }

    fn caps(of: &[Capability]) -> Caps {
        Caps { effective: Some(of.iter().fold(0, |m, c| m | 1 << c.number())) }
    }

    #[test]
    fn codes_come_from_libbpf_errors() {
        let e = libbpf_rs::Error::from_raw_os_error(libc::EPERM);
        assert_eq!(Code::of(&e), Code { errno: Some(libc::EPERM), kind: ErrorKind::PermissionDenied });
        let e = libbpf_rs::Error::from_raw_os_error(libc::ESRCH);
        assert_eq!(Code::of(&e), Code { errno: Some(libc::ESRCH), kind: ErrorKind::Other });
        assert_eq!(Code::from_errno(libc::E2BIG).kind, ErrorKind::TooBig);
        assert_eq!(Code::from_errno(libc::ENOMEM).kind, ErrorKind::OutOfMemory);
        assert_eq!(Code::from_errno(libc::EACCES).kind, ErrorKind::PermissionDenied);
        assert_eq!(Code::from_errno(libc::ENOENT).kind, ErrorKind::NotFound);
        // an error libbpf-rs made without an errno
        let e = libbpf_rs::Error::from(std::io::Error::other("no code here"));
        assert_eq!(Code::of(&e), Code { errno: None, kind: ErrorKind::Other });
    }

    #[test]
    fn capabilities_from_the_effective_set() {
        let c = caps(&[Capability::Bpf, Capability::Perfmon]);
        assert!(c.has(Capability::Bpf) && c.has(Capability::Perfmon));
        assert!(!c.has(Capability::SysAdmin) && !c.has(Capability::NetAdmin));
        assert!(Caps { effective: None }.has(Capability::SysAdmin), "unknown counts as present");
        assert_eq!(
            [Capability::NetAdmin, Capability::SysAdmin, Capability::Perfmon, Capability::Bpf].map(Capability::number),
            [12, 21, 38, 39]
        );
    }

    #[test]
    fn kprobe_causes_come_from_the_facts() {
        let enoent = Code::from_errno(libc::ENOENT);
        let no_kprobes = Facts { kprobes: false, kallsyms: None, bpf_lsm: None, caps: ALL_CAPS };
        for kind in ["kprobe", "kretprobe", "ksyscall", "kretsyscall"] {
            assert_eq!(classify_attach(kind, "tcp_v4_connect", enoent, &no_kprobes), AttachCause::NoKprobes);
        }
        let missing = Facts { kprobes: true, kallsyms: Some(false), bpf_lsm: None, caps: ALL_CAPS };
        assert_eq!(
            classify_attach("kprobe", "no_such_fn+0x4", enoent, &missing),
            AttachCause::KernelFunction { name: "no_such_fn".into() }
        );
        assert_eq!(
            classify_attach("kretprobe", "no_such_fn", enoent, &missing),
            AttachCause::KernelFunction { name: "no_such_fn".into() }
        );
        // syscalls are probed through a wrapper symbol; no function, nothing to blame
        assert_eq!(classify_attach("ksyscall", "getppid", enoent, &missing), AttachCause::Other);
        assert_eq!(classify_attach("kprobe", "", enoent, &missing), AttachCause::Other);
        let present = Facts { kprobes: true, kallsyms: Some(true), bpf_lsm: None, caps: ALL_CAPS };
        assert_eq!(classify_attach("kprobe", "tcp_v4_connect", enoent, &present), AttachCause::Other);
        // kprobes are never blamed on capabilities
        let denied = Code::from_errno(libc::EPERM);
        assert_eq!(classify_attach("kprobe", "f", denied, &facts(NO_CAPS)), AttachCause::Other);
    }

    #[test]
    fn trampoline_and_lsm_causes() {
        for errno in [libc::EPERM, libc::EACCES] {
            for kind in ["fentry", "fexit", "fmod_ret", "lsm", "tp_btf", "iter"] {
                let cause = classify_attach(kind, "x", Code::from_errno(errno), &facts(ALL_CAPS));
                assert_eq!(cause, AttachCause::Trampoline, "{kind}");
            }
        }
        let einval = Code::from_errno(libc::EINVAL);
        assert_eq!(classify_attach("lsm", "socket_connect", einval, &facts(ALL_CAPS)), AttachCause::LsmNotEnabled);
        assert_eq!(classify_attach("fentry", "tcp_v4_connect", einval, &facts(NO_CAPS)), AttachCause::Other);
        // `bpf` is an active LSM: the lsm= list is not blamed
        let bpf_lsm = Facts { bpf_lsm: Some(true), ..facts(ALL_CAPS) };
        assert_eq!(classify_attach("lsm", "socket_connect", einval, &bpf_lsm), AttachCause::Other);
        let no_bpf_lsm = Facts { bpf_lsm: Some(false), ..facts(ALL_CAPS) };
        assert_eq!(classify_attach("lsm", "socket_connect", einval, &no_bpf_lsm), AttachCause::LsmNotEnabled);
    }

    /// Debian's arm64 6.1 kernel (no ftrace direct calls), as beed logged it
    /// there: "attach failed [libbpf: prog 'prog': failed to attach:
    /// -ENOTSUPP]", for fentry, fexit and lsm alike, with `bpf` in the LSM
    /// list (lsm=...,bpf).
    #[test]
    fn enotsupp_on_a_trampoline_is_missing_direct_calls() {
        let libbpf_error = libbpf_rs::Error::from_raw_os_error(ENOTSUPP);
        let code = Code::of(&libbpf_error);
        assert_eq!(code.errno, Some(ENOTSUPP));
        let arm64_61 = Facts { bpf_lsm: Some(true), ..facts(ALL_CAPS) };
        for (kind, target) in [("fentry", "tcp_v4_connect"), ("fexit", "tcp_v4_connect"), ("fmod_ret", "f")] {
            assert_eq!(classify_attach(kind, target, code, &arm64_61), AttachCause::NoDirectCalls, "{kind}");
        }
        // not the lsm= list, whatever securityfs says
        for bpf_lsm in [Some(true), Some(false), None] {
            let f = Facts { bpf_lsm, ..facts(ALL_CAPS) };
            assert_eq!(classify_attach("lsm", "socket_connect", code, &f), AttachCause::NoDirectCalls);
        }
        // tp_btf and iter need no ftrace: ENOTSUPP is not this there
        assert_eq!(classify_attach("tp_btf", "sched_switch", code, &arm64_61), AttachCause::Other);
        assert_eq!(classify_attach("iter", "task", code, &arm64_61), AttachCause::Other);
        // at load, through the section's kind
        assert_eq!(
            program_cause("prog", "lsm/socket_connect", code, &arm64_61),
            LoadCause::Program {
                program: "prog".into(),
                section: "lsm/socket_connect".into(),
                cause: AttachCause::NoDirectCalls
            }
        );
        let text = AttachCause::NoDirectCalls.to_string();
        assert!(text.contains("ENOTSUPP") && text.contains("CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS"), "{text}");
        assert!(!text.contains("lsm="), "{text}");
    }

    #[test]
    fn tracepoint_causes() {
        let f = facts(ALL_CAPS);
        for kind in ["tracepoint", "tp"] {
            assert_eq!(
                classify_attach(kind, "syscalls/sys_enter_acct", Code::from_errno(libc::E2BIG), &f),
                AttachCause::TooManyPrograms { tracepoint: "syscalls/sys_enter_acct".into() }
            );
            assert_eq!(
                classify_attach(kind, "syscalls/nope", Code::from_errno(libc::ENOENT), &f),
                AttachCause::Tracepoint { name: "syscalls/nope".into() }
            );
            assert_eq!(classify_attach(kind, "a/b", Code::from_errno(libc::EINVAL), &f), AttachCause::Other);
        }
        // refused for lack of capabilities: the generic permission cause
        assert_eq!(
            classify_attach("tracepoint", "a/b", Code::from_errno(libc::EPERM), &facts(NO_CAPS)),
            AttachCause::Permission { needs: Needs::BpfAndPerfmon }
        );
    }

    #[test]
    fn uprobe_causes() {
        let target = "/bin/true:main";
        let denied = Code::from_errno(libc::EPERM);
        for kind in ["uprobe", "uretprobe", "usdt"] {
            assert_eq!(
                classify_attach(kind, target, denied, &facts(caps(&[Capability::Bpf, Capability::Perfmon]))),
                AttachCause::Permission { needs: Needs::SysAdmin }
            );
            let other = AttachCause::UprobeTarget { target: target.into() };
            assert_eq!(classify_attach(kind, target, denied, &facts(ALL_CAPS)), other);
            assert_eq!(classify_attach(kind, target, Code::from_errno(libc::ENOENT), &facts(NO_CAPS)), other);
        }
    }

    #[test]
    fn network_and_generic_permission_causes() {
        let denied = Code::from_errno(libc::EACCES);
        for kind in ["xdp", "tc", "classifier", "tcx"] {
            let only_bpf = facts(caps(&[Capability::Bpf, Capability::Perfmon]));
            assert_eq!(
                classify_attach(kind, "", denied, &only_bpf),
                AttachCause::Permission { needs: Needs::NetAdmin }
            );
            // CAP_NET_ADMIN but neither CAP_BPF nor root
            let only_net = facts(caps(&[Capability::NetAdmin]));
            assert_eq!(
                classify_attach(kind, "", denied, &only_net),
                AttachCause::Permission { needs: Needs::BpfAndPerfmon }
            );
            assert_eq!(classify_attach(kind, "", denied, &facts(ALL_CAPS)), AttachCause::Other);
            assert_eq!(classify_attach(kind, "", Code::from_errno(libc::EBUSY), &facts(NO_CAPS)), AttachCause::Other);
        }
        let bpf_only = facts(caps(&[Capability::Bpf]));
        let needs = AttachCause::Permission { needs: Needs::BpfAndPerfmon };
        assert_eq!(classify_attach("raw_tp", "sys_enter", denied, &bpf_only), needs);
        assert_eq!(classify_attach("perf_event", "", denied, &facts(NO_CAPS)), needs);
        // root without CAP_BPF/CAP_PERFMON (old kernels) is enough
        assert_eq!(classify_attach("raw_tp", "x", denied, &facts(caps(&[Capability::SysAdmin]))), AttachCause::Other);
        assert_eq!(classify_attach("raw_tp", "x", Code::from_errno(libc::EINVAL), &facts(NO_CAPS)), AttachCause::Other);
    }

    #[test]
    fn attach_targets() {
        assert_eq!(attach_target("kprobe/tcp_v4_connect", None), "tcp_v4_connect");
        assert_eq!(attach_target("tracepoint/syscalls/sys_enter_acct", None), "syscalls/sys_enter_acct");
        assert_eq!(attach_target("uprobe", Some("/bin/true:main")), "/bin/true:main");
        assert_eq!(attach_target("uprobe", None), "");
        assert_eq!(kprobe_function("kprobe", "f+0x10"), Some("f"));
        assert_eq!(kprobe_function("kretsyscall", "getppid"), None);
    }

    #[test]
    fn attach_cause_texts() {
        let cases = [
            (AttachCause::NoKprobes, "kprobes are not enabled in this kernel (CONFIG_KPROBES); prefer a tracepoint"),
            (AttachCause::KernelFunction { name: "nope".into() }, "function nope not found in /proc/kallsyms"),
            (
                AttachCause::Trampoline,
                "this kernel refuses BPF trampoline programs (fentry/fexit/LSM); LSM also needs `bpf` in the lsm= boot parameter",
            ),
            (
                AttachCause::NoDirectCalls,
                "this kernel cannot attach BPF trampolines (fentry/fexit/LSM) to kernel functions: ENOTSUPP, it has no \
                 ftrace direct calls (CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS; arm64 has them from Linux 6.4 on); use a \
                 kprobe or tracepoint instead, or a newer kernel",
            ),
            (AttachCause::LsmNotEnabled, "is `bpf` in the kernel's lsm= list? see /sys/kernel/security/lsm"),
            (
                AttachCause::TooManyPrograms { tracepoint: "syscalls/sys_enter_acct".into() },
                "the kernel allows at most 64 BPF programs on one tracepoint (BPF_TRACE_MAX_PROGS) and \
                 syscalls/sys_enter_acct has them all: remove a probe that uses it",
            ),
            (
                AttachCause::Tracepoint { name: "a/b".into() },
                "no tracepoint a/b in this kernel, or tracefs is not mounted",
            ),
            (
                AttachCause::Permission { needs: Needs::SysAdmin },
                "uprobes need CAP_SYS_ADMIN: under systemd add it with a drop-in, see beed(8)",
            ),
            (
                AttachCause::Permission { needs: Needs::NetAdmin },
                "XDP and TC programs need CAP_NET_ADMIN: under systemd add it with a drop-in, see beed(8)",
            ),
            (AttachCause::Permission { needs: Needs::BpfAndPerfmon }, "beed needs CAP_BPF and CAP_PERFMON, or root"),
            (AttachCause::UprobeTarget { target: "/bin/x:f".into() }, "check the binary and function: /bin/x:f"),
        ];
        for (cause, text) in cases {
            assert_eq!(cause.to_string(), text);
            assert_eq!(Hint(&cause).to_string(), format!(" ({text})"));
        }
        assert_eq!(Hint(&AttachCause::Other).to_string(), "");
    }

    const MAP_ENOMEM: &str = "libbpf: map 'counter': failed to create: -ENOMEM\n\
                              libbpf: failed to load object 'p'\n";
    const VERIFIER: &str = "libbpf: prog 'unchecked': BPF program load failed: -EACCES\n\
                            libbpf: prog 'unchecked': -- BEGIN PROG LOAD LOG --\n\
                            0: R1=ctx() R10=fp0\n\
                            R0 invalid mem access 'map_value_or_null'\n\
                            -- END PROG LOAD LOG --\n\
                            libbpf: prog 'unchecked': failed to load: -EACCES\n";
    const NO_BTF: &str =
        "libbpf: kernel BTF is missing at '/sys/kernel/btf/vmlinux', was CONFIG_DEBUG_INFO_BTF enabled?\n\
                          libbpf: failed to find valid kernel BTF\n\
                          libbpf: Error loading vmlinux BTF: -ESRCH\n";
    const NO_FUNC: &str = "libbpf: prog 'prog': failed to find kernel BTF type ID of 'nope': -ESRCH\n\
                           libbpf: prog 'prog': failed to load: -ESRCH\n";
    const TRAMPOLINE: &str = "libbpf: prog 'prog': BPF program load failed: -EPERM\n\
                              libbpf: prog 'prog': failed to load: -EPERM\n";

    #[test]
    fn load_causes() -> TestResult {
        let sizes = [("counter".to_string(), 96u64 << 30)];
        let nomem = classify_load(MAP_ENOMEM, Code::from_errno(libc::ENOMEM), &sizes, &ROOT);
        assert_eq!(nomem, Some(LoadCause::MapMemory { map: "counter".into(), bytes: 96 << 30, too_big: false }));
        let e2big = classify_load(&MAP_ENOMEM.replace("ENOMEM", "E2BIG"), Code::from_errno(libc::E2BIG), &[], &ROOT);
        assert_eq!(e2big, Some(LoadCause::MapMemory { map: "counter".into(), bytes: 0, too_big: true }));
        // ENOMEM without a map line: not a map's size
        assert_eq!(classify_load(TRAMPOLINE, Code::from_errno(libc::ENOMEM), &sizes, &ROOT), None);
        // a map line, but another code
        assert_eq!(classify_load(MAP_ENOMEM, Code::from_errno(libc::EINVAL), &sizes, &ROOT), None);

        assert_eq!(classify_load(NO_BTF, Code::from_errno(libc::ESRCH), &[], &ROOT), Some(LoadCause::NoKernelBtf));
        assert_eq!(classify_load(NO_FUNC, Code::from_errno(libc::ESRCH), &[], &ROOT), None);
        // libbpf 1.7 when /proc/kallsyms hides a typeless __ksym (seen under
        // the unit without the CAP_SYSLOG drop-in, tests/systemd/run.sh)
        let ksym = "libbpf: loaded kernel BTF from '/sys/kernel/btf/vmlinux'\n\
                    libbpf: extern 'vfs_read' (strong): not resolved\n";
        assert_eq!(
            classify_load(ksym, Code::from_errno(libc::ESRCH), &[], &ROOT),
            Some(LoadCause::UnresolvedExtern { name: "vfs_read".into() })
        );
        assert_eq!(classify_load(ksym, Code::from_errno(libc::EINVAL), &[], &ROOT), None);

        let verifier = Some(LoadCause::Verifier { program: "unchecked".into() });
        assert_eq!(classify_load(VERIFIER, Code::from_errno(libc::EACCES), &[], &ROOT), verifier);
        assert_eq!(classify_load(VERIFIER, Code::from_errno(libc::EINVAL), &[], &ROOT), verifier);
        assert_eq!(classify_load(VERIFIER, Code::from_errno(libc::EPERM), &[], &ROOT), None);
        let no_name = VERIFIER.replace("prog 'unchecked'", "program");
        assert_eq!(
            classify_load(&no_name, Code::from_errno(libc::EACCES), &[], &ROOT),
            Some(LoadCause::Verifier { program: String::new() })
        );
        assert_eq!(classify_load(TRAMPOLINE, Code::from_errno(libc::EPERM), &[], &ROOT), None);
        assert_eq!(failed_program(TRAMPOLINE), Some("prog"));
        assert_eq!(failed_program(NO_BTF), None);

        // the program that failed, not the first one the log mentions; the
        // type or field the kernel lacks (biolatency on 5.10)
        let core = "libbpf: prog 'on_issue': relo #0: matching candidate #0 <byte_off> [1] struct trace_event_raw_block_rq\n\
                    libbpf: prog 'on_complete': BPF program load failed: -EINVAL\n\
                    libbpf: prog 'on_complete': -- BEGIN PROG LOAD LOG --\n\
                    1: <invalid CO-RE relocation>\n\
                    failed to resolve CO-RE relocation <byte_off> [39] struct trace_event_raw_block_rq_completion.dev (0:1 @ offset 8)\n\
                    -- END PROG LOAD LOG --\n";
        assert_eq!(failed_program(core), Some("on_complete"));
        assert_eq!(
            classify_load(core, Code::from_errno(libc::EINVAL), &[], &ROOT),
            Some(LoadCause::CoreRelocation {
                program: "on_complete".into(),
                target: "struct trace_event_raw_block_rq_completion.dev".into()
            })
        );
        Ok(())
    }

    /// libbpf 1.7's log when its first bpf() call (the trivial program it
    /// loads to probe the kernel) gets EPERM.
    const PROBE_EPERM: &str = "libbpf: Error in bpf_object__probe_loading(): -EPERM. Couldn't load trivial BPF \
                               program. Make sure your kernel supports BPF (CONFIG_BPF_SYSCALL=y) and/or that \
                               RLIMIT_MEMLOCK is set to big enough value.\n";

    #[test]
    fn refused_bpf_is_seccomp_or_a_missing_cap_bpf() {
        let eperm = Code::from_errno(libc::EPERM);
        let in_container = Confinement { caps: caps(&[Capability::Bpf, Capability::Perfmon]), seccomp: Some(true) };
        let refused = |c: Confinement| Some(LoadCause::BpfRefused { confinement: c });
        assert_eq!(classify_load(PROBE_EPERM, eperm, &[], &in_container), refused(in_container));
        // whoever refused it, the cause is the same; its text tells which
        let no_caps = Confinement { caps: NO_CAPS, seccomp: Some(false) };
        assert_eq!(classify_load(PROBE_EPERM, eperm, &[], &no_caps), refused(no_caps));
        assert_eq!(classify_load(PROBE_EPERM, eperm, &[], &ROOT), refused(ROOT));
        // libbpf before 1.0 words the errno differently
        let old = "libbpf: Error in bpf_object__probe_loading():Operation not permitted(1). Couldn't load \
                   trivial BPF program.\n";
        assert_eq!(classify_load(old, eperm, &[], &in_container), refused(in_container));
        // another code, or EPERM on a program rather than on bpf() itself
        assert_eq!(classify_load(PROBE_EPERM, Code::from_errno(libc::EINVAL), &[], &in_container), None);
        assert_eq!(classify_load(TRAMPOLINE, eperm, &[], &in_container), None);

        let text = LoadCause::bpf_refused_text;
        let head = "bpf() refused (EPERM): seccomp or missing CAP_BPF: ";
        let allow = "allow the bpf and perf_event_open system calls (containers: the seccomp profile in beed's \
                     deploy/container/seccomp.json, with --security-opt seccomp=FILE or as a Kubernetes Localhost \
                     profile)";
        assert_eq!(text(&in_container), format!("{head}beed holds CAP_BPF, so a seccomp filter refused it: {allow}"));
        let unknown = Confinement { caps: Caps { effective: None }, seccomp: None };
        assert_eq!(text(&unknown), text(&in_container));
        let lacks = "beed lacks CAP_BPF; run it as root or with CAP_BPF and CAP_PERFMON \
                     (containers: --cap-add=BPF,PERFMON,DAC_READ_SEARCH)";
        assert_eq!(text(&no_caps), format!("{head}{lacks}"));
        assert_eq!(text(&Confinement { caps: NO_CAPS, seccomp: Some(true) }), format!("{head}{lacks}, and {allow}"));
        // root without CAP_BPF (kernels before 5.8) is enough
        let sys_admin = Confinement { caps: caps(&[Capability::SysAdmin]), seccomp: Some(false) };
        assert_eq!(
            text(&sys_admin),
            format!(
                "{head}beed holds CAP_BPF and no seccomp filter applies to it, so a security module \
                 (SELinux, AppArmor, lockdown) refused it"
            )
        );
    }

    #[test]
    fn program_causes_at_load() {
        let eperm = Code::from_errno(libc::EPERM);
        assert_eq!(
            program_cause("prog", "fentry/tcp_v4_connect", eperm, &facts(ALL_CAPS)),
            LoadCause::Program {
                program: "prog".into(),
                section: "fentry/tcp_v4_connect".into(),
                cause: AttachCause::Trampoline
            }
        );
        assert_eq!(program_cause("prog", "tracepoint/a/b", eperm, &facts(ALL_CAPS)), LoadCause::Other);
        let no_kprobes = Facts { kprobes: false, kallsyms: None, bpf_lsm: None, caps: ALL_CAPS };
        assert_eq!(
            program_cause("p", "?kprobe/f", Code::from_errno(libc::EINVAL), &no_kprobes),
            LoadCause::Program { program: "p".into(), section: "?kprobe/f".into(), cause: AttachCause::NoKprobes }
        );
    }

    #[test]
    fn log_tails_and_sizes() {
        let log: String = (0..20).map(|i| format!("line {i}\n")).chain(["libbpf: BPF token: x\n".into()]).collect();
        let tail = log_tail(&log);
        assert_eq!(tail.len(), 12);
        assert_eq!(tail.first().map(String::as_str), Some("line 8"));
        assert_eq!(tail.last().map(String::as_str), Some("line 19"));
        assert!(log_tail("").is_empty());
        assert_eq!(human_bytes(100), "100 B");
        assert_eq!(human_bytes(512 << 10), "512.0 KiB");
        assert_eq!(human_bytes(16 << 20), "16.0 MiB");
        assert_eq!(human_bytes(96 << 30), "96.0 GiB");
    }
}
