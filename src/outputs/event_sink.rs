//! The sink of an event map (ring buffer or perf event array): print maps
//! become events, counter/gauge/hist maps Prometheus families.

use std::cell::RefCell;
use std::rc::Rc;

use bee_object::convention::{metric_name, Output};
use bee_object::schema::Plan;
use bee_runtime::MapInfo;

use super::Outputs;
use crate::config::MapConfig;
use crate::error::Result;
use crate::sinks::events::{Events, PrintMap};
use crate::sinks::labels;
use crate::sinks::ring_metric::{self, RingKind, RingMetric};

/// What happens to each record of one event map.
pub enum EventSink {
    Print { pm: PrintMap, plan: Plan, events: Rc<RefCell<Events>> },
    Metric(RingMetric),
}

impl EventSink {
    pub(super) fn new(out: &Outputs, m: &MapInfo<'_>, cfg: &MapConfig) -> Result<Self> {
        Ok(match m.output {
            Output::Print => EventSink::Print {
                pm: PrintMap::new(&mut out.events.borrow_mut(), m.probe, m.map, m.value),
                plan: m.value.clone(),
                events: out.events.clone(),
            },
            output => {
                let (kind, value) = match output {
                    Output::Counter => (RingKind::Counter, None),
                    Output::Gauge => (RingKind::Gauge, Some(labels::value_field(m.map, m.value, cfg, output)?)),
                    _ => {
                        let v = labels::value_field(m.map, m.value, cfg, output)?;
                        let buckets = cfg.buckets.clone().unwrap_or_else(|| ring_metric::default_buckets(&v.kind));
                        (RingKind::Hist { buckets }, Some(v))
                    }
                };
                let exclude: Vec<&str> = value.iter().map(|f| f.name.as_str()).collect();
                let label_fields = labels::select(m.map, m.value, cfg, &exclude)?;
                EventSink::Metric(RingMetric::new(
                    &out.registry,
                    ring_metric::Spec {
                        name: &metric_name(m.map),
                        help: &format!("bee {output} of event map {}", m.map),
                        probe: m.probe,
                        kind,
                        plan: m.value,
                        label_fields,
                        value,
                        max_series: cfg.max_series.unwrap_or(out.max_series),
                        dropped: out.selfm.series_dropped.with_label_values(&[m.probe, m.map]),
                        decode_errors: m.stats.decode_errors.clone(),
                    },
                )?)
            }
        })
    }
}

impl bee_runtime::EventSink for EventSink {
    fn record(&mut self, rec: &[u8]) -> bool {
        match self {
            EventSink::Print { pm, plan, events } => events.borrow_mut().record(pm, plan, rec),
            EventSink::Metric(m) => {
                m.on_event(rec);
                true
            }
        }
    }
}
