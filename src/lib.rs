//! beed: runs BumbleBee-convention eBPF probes and reports what they collect
//! through journald and Prometheus.
//!
//! Data flow: config → probe (normalize, open, load, attach) → schema (BTF
//! decode plans) → ringbuf poller / map walker (engine thread) → decode →
//! sinks (events, metrics) → http.

pub mod attach;
pub mod btf;
pub mod config;
pub mod convention;
pub mod daemon;
pub mod decode;
pub mod elf;
pub mod engine;
pub mod error;
pub mod fasthash;
pub mod fsread;
pub mod http;
pub mod logging;
pub mod mapwatch;
pub mod normalize;
pub mod probe;
pub mod reloadstatus;
pub mod ringbuf;
pub mod rundir;
pub mod schema;
pub mod selfmetrics;
pub mod sinks;
pub mod tc;
pub mod tracefs;
pub mod validate;
pub mod vars;
pub mod walk;

/// The built-in probes compiled by build.rs from `src/bpf/*.bpf.c`.
pub mod builtins {
    // generated code: the skeletons are compiled (and type-checked) with the
    // crate, the daemon loads the same objects through the generic path
    #![allow(clippy::all, clippy::pedantic, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    #![allow(clippy::undocumented_unsafe_blocks, dead_code, unused_imports, missing_docs, unsafe_op_in_unsafe_fn)]
    include!(concat!(env!("OUT_DIR"), "/builtins.rs"));
}
