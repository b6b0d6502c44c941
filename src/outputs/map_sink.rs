//! The sink of a walked (hash or array) map: print maps emit the entries
//! that changed since the last walk; counter, gauge and hist maps mirror
//! the map in their family (`bee_metrics::MapMetric`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use bee_metrics::MapMetric;
use bee_object::convention::Output;
use bee_object::percpu;
use bee_object::schema::Plan;
use bee_runtime::{Entries, MapInfo};

use super::Outputs;
use crate::config::MapConfig;
use crate::error::{Error, Result};
use crate::sinks::events::{Events, PrintMap};

/// Print map state: what each key held at the last walk.
pub struct PrintWalk {
    pm: PrintMap,
    key: Plan,
    value: Plan,
    events: Rc<RefCell<Events>>,
    /// Value and walk generation of every key seen.
    prev: HashMap<Vec<u8>, (Vec<u8>, u64)>,
    generation: u64,
    /// Entries that changed in this walk.
    changed: Vec<(Vec<u8>, Vec<u8>)>,
    /// Per-CPU maps: bytes per CPU slot, and the value with integer fields
    /// summed over CPUs.
    slot: Option<usize>,
    summed: Vec<u8>,
}

/// What happens to each walk of one map. A metric family is unregistered
/// when it is dropped with its probe.
pub enum MapSink {
    Print(Box<PrintWalk>),
    Metric(MapMetric),
}

impl MapSink {
    pub(super) fn new(out: &Outputs, m: &MapInfo<'_>, cfg: &MapConfig) -> Result<Self> {
        if m.output != Output::Print {
            return Ok(MapSink::Metric(out.families.map_metric(m, cfg)?));
        }
        let key = m.key.ok_or_else(|| Error::map(m.map, "has no key type".into()))?;
        Ok(MapSink::Print(Box::new(PrintWalk {
            pm: PrintMap::new(&mut out.events.borrow_mut(), m.probe, m.map, m.value),
            key: key.clone(),
            value: m.value.clone(),
            events: out.events.clone(),
            prev: HashMap::new(),
            generation: 0,
            changed: Vec::new(),
            slot: m.percpu_slot,
            summed: vec![0; m.value.size],
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
        self.changed.clear();
        self.generation += 1;
        let g = self.generation;
        let slot = self.slot;
        let (prev, changed, summed, plan) = (&mut self.prev, &mut self.changed, &mut self.summed, &self.value);
        let total = entries.read(|k, v| {
            // per-CPU maps: one value, integer fields summed over CPUs
            let v = match slot {
                Some(n) => {
                    percpu::sum(plan, v, n, summed);
                    summed.as_slice()
                }
                None => v,
            };
            match prev.get_mut(k) {
                Some((old, seen)) => {
                    *seen = g;
                    if old.as_slice() != v {
                        changed.push((k.to_vec(), v.to_vec()));
                    }
                }
                None => changed.push((k.to_vec(), v.to_vec())),
            }
        });
        let Some(total) = total else { return };
        if !self.changed.is_empty() {
            let rows = self.changed.iter().map(|(k, v)| (k.as_slice(), v.as_slice()));
            self.events.borrow_mut().entries(&self.pm, &self.key, &self.value, rows);
        }
        for (k, v) in self.changed.drain(..) {
            self.prev.insert(k, (v, g));
        }
        if self.prev.len() > total {
            // entries were deleted: forget them so a re-created key prints again
            self.prev.retain(|_, (_, seen)| *seen == g);
        }
    }
}
