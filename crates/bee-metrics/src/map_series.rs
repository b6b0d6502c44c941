//! Metrics mirrored from hash/array maps: after every walk the exported
//! series are exactly the map's entries (an entry the probe deleted stops
//! being exported; a recreated counter starts again, which Prometheus reads
//! as a counter reset). Rendered through [`exposition`]: each series' label
//! text is built once, when it first appears.

use std::collections::HashMap;
use std::sync::MutexGuard;

use bee_runtime::Count;
use prometheus::core::Desc;
use prometheus::{IntCounter, Registry};

use crate::error::{Error, Result};
use crate::exposition::{self, Registered, Samples, TextRegistry};
use crate::fasthash::FastMap;
use crate::labels;
use bee_object::schema::{Field, Plan};

struct Series {
    /// `{probe="x",saddr="…"} ` (with the trailing space), rendered once.
    prefix: String,
    value: f64,
    generation: u64,
}

/// The mutable state behind a [`MapSeries`]: updated by the walker.
pub struct State {
    /// Keyed by the bytes of the label fields (not the whole key: padding
    /// and dropped fields must not split a label set).
    series: FastMap<Vec<u8>, Series>,
    scratch: Vec<u8>,
    /// The lookup key of a label set (see labels::LabelKey).
    label_key: labels::LabelKey,
    name: String,
    probe: String,
    /// `metrics.const_labels`, after the fields' labels.
    const_labels: Vec<(String, String)>,
    generation: u64,
    fields: Vec<Field>,
    names: Vec<String>,
    key_size: usize,
    max_series: usize,
    dropped: IntCounter,
    refused: labels::Refused,
    decode_errors: Count,
}

impl State {
    /// Starts a walk.
    pub fn begin(&mut self) {
        self.generation += 1;
        self.refused.begin();
    }

    /// Records one entry of the walk. Entries that render to the same label
    /// set (padding bytes differ, or fields were dropped) are summed.
    pub fn set(&mut self, key: &[u8], value: f64) {
        if key.len() < self.key_size || !self.label_key.fill(key, &mut self.scratch) {
            self.decode_errors.inc();
            return;
        }
        if let Some(s) = self.series.get_mut(self.scratch.as_slice()) {
            if s.generation == self.generation {
                s.value += value;
            } else {
                s.value = value;
                s.generation = self.generation;
            }
            return;
        }
        if self.series.len() >= self.max_series {
            if self.refused.refuse(&self.scratch) {
                self.dropped.inc();
            }
            return;
        }
        let mut pairs = labels::label_pairs(&self.names, &self.fields, key);
        pairs.insert(0, labels::pair("probe", &self.probe));
        pairs.extend(self.const_labels.iter().map(|(n, v)| labels::pair(n, v)));
        let prefix = format!("{}{{{}}} ", self.name, exposition::label_text(&pairs));
        self.series.insert(self.scratch.clone(), Series { prefix, value, generation: self.generation });
    }

    /// Ends a walk: entries not seen in it are removed.
    pub fn finish(&mut self) {
        let g = self.generation;
        self.series.retain(|_, s| s.generation == g);
        self.refused.finish();
    }

    /// Number of exported series.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether no series are exported.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

impl Samples for State {
    fn write(&self, _name: &str, out: &mut String) {
        out.reserve(self.series.len() * 64);
        for s in self.series.values() {
            out.push_str(&s.prefix);
            exposition::push_value(out, s.value);
            out.push('\n');
        }
    }
}

/// A counter or gauge whose series mirror a map's entries; unregistered
/// when dropped.
pub struct MapSeries {
    family: Registered<State>,
}

/// Everything needed to build a [`MapSeries`].
pub struct Spec<'a> {
    pub name: &'a str,
    pub help: &'a str,
    /// A counter (else a gauge).
    pub counter: bool,
    pub probe: &'a str,
    /// The map's key type.
    pub key: &'a Plan,
    /// The key fields that become labels (plus `probe`).
    pub label_fields: Vec<Field>,
    /// Their label names (`labels::label_name` of each, or renamed).
    pub label_names: Vec<String>,
    pub max_series: usize,
    pub dropped: IntCounter,
    pub decode_errors: Count,
}

impl MapSeries {
    /// Registers the metric.
    pub fn new(registry: &Registry, text: &TextRegistry, spec: Spec<'_>) -> Result<Self> {
        let Spec {
            name,
            help,
            counter,
            probe,
            key,
            label_fields: fields,
            label_names,
            max_series,
            dropped,
            decode_errors,
        } = spec;
        let names = label_names;
        let merr = |e: prometheus::Error| Error::Metric { name: name.to_string(), reason: e.to_string() };
        let mut const_labels: HashMap<String, String> = labels::probe_label(probe);
        const_labels.extend(text.const_labels().iter().cloned());
        let desc = Desc::new(name.to_string(), help.to_string(), names.clone(), const_labels).map_err(merr)?;
        let state = State {
            series: FastMap::default(),
            scratch: Vec::new(),
            label_key: labels::LabelKey::new(&fields),
            name: name.to_string(),
            probe: probe.to_string(),
            const_labels: text.const_labels().to_vec(),
            generation: 0,
            fields,
            names,
            key_size: key.size,
            max_series,
            dropped,
            refused: labels::Refused::default(),
            decode_errors,
        };
        let kind = if counter { "counter" } else { "gauge" };
        Ok(MapSeries { family: Registered::new(registry, text, desc, kind, state).map_err(merr)? })
    }

    /// Locks the state for a walk.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.family.lock()
    }
}
