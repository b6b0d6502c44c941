//! Where decoded records go: event outputs (stdout JSON, journald) and
//! Prometheus metrics. Sinks see only plans and record bytes.

pub mod events;
pub mod exposition;
pub mod journal;
pub mod labels;
pub mod map_hist;
pub mod map_series;
pub mod queue;
pub mod ring_metric;
