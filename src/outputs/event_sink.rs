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
use crate::sinks::sampling::Sampler;

/// What happens to each record of one event map.
#[allow(clippy::large_enum_variant)] // one per event map, used per event: kept inline
pub enum EventSink {
    Print { pm: PrintMap, plan: Plan, events: Rc<RefCell<Events>>, sampler: Option<Sampler> },
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
                sampler: out.sampler(m, cfg),
            },
            _ => EventSink::Metric(out.families.event_metric(m, cfg)?),
        })
    }
}

impl bee_runtime::EventSink for EventSink {
    /// Small enough to inline into the ring buffer loop: the metric path is
    /// a few instructions when the label set repeats; printing is not.
    #[inline]
    fn record(&mut self, rec: &[u8]) -> bool {
        match self {
            EventSink::Metric(m) => {
                m.on_event(rec);
                true
            }
            EventSink::Print { pm, plan, events, sampler } => print(pm, plan, events, sampler, rec),
        }
    }

    /// A metric map looks its records' label sets up together; a print
    /// map writes them one by one.
    #[inline]
    fn records(&mut self, recs: &[&[u8]]) -> u64 {
        if let EventSink::Metric(m) = self {
            m.on_events(recs);
            return 0;
        }
        recs.iter().map(|r| u64::from(!self.record(r))).sum()
    }
}

#[inline(never)]
fn print(pm: &PrintMap, plan: &Plan, events: &RefCell<Events>, sampler: &mut Option<Sampler>, rec: &[u8]) -> bool {
    if let Some(s) = sampler {
        if rec.len() < plan.size {
            return false;
        }
        if !s.admit() {
            return true;
        }
    }
    events.borrow_mut().record(pm, plan, rec)
}
