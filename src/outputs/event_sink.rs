//! The sink of an event map (ring buffer or perf event array): print maps
//! become events, counter/gauge/hist maps Prometheus families.

use std::cell::RefCell;
use std::rc::Rc;

use bee_metrics::ring_metric::RingMetric;
use bee_object::convention::Output;
use bee_object::schema::Plan;
use bee_runtime::MapInfo;

use super::Outputs;
use crate::config::MapConfig;
use crate::error::Result;
use crate::sinks::events::{Events, PrintMap};

/// What happens to each record of one event map.
pub enum EventSink {
    Print { pm: PrintMap, plan: Plan, events: Rc<RefCell<Events>> },
    Metric(RingMetric),
}

impl EventSink {
    pub(super) fn new(out: &Outputs, m: &MapInfo<'_>, cfg: &MapConfig) -> Result<Self> {
        // the map's field decoders, resolved once
        let (_, value) = bee_decoders::decorate_map(m.probe, m.map, None, m.value, &cfg.fields, &out.decoders)?;
        let m = &MapInfo { value: &value, ..*m };
        Ok(match m.output {
            Output::Print => EventSink::Print {
                pm: PrintMap::new(&mut out.events.borrow_mut(), m.probe, m.map, m.value),
                plan: m.value.clone(),
                events: out.events.clone(),
            },
            _ => EventSink::Metric(out.families.event_metric(m, cfg)?),
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
