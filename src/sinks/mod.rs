//! Where decoded records go: event outputs (stdout JSON, journald) and
//! Prometheus metrics. Sinks see only plans and record bytes.

pub(crate) mod events;
pub mod exposition;
pub(crate) mod journal;
pub mod labels;
pub(crate) mod map_hist;
pub mod map_series;
pub(crate) mod queue;
pub(crate) mod ring_metric;
