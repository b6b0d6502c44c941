//! The probe runtime of beed: loads and attaches bee-convention probes with
//! libbpf (CO-RE) from a plain [`ProbeSpec`], polls their ring buffers and
//! perf buffers from one epoll loop, walks their hash and array maps on
//! timers, and hands every record and map walk to the sinks a front end
//! supplies through [`Consumers`]. It builds no output itself; what it
//! counts and each probe's state are values ([`Status`]) front ends read.
//!
//! Depends on the object layer (`bee_object`) only; front ends (the daemon,
//! the CLI) depend on it.

mod attach;
pub mod cause;
pub mod changes;
pub mod consumer;
pub mod engine;
pub mod error;
pub mod fsread;
pub mod libbpf_log;
mod mapwatch;
pub mod prefetch;
pub mod probe;
pub mod progstats;
mod ringbuf;
mod ringread;
pub mod spec;
pub mod stats;
pub mod tc;
pub mod tracefs;
pub mod walk;

pub use changes::Changes;
pub use consumer::{Consumers, Entries, EventSink, MapInfo, MapSink};
pub use engine::{spawn, EngineHandle, LoadReport, Setup};
pub use error::{Error, Result};
pub use spec::{AttachTarget, ObjectSource, ProbeSpec};
pub use stats::{Count, Level, MapStats, ProbeState, ProbeStats, Reading, Status};
