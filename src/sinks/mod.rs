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

use std::cell::RefCell;
use std::rc::Rc;

use prometheus::Registry;

use crate::selfmetrics::SelfMetrics;

/// Everything a map consumer needs to publish what it decodes.
#[derive(Clone)]
pub struct Context {
    pub registry: Registry,
    /// Families that render their own text (hash map metrics).
    pub text: exposition::TextRegistry,
    pub selfm: SelfMetrics,
    pub events: Rc<RefCell<events::Events>>,
    pub max_series: usize,
}
