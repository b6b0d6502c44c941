//! beed, the daemon: one front end on the probe runtime (`bee_runtime`)
//! and the object layer (`bee_object`). It owns the configuration files,
//! the sinks the runtime feeds (journal and JSON events, Prometheus
//! families), the HTTP endpoint, self-metrics and the systemd protocol.
//!
//! Data flow: config → `ProbeSpec`s → runtime (load, attach, poll, walk) →
//! `outputs` (the daemon's consumers) → sinks (events, metrics) → http.

mod config;
pub mod daemon;
mod error;
mod fasthash;
pub mod http;
pub mod logging;
mod outputs;
mod reloadstatus;
mod rundir;
mod selfmetrics;
/// Public for the benchmarks (benches/walk.rs) only.
pub mod sinks;

pub use config::DEFAULT_PATH;

/// The built-in probes compiled by build.rs from `src/bpf/*.bpf.c`.
pub mod builtins {
    // generated code: the skeletons are compiled (and type-checked) with the
    // crate, the daemon loads the same objects through the generic path
    #![allow(clippy::all, clippy::pedantic, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    #![allow(clippy::undocumented_unsafe_blocks, dead_code, unused_imports, missing_docs, unsafe_op_in_unsafe_fn)]
    include!(concat!(env!("OUT_DIR"), "/builtins.rs"));
}
