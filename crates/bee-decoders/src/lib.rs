//! Decoders of single fields, chosen in configuration
//! (`[probes.NAME.maps.MAP.fields.FIELD] decode = "…"`) or by a typedef
//! (`ktime`), and the timestamp of event lines. Used by both front ends
//! (beed's outputs and `bee run`), beside the runtime: a map's settings are
//! resolved once, when its sink is built, into a plan whose fields carry
//! their decoder ([`plan::decorate`]); rendering a field then goes through
//! `bee_object::decode::write_field_text`/`write_field_json` everywhere
//! (JSON lines, journal fields, metric labels).
//!
//! One decoder per file. Every decoder but `ksym` and `cgroup` is pure;
//! those two read `/proc/kallsyms` and the cgroup2 hierarchy (and the
//! container runtimes' state files), through caches of bounded size shared
//! by every map ([`Context`]).

pub mod cgroup;
pub mod containers;
pub mod errno;
pub mod exit_status;
pub mod hex;
pub mod inet_ip;
pub mod int;
pub mod ksym;
pub mod ktime;
pub mod plan;
pub mod regexp;
pub mod settings;
pub mod signal;
pub mod static_map;
pub mod syscall;
mod tables;
pub mod time;
mod value;

use std::sync::Arc;

pub use plan::{decorate, decorate_map};
pub use settings::FieldSettings;
pub use time::{Stamper, Timestamp};

/// What decoders share across maps and probes: the kernel symbol table and
/// the cgroup cache, each loaded when first needed.
#[derive(Clone, Debug)]
pub struct Context {
    pub ksyms: Arc<ksym::Ksyms>,
    pub cgroups: Arc<cgroup::Cgroups>,
}

impl Context {
    /// The running system's `/proc/kallsyms` and cgroup2 hierarchy.
    pub fn system() -> Self {
        Context { ksyms: Arc::new(ksym::Ksyms::system()), cgroups: Arc::new(cgroup::Cgroups::system()) }
    }
}

impl Default for Context {
    fn default() -> Self {
        Context::system()
    }
}
