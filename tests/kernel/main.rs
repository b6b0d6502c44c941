//! The tests that need root and the running kernel, as one test binary
//! (one link instead of one per file): every module loads BPF programs,
//! directly or through a beed it starts (`--load`, probes, TC on veth
//! pairs in network namespaces, netlink), and fails when not run as root.
//!
//! Built only with the `root-tests` feature (`make test` enables it):
//! `cargo test --features root-tests --test kernel -- --test-threads=1`.
//! The tests that need neither root nor the kernel are the other targets of
//! `tests/` and of each crate (`make test-unit`).
//!
//! One process runs them all: no test sets environment variables of this
//! process or changes its namespaces (`tc` joins namespaces on threads of
//! its own), and `--test-threads=1` keeps them from contending for the
//! kernel's tracepoints and ports.

#[path = "../common/mod.rs"]
mod common;

mod attach;
mod bad_objects;
mod blocking_files;
mod builtins;
mod check_config;
mod conventions;
mod crash;
mod daemon;
mod dashboard;
mod decoders;
mod examples;
mod health;
mod http_abuse;
mod images;
mod injection;
mod journal;
mod limits;
mod malformed;
mod outputs;
mod program_stats;
mod reload;
mod reload_faults;
mod shaping;
mod stalls;
mod tc;
