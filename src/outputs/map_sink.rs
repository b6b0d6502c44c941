//! The sink of a walked (hash or array) map: print maps emit the entries
//! that changed since the last walk; counter, gauge and hist maps mirror
//! the map in their family (`bee_metrics::MapMetric`).

use std::cell::RefCell;
use std::rc::Rc;

use bee_metrics::MapMetric;
use bee_object::convention::Output;
use bee_object::schema::Plan;
use bee_runtime::{Changes, Entries, MapInfo};

use super::Outputs;
use crate::config::MapConfig;
use crate::error::{Error, Result};
use crate::sinks::events::{Events, PrintMap};
use crate::sinks::sampling::Sampler;

/// Print map state: what each key held at the last walk.
pub struct PrintWalk {
    pm: PrintMap,
    key: Plan,
    value: Plan,
    events: Rc<RefCell<Events>>,
    /// What changed since the last walk (per-CPU values summed).
    changes: Changes,
    /// `sample`/`max_rate`: each walk's record of changes is one event.
    sampler: Option<Sampler>,
}

/// What happens to each walk of one map. A metric family is unregistered
/// when it is dropped with its probe.
pub enum MapSink {
    Print(Box<PrintWalk>),
    Metric(MapMetric),
}

impl MapSink {
    pub(super) fn new(out: &Outputs, m: &MapInfo<'_>, cfg: &MapConfig) -> Result<Self> {
        // the map's field decoders, resolved once
        let (key, value) = bee_decoders::decorate_map(m.probe, m.map, m.key, m.value, &cfg.fields, &out.decoders)?;
        let m = &MapInfo { key: key.as_ref(), value: &value, ..*m };
        if m.output != Output::Print {
            return Ok(MapSink::Metric(out.families.map_metric(m, cfg)?));
        }
        let key = m.key.ok_or_else(|| Error::map(m.map, "has no key type".into()))?;
        Ok(MapSink::Print(Box::new(PrintWalk {
            pm: PrintMap::new(&mut out.events.borrow_mut(), m.probe, m.map, m.value),
            key: key.clone(),
            value: m.value.clone(),
            events: out.events.clone(),
            changes: Changes::new(m.value, m.percpu_slot),
            sampler: out.sampler(m, cfg),
        })))
    }
}

impl bee_runtime::MapSink for MapSink {
    fn walk(&mut self, entries: Entries<'_>) {
        match self {
            MapSink::Metric(metric) => metric.walk(|f| entries.read(f)),
            MapSink::Print(p) => p.walk(entries),
        }
    }
}

impl PrintWalk {
    fn walk(&mut self, entries: Entries<'_>) {
        let mut changed: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let total = self.changes.walk(
            |f| entries.read(f),
            |k, v, c| {
                if c {
                    changed.push((k.to_vec(), v.to_vec()));
                }
            },
        );
        if total.is_some() && !changed.is_empty() && self.sampler.as_mut().is_none_or(|s| s.admit()) {
            let rows = changed.iter().map(|(k, v)| (k.as_slice(), v.as_slice()));
            self.events.borrow_mut().entries(&self.pm, &self.key, &self.value, rows);
        }
    }
}
