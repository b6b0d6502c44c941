//! beed, the daemon: one front end on the probe runtime (`bee_runtime`)
//! and the object layer (`bee_object`). It owns the configuration files,
//! the sinks the runtime feeds (journal and JSON events, Prometheus
//! families), the HTTP endpoint, self-metrics and the systemd protocol.
//!
//! Data flow: config → `ProbeSpec`s → runtime (load, attach, poll, walk) →
//! `outputs` (the daemon's consumers) → sinks (events, metrics) → http.

pub mod config;
pub mod daemon;
pub mod error;
pub mod fasthash;
pub mod http;
pub mod logging;
pub mod outputs;
pub mod reloadstatus;
pub mod rundir;
pub mod selfmetrics;
pub mod sinks;

/// The built-in probes compiled by build.rs from `src/bpf/*.bpf.c`.
pub mod builtins {
    // generated code: the skeletons are compiled (and type-checked) with the
    // crate, the daemon loads the same objects through the generic path
    #![allow(clippy::all, clippy::pedantic, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    #![allow(clippy::undocumented_unsafe_blocks, dead_code, unused_imports, missing_docs, unsafe_op_in_unsafe_fn)]
    include!(concat!(env!("OUT_DIR"), "/builtins.rs"));
}
