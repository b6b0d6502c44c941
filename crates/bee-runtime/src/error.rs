//! Errors of the runtime. Every variant says what was wrong and where.

use std::fmt;
use std::path::PathBuf;

use crate::cause::{human_bytes, AttachCause, Hint, LoadCause};

/// Result alias for the runtime.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything loading, attaching or reading a probe can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object itself (ELF, BTF, types, the convention, vars).
    #[error(transparent)]
    Object(#[from] bee_object::Error),

    /// A watched map is unusable as loaded.
    #[error("map {map}: {reason}")]
    Map { map: String, reason: String },

    /// A probe setting does not fit the object (an attach target, a map
    /// size, a variable).
    #[error("{what}: {reason}")]
    Setting { what: String, reason: String },

    /// Reading a file failed. (The cause is part of the message and not a
    /// `source`, so that a chain printed with `{:#}` says it once.)
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },

    /// libbpf refused something other than a load or an attach (opening
    /// an object, sizing a map, duplicating a map's fd).
    #[error("{what}: {cause}")]
    Libbpf { what: String, cause: libbpf_rs::Error },

    /// Loading an object into the kernel failed.
    #[error("{0}")]
    Load(Box<LoadError>),

    /// Attaching a program failed.
    #[error("{0}")]
    Attach(Box<AttachError>),

    /// A changed probe's new version could not attach, and its previous
    /// version could not attach again either.
    #[error("{new}; re-attaching the previous version failed too: {old}")]
    Swap { new: Box<Error>, old: Box<Error> },

    /// The engine thread stopped, and every probe with it.
    #[error("the engine stopped")]
    Stopped,

    /// The front end could not build a consumer for a map (its own
    /// settings did not fit the map, a metric could not be registered).
    #[error(transparent)]
    Consumer(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    pub(crate) fn libbpf(what: impl Into<String>, source: libbpf_rs::Error) -> Self {
        Error::Libbpf { what: what.into(), cause: source }
    }
}

/// A failed load: which object, why, and what libbpf and the verifier said.
/// (The libbpf error is part of the message and not a `source`, as in
/// [`Error::Libbpf`].)
#[derive(Debug)]
pub struct LoadError {
    /// The object, as a path or `built-in probe NAME`.
    pub object: String,
    /// The probe it belongs to (settings are named after it).
    pub probe: String,
    pub cause: LoadCause,
    /// The last lines of libbpf's and the verifier's log.
    pub log: Vec<String>,
    pub error: libbpf_rs::Error,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (object, probe) = (&self.object, &self.probe);
        // a map too large says how to make it smaller, without the log
        if let LoadCause::MapMemory { map, bytes, too_big } = &self.cause {
            let code = if *too_big { "E2BIG: larger than the kernel allows" } else { "ENOMEM: not enough memory" };
            return write!(
                f,
                "map {map}: {object}: the kernel could not create it ({code}, about {} of kernel memory): \
                 make it smaller with `max_entries = N` in [probes.{probe}.maps.{map}]",
                human_bytes(*bytes),
            );
        }
        // a refused bpf(): libbpf's log only guesses RLIMIT_MEMLOCK
        if let LoadCause::BpfRefused { confinement } = &self.cause {
            return write!(
                f,
                "{object}: loading into the kernel failed: {}: {}",
                LoadCause::bpf_refused_text(confinement),
                self.error
            );
        }
        write!(f, "{object}: loading into the kernel failed")?;
        match &self.cause {
            LoadCause::NoKernelBtf => write!(
                f,
                " (no kernel BTF: this kernel lacks /sys/kernel/btf/vmlinux; set `btf_path = \"/path/to/vmlinux.btf\"` in [probes.{probe}])"
            )?,
            LoadCause::UnresolvedExtern { name } => write!(
                f,
                " (extern `{name}` was not found: libbpf looks typeless __ksym externs up in /proc/kallsyms, \
                 which shows addresses only to CAP_SYSLOG; under systemd add the CAP_SYSLOG drop-in of beed(8), \
                 with ProtectKernelTunables=no and ProtectKernelLogs=no)"
            )?,
            LoadCause::Verifier { program } => {
                write!(f, " (the verifier rejected {}; its log follows)", Program(program))?
            }
            LoadCause::CoreRelocation { program, target } => write!(
                f,
                " ({} uses {target}, which this kernel does not have: a CO-RE relocation failed; \
                 the probe was written for other kernels: test the type or field with bpf_core_type_exists() / \
                 bpf_core_field_exists() and read what this kernel has instead)",
                Program(program)
            )?,
            LoadCause::Program { cause, .. } => write!(f, "{}", Hint(cause))?,
            LoadCause::MapMemory { .. } | LoadCause::BpfRefused { .. } | LoadCause::Other => {}
        }
        if !self.log.is_empty() {
            write!(f, "; libbpf/verifier log:\n  {}", self.log.join("\n  "))?;
        }
        write!(f, ": {}", self.error)
    }
}

/// A failed attach: which program, to what, why, and what libbpf said.
#[derive(Debug)]
pub struct AttachError {
    pub program: String,
    pub section: String,
    /// What was tried: `attach`, `attach to BINARY:FUNC`, `attach XDP to
    /// IFACE`, ...
    pub action: String,
    /// The attach point from the configuration (uprobes, USDT), when the
    /// section does not name it.
    pub target: Option<String>,
    pub cause: AttachCause,
    /// libbpf's messages while attaching.
    pub detail: Vec<String>,
    pub error: libbpf_rs::Error,
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "program {} (SEC(\"{}\")): {} failed{}", self.program, self.section, self.action, Hint(&self.cause))?;
        if !self.detail.is_empty() {
            write!(f, " [libbpf: {}]", self.detail.join("; "))?;
        }
        write!(f, ": {}", self.error)
    }
}

/// `program NAME`, or `a program` when libbpf's log named none.
struct Program<'a>(&'a str);

impl fmt::Display for Program<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            write!(f, "a program")
        } else {
            write!(f, "program {}", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cause::{Caps, Confinement, Needs};

    fn load(cause: LoadCause, log: &[&str], errno: i32) -> Error {
        Error::Load(Box::new(LoadError {
            object: "/x/p.bpf.o".into(),
            probe: "p".into(),
            cause,
            log: log.iter().map(|l| l.to_string()).collect(),
            error: libbpf_rs::Error::from_raw_os_error(errno),
        }))
    }

    #[test]
    fn load_errors_read_as_before() {
        let map = |too_big| LoadCause::MapMemory { map: "counter".into(), bytes: 96 << 30, too_big };
        assert_eq!(
            load(map(true), &[], libc::E2BIG).to_string(),
            "map counter: /x/p.bpf.o: the kernel could not create it (E2BIG: larger than the kernel allows, \
             about 96.0 GiB of kernel memory): make it smaller with `max_entries = N` in [probes.p.maps.counter]"
        );
        assert!(load(map(false), &[], libc::ENOMEM)
            .to_string()
            .contains("could not create it (ENOMEM: not enough memory, about 96.0 GiB"));
        assert_eq!(
            load(LoadCause::NoKernelBtf, &["libbpf: failed to find valid kernel BTF"], libc::ESRCH).to_string(),
            "/x/p.bpf.o: loading into the kernel failed (no kernel BTF: this kernel lacks /sys/kernel/btf/vmlinux; \
             set `btf_path = \"/path/to/vmlinux.btf\"` in [probes.p]); libbpf/verifier log:\n  \
             libbpf: failed to find valid kernel BTF: No such process (os error 3)"
        );
        assert_eq!(
            load(LoadCause::Verifier { program: "unchecked".into() }, &["0: r0 = 0", "R0 !read_ok"], libc::EACCES)
                .to_string(),
            "/x/p.bpf.o: loading into the kernel failed (the verifier rejected program unchecked; its log follows); \
             libbpf/verifier log:\n  0: r0 = 0\n  R0 !read_ok: Permission denied (os error 13)"
        );
        let program =
            LoadCause::Program { program: "prog".into(), section: "fentry/f".into(), cause: AttachCause::Trampoline };
        assert_eq!(
            load(program, &[], libc::EPERM).to_string(),
            "/x/p.bpf.o: loading into the kernel failed (this kernel refuses BPF trampoline programs (fentry/fexit/LSM); \
             LSM also needs `bpf` in the lsm= boot parameter): Operation not permitted (os error 1)"
        );
        // a refused bpf(): the cause, without libbpf's RLIMIT_MEMLOCK guess
        let confinement = Confinement { caps: Caps { effective: Some(1 << 39 | 1 << 38) }, seccomp: Some(true) };
        let refused = load(
            LoadCause::BpfRefused { confinement },
            &["libbpf: Error in bpf_object__probe_loading(): -EPERM. ... RLIMIT_MEMLOCK ..."],
            libc::EPERM,
        )
        .to_string();
        assert_eq!(
            refused,
            format!(
                "/x/p.bpf.o: loading into the kernel failed: {}: Operation not permitted (os error 1)",
                LoadCause::bpf_refused_text(&confinement)
            )
        );
        assert!(refused.contains("bpf() refused (EPERM): seccomp or missing CAP_BPF"), "{refused}");
        assert!(!refused.contains("MEMLOCK"), "{refused}");
        assert_eq!(
            load(LoadCause::Other, &["libbpf: a"], libc::EINVAL).to_string(),
            "/x/p.bpf.o: loading into the kernel failed; libbpf/verifier log:\n  libbpf: a: Invalid argument (os error 22)"
        );
    }

    #[test]
    fn attach_errors_read_as_before() {
        let attach = |cause, detail: &[&str]| {
            Error::Attach(Box::new(AttachError {
                program: "prog".into(),
                section: "uprobe".into(),
                action: "attach to /bin/x:f".into(),
                target: Some("/bin/x:f".into()),
                cause,
                detail: detail.iter().map(|l| l.to_string()).collect(),
                error: libbpf_rs::Error::from_raw_os_error(libc::EPERM),
            }))
        };
        assert_eq!(
            attach(AttachCause::Permission { needs: Needs::SysAdmin }, &["a", "b"]).to_string(),
            "program prog (SEC(\"uprobe\")): attach to /bin/x:f failed (uprobes need CAP_SYS_ADMIN: under systemd \
             add it with a drop-in, see beed(8)) [libbpf: a; b]: Operation not permitted (os error 1)"
        );
        assert_eq!(
            attach(AttachCause::Other, &[]).to_string(),
            "program prog (SEC(\"uprobe\")): attach to /bin/x:f failed: Operation not permitted (os error 1)"
        );
    }
}
