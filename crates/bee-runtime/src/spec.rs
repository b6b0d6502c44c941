//! What the runtime is asked to run: a plain description of one probe,
//! built by a front end from whatever it reads (a config file, a command
//! line, an image).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::time::Duration;

use bee_object::vars::Value;
use serde::Deserialize;

/// Where a probe's object comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectSource {
    /// Bytes the front end holds (a built-in compiled into the binary, an
    /// object read from an image), with a name for messages.
    Bytes { name: String, bytes: Cow<'static, [u8]> },
    /// An object read from an OCI image, named by its ref in messages.
    Image { reference: String, bytes: Cow<'static, [u8]> },
    /// A file, read when the probe loads.
    File(PathBuf),
    /// An object the front end could not obtain (an image neither pulled
    /// nor cached): the probe fails with `reason`, the others run.
    Unavailable { what: String, reason: String },
}

/// One probe to load and attach.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSpec {
    pub name: String,
    pub object: ObjectSource,
    /// How often hash and array maps are walked.
    pub interval: Duration,
    /// `const volatile` globals, set before load.
    pub vars: BTreeMap<String, Value>,
    /// Attach targets of programs that need one, by program name.
    pub attach: BTreeMap<String, AttachTarget>,
    /// `max_entries` overrides, by map name (any map of the object).
    pub max_entries: BTreeMap<String, u32>,
    /// Kernel BTF to relocate against, for kernels without
    /// /sys/kernel/btf/vmlinux.
    pub btf_path: Option<PathBuf>,
    /// Anything else the front end wants in the probe's identity (for
    /// example a digest of its output settings): a probe whose tag changed
    /// is reloaded like one whose object changed.
    pub tag: u64,
}

impl ProbeSpec {
    /// A spec with defaults: a 1 s walk interval, no vars, no attach
    /// targets, no size overrides.
    pub fn new(name: impl Into<String>, object: ObjectSource) -> Self {
        ProbeSpec {
            name: name.into(),
            object,
            interval: Duration::from_secs(1),
            vars: BTreeMap::new(),
            attach: BTreeMap::new(),
            max_entries: BTreeMap::new(),
            btf_path: None,
            tag: 0,
        }
    }

    /// Where the probe comes from, for status lines: `built-in` for bytes,
    /// else the path.
    pub fn describe_source(&self) -> String {
        match &self.object {
            ObjectSource::Bytes { .. } => "built-in".into(),
            ObjectSource::Image { reference, .. } => format!("image {reference}"),
            ObjectSource::File(p) => p.display().to_string(),
            ObjectSource::Unavailable { what, .. } => what.clone(),
        }
    }

    /// Feeds everything but the object into `h` (the object's bytes are
    /// hashed as loaded, see `identity`).
    pub(crate) fn hash_settings(&self, h: &mut impl Hasher) {
        self.name.hash(h);
        match &self.object {
            ObjectSource::Bytes { name, .. } => ("bytes", name).hash(h),
            ObjectSource::Image { reference, .. } => ("image", reference).hash(h),
            ObjectSource::File(p) => ("file", p).hash(h),
            ObjectSource::Unavailable { what, reason } => ("unavailable", what, reason).hash(h),
        }
        self.interval.hash(h);
        for (k, v) in &self.vars {
            k.hash(h);
            // Debug is exact for these values and stable within a process
            format!("{v:?}").hash(h);
        }
        for (k, v) in &self.attach {
            k.hash(h);
            v.hash(h);
        }
        self.max_entries.hash(h);
        self.btf_path.hash(h);
        self.tag.hash(h);
    }
}

/// Where a program attaches when its section name does not say it all
/// (`[probes.NAME.attach.PROGRAM]` in beed's config).
#[derive(Debug, Deserialize, Clone, PartialEq, Eq, Hash, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AttachTarget {
    /// uprobe/uretprobe/usdt: the binary or library.
    pub binary: Option<PathBuf>,
    /// uprobe: the function (symbol) to probe.
    pub func: Option<String>,
    /// uprobe: offset added to `func` (or from the start of the file).
    pub offset: Option<u64>,
    /// uprobe/usdt: only this process (default: all).
    pub pid: Option<i32>,
    /// usdt: provider and probe name.
    pub provider: Option<String>,
    pub name: Option<String>,
    /// xdp/tc: network interface.
    pub interface: Option<String>,
    /// tc: "ingress" (default) or "egress".
    pub direction: Option<String>,
    /// perf_event: samples per second on every CPU (default 49).
    pub frequency: Option<u64>,
    /// perf_event: sample every N events instead of a frequency.
    pub period: Option<u64>,
}
