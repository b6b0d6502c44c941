//! The sink of a walked (hash or array) map: print maps emit the entries
//! that changed since the last walk, counter and gauge maps mirror their
//! entries as series, hist maps become one histogram per label set.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use bee_object::convention::{metric_name, Output};
use bee_object::percpu;
use bee_object::schema::{Field, Plan};
use bee_runtime::{Count, Entries, MapInfo};

use super::Outputs;
use crate::config::MapConfig;
use crate::error::{Error, Result};
use crate::sinks::events::{Events, PrintMap};
use crate::sinks::labels;
use crate::sinks::map_hist::{self, MapHist};
use crate::sinks::map_series::{self, MapSeries};

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

/// What happens to each walk of one map. Its metric family (if any) is
/// unregistered when it is dropped with its probe.
pub enum MapSink {
    Print(Box<PrintWalk>),
    Metric { series: MapSeries, field: Field, slot: Option<usize>, decode_errors: Count },
    Hist { hist: MapHist, field: Field, slot: Option<usize>, decode_errors: Count },
}

impl MapSink {
    pub(super) fn new(out: &Outputs, m: &MapInfo<'_>, cfg: &MapConfig) -> Result<Self> {
        let err = |reason: String| Error::map(m.map, reason);
        let key = m.key.ok_or_else(|| err("has no key type".into()))?;
        let max_series = cfg.max_series.unwrap_or(out.max_series);
        let help = format!("bee {} of map {}", m.output, m.map);
        let dropped = out.selfm.series_dropped.with_label_values(&[m.probe, m.map]);
        let first_field = || m.value.fields.first().cloned().ok_or_else(|| err("value has no fields".into()));
        Ok(match m.output {
            Output::Print => MapSink::Print(Box::new(PrintWalk {
                pm: PrintMap::new(&mut out.events.borrow_mut(), m.probe, m.map, m.value),
                key: key.clone(),
                value: m.value.clone(),
                events: out.events.clone(),
                prev: HashMap::new(),
                generation: 0,
                changed: Vec::new(),
                slot: m.percpu_slot,
                summed: vec![0; m.value.size],
            })),
            Output::Counter | Output::Gauge => {
                let series = MapSeries::new(
                    &out.registry,
                    &out.text,
                    map_series::Spec {
                        name: &metric_name(m.map),
                        help: &help,
                        counter: m.output == Output::Counter,
                        probe: m.probe,
                        key,
                        label_fields: labels::select(m.map, key, cfg, &[])?,
                        max_series,
                        dropped,
                        decode_errors: m.stats.decode_errors.clone(),
                    },
                )?;
                MapSink::Metric {
                    series,
                    field: first_field()?,
                    slot: m.percpu_slot,
                    decode_errors: m.stats.decode_errors.clone(),
                }
            }
            Output::Hist => {
                let slot = labels::slot_field(m.probe, m.map, key, cfg)?;
                let hist = MapHist::new(
                    &out.registry,
                    &out.text,
                    map_hist::Spec {
                        name: &metric_name(m.map),
                        help: &help,
                        probe: m.probe,
                        label_fields: labels::select(m.map, key, cfg, &[slot.name.as_str()])?,
                        slot,
                        scheme: cfg.scheme,
                        step: cfg.step.unwrap_or(1.0),
                        max_series,
                        dropped,
                        decode_errors: m.stats.decode_errors.clone(),
                    },
                )?;
                MapSink::Hist {
                    hist,
                    field: first_field()?,
                    slot: m.percpu_slot,
                    decode_errors: m.stats.decode_errors.clone(),
                }
            }
        })
    }
}

impl bee_runtime::MapSink for MapSink {
    fn walk(&mut self, entries: Entries<'_>) {
        match self {
            MapSink::Metric { series, field, slot, decode_errors } => {
                let mut st = series.lock();
                st.begin();
                let mut bad = 0u64;
                let n = entries.read(|k, v| match percpu::numeric(field, v, *slot) {
                    Some(x) => st.set(k, x),
                    None => bad += 1,
                });
                if n.is_some() {
                    st.finish();
                }
                decode_errors.inc_by(bad);
            }
            MapSink::Hist { hist, field, slot, decode_errors } => {
                let mut st = hist.lock();
                st.begin();
                let mut bad = 0u64;
                let n = entries.read(|k, v| match percpu::numeric(field, v, *slot) {
                    Some(x) => st.add(k, x),
                    None => bad += 1,
                });
                st.finish(n.is_some());
                decode_errors.inc_by(bad);
            }
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
