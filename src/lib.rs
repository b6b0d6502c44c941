//! beed: runs BumbleBee-convention eBPF probes and reports what they collect
//! through journald and Prometheus.

pub mod btf;
pub mod config;
pub mod convention;
pub mod decode;
pub mod elf;
pub mod error;
pub mod schema;

/// The built-in probes compiled by build.rs from `src/bpf/*.bpf.c`.
pub mod builtins {
    #![allow(clippy::all, clippy::pedantic, dead_code, unused_imports, missing_docs, unsafe_op_in_unsafe_fn)]
    include!(concat!(env!("OUT_DIR"), "/builtins.rs"));
}
