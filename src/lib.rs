//! beed, the daemon: one front end on the probe runtime (`bee_runtime`)
//! and the object layer (`bee_object`). It owns the configuration files,
//! the sinks the runtime feeds (journal and JSON events, Prometheus
//! families), the HTTP endpoint, self-metrics and the systemd protocol.
//!
//! Data flow: config → `ProbeSpec`s → runtime (load, attach, poll, walk) →
//! `outputs` (the daemon's consumers) → sinks (events, metrics) → http.

mod config;
mod constlabels;
pub mod daemon;
mod error;
pub mod http;
mod images;
pub mod logging;
mod metricnames;
mod outputs;
mod programstats;
mod reloadstatus;
mod rundir;
mod selfmetrics;
mod sinks;

pub use config::DEFAULT_PATH;

/// The built-in probes compiled by build.rs from `src/bpf/*.bpf.c`: their
/// objects (`BUILTINS`, which the daemon loads through the generic path like
/// any other probe) and their libbpf-cargo skeletons. The daemon does not
/// use the skeletons; the kernel tests do (tests/kernel/builtins.rs): they
/// load each built-in through its skeleton and read every event both with
/// the generic BTF decoder and as the skeleton's compiler-generated struct,
/// which checks the decoder against the compiler's own layout.
pub mod builtins {
    // generated code: `.unwrap()`, `.expect()` and `panic!` on a map or
    // program missing from the object the skeleton was generated from, and
    // unsafe blocks without SAFETY comments
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::undocumented_unsafe_blocks)]
    include!(concat!(env!("OUT_DIR"), "/builtins.rs"));

    // SAFETY: #[repr(C)] structs of integers and integer arrays only (the
    // skeleton spells padding out as `__pad` byte arrays): every bit pattern
    // is a valid value, so they may be read from a ring buffer record.
    unsafe impl plain::Plain for exitsnoop::types::exit_event {}
    // SAFETY: as above; `u32`, `[i8; 16]` and `u16` members only.
    unsafe impl plain::Plain for tcpconnect::types::connect_event {}
}
