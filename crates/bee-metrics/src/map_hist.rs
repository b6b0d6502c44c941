//! Histograms read from hash maps whose key carries a slot (bucket index)
//! field and whose value is a count — the layout of every BCC/libbpf-tools
//! `*dist`/`*lat` tool. Each walk rebuilds one Prometheus histogram per label
//! set (the key's other fields).

use std::collections::BTreeMap;
use std::sync::MutexGuard;

use std::fmt::Write as _;

use bee_runtime::Count;
use prometheus::core::Desc;
use prometheus::{IntCounter, Registry};

use crate::error::{Error, Result};
use crate::exposition::{self, Registered, Samples, TextRegistry};
use crate::fasthash::FastMap;
use crate::labels;
use crate::settings::Scheme;
use crate::shaping;
use bee_object::decode::{self, Value};
use bee_object::schema::Field;

/// Bucket bounds of slot `i`: (lower, inclusive upper).
pub fn slot_bounds(scheme: Scheme, step: f64, i: u64) -> (f64, f64) {
    match scheme {
        Scheme::Log2 => {
            let i = i.min(1023) as i32;
            let lower = if i == 0 { 0.0 } else { 2f64.powi(i) };
            (lower, 2f64.powi(i + 1) - 1.0)
        }
        Scheme::Linear => {
            let lower = i as f64 * step;
            let upper = if step.fract() == 0.0 { lower + step - 1.0 } else { lower + step };
            (lower, upper)
        }
    }
}

struct Series {
    /// `probe="x",kind="1"` rendered once.
    labels: String,
    /// What the last complete walk found (what a scrape shows).
    counts: BTreeMap<u64, u64>,
    /// What the walk in progress has found so far.
    pending: BTreeMap<u64, u64>,
}

/// The state a walk updates.
pub struct State {
    series: FastMap<Vec<u8>, Series>,
    label_fields: Vec<Field>,
    /// The lookup key of a label set (see labels::LabelKey).
    label_key: labels::LabelKey,
    names: Vec<String>,
    probe: String,
    /// `metrics.const_labels`, after the fields' labels.
    const_labels: Vec<(String, String)>,
    slot: Field,
    /// Upper bound of each slot, `bucket_multiplier` applied (slots 0..=1023).
    bounds: Vec<(f64, f64)>,
    max_series: usize,
    dropped: IntCounter,
    refused: labels::Refused,
    decode_errors: Count,
}

impl State {
    /// Starts a walk: every count is recomputed from the map.
    pub fn begin(&mut self) {
        for s in self.series.values_mut() {
            s.pending.clear();
        }
        self.refused.begin();
    }

    /// Adds one map entry: `key` holds the labels and the slot, `count` its value.
    pub fn add(&mut self, key: &[u8], count: f64) {
        let slot = match decode::read(&self.slot, key) {
            Some(Value::U(v)) => v,
            Some(Value::I(v)) if v >= 0 => v as u64,
            _ => {
                self.decode_errors.inc();
                return;
            }
        };
        let Some(k) = self.label_key.of(key) else {
            self.decode_errors.inc();
            return;
        };
        let count = if count.is_finite() && count > 0.0 { count as u64 } else { 0 };
        if let Some(s) = self.series.get_mut(k) {
            *s.pending.entry(slot).or_default() += count;
            return;
        }
        if self.series.len() >= self.max_series {
            if self.refused.refuse(k) {
                self.dropped.inc();
            }
            return;
        }
        let mut pairs = labels::label_pairs(&self.names, &self.label_fields, key);
        pairs.insert(0, labels::pair("probe", &self.probe));
        pairs.extend(self.const_labels.iter().map(|(n, v)| labels::pair(n, v)));
        let pending = BTreeMap::from([(slot, count)]);
        let labels = exposition::label_text(&pairs);
        let k = self.label_key.of(key).map(<[u8]>::to_vec).unwrap_or_default();
        self.series.insert(k, Series { labels, counts: BTreeMap::new(), pending });
    }

    /// Ends a walk. A complete one replaces the counts (label sets without
    /// entries disappear); a failed one changes nothing that scrapes see.
    pub fn finish(&mut self, complete: bool) {
        for s in self.series.values_mut() {
            let pending = std::mem::take(&mut s.pending);
            if complete {
                s.counts = pending;
            }
        }
        if complete {
            self.refused.finish();
        }
        self.series.retain(|_, s| !s.counts.is_empty());
    }
}

impl Samples for State {
    fn write(&self, name: &str, out: &mut String) {
        let st = self;
        // the same bucket bounds for every series: slots 0..=highest seen
        let Some(max_slot) = st.series.values().filter_map(|s| s.counts.keys().next_back()).max().copied() else {
            return;
        };
        let max_slot = max_slot.min(1023);
        for s in st.series.values() {
            let (mut cum, mut sum) = (0u64, 0f64);
            for i in 0..=max_slot {
                let n = s.counts.get(&i).copied().unwrap_or(0);
                let (lo, hi) = st.bounds.get(i as usize).copied().unwrap_or((0.0, 0.0));
                cum += n;
                sum += n as f64 * (lo + hi) / 2.0;
                let _ = write!(out, "{name}_bucket{{{},le=\"", s.labels);
                exposition::push_value(out, hi);
                out.push_str("\"} ");
                decode::push_u64(out, cum);
                out.push('\n');
            }
            // slots beyond the cap still count in the total
            cum += s.counts.range(max_slot + 1..).map(|(_, n)| n).sum::<u64>();
            let _ = writeln!(out, "{name}_bucket{{{},le=\"+Inf\"}} {cum}", s.labels);
            let _ = write!(out, "{name}_sum{{{}}} ", s.labels);
            exposition::push_value(out, sum);
            out.push('\n');
            let _ = writeln!(out, "{name}_count{{{}}} {cum}", s.labels);
        }
    }
}

/// A histogram family mirrored from a hash map; unregistered when dropped.
pub struct MapHist {
    family: Registered<State>,
}

/// Everything needed to build a [`MapHist`].
pub struct Spec<'a> {
    pub name: &'a str,
    pub help: &'a str,
    pub probe: &'a str,
    pub label_fields: Vec<Field>,
    /// Their label names (`labels::label_name` of each, or renamed).
    pub label_names: Vec<String>,
    pub slot: Field,
    pub scheme: Scheme,
    pub step: f64,
    /// `bucket_multiplier`: bucket bounds (and the sum) are scaled by it.
    pub multiplier: f64,
    pub max_series: usize,
    pub dropped: IntCounter,
    pub decode_errors: Count,
}

impl MapHist {
    /// Registers the histogram.
    pub fn new(registry: &Registry, text: &TextRegistry, spec: Spec<'_>) -> Result<Self> {
        let names = spec.label_names;
        let merr = |e: prometheus::Error| Error::Metric { name: spec.name.to_string(), reason: e.to_string() };
        let mut const_labels = labels::probe_label(spec.probe);
        const_labels.extend(text.const_labels().iter().cloned());
        let desc =
            Desc::new(spec.name.to_string(), spec.help.to_string(), names.clone(), const_labels).map_err(merr)?;
        let (m, (scheme, step)) = (spec.multiplier, (spec.scheme, spec.step));
        let bounds = (0..=1023u64)
            .map(|i| {
                let (lo, hi) = slot_bounds(scheme, step, i);
                (shaping::scale(lo, m), shaping::scale(hi, m))
            })
            .collect();
        let state = State {
            series: FastMap::default(),
            label_key: labels::LabelKey::new(&spec.label_fields),
            label_fields: spec.label_fields,
            names,
            probe: spec.probe.to_string(),
            const_labels: text.const_labels().to_vec(),
            slot: spec.slot,
            bounds,
            max_series: spec.max_series,
            dropped: spec.dropped,
            refused: labels::Refused::default(),
            decode_errors: spec.decode_errors,
        };
        Ok(MapHist { family: Registered::new(registry, text, desc, "histogram", state).map_err(merr)? })
    }

    /// Locks the state for a walk.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.family.lock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_and_linear_bounds() {
        assert_eq!(slot_bounds(Scheme::Log2, 1.0, 0), (0.0, 1.0));
        assert_eq!(slot_bounds(Scheme::Log2, 1.0, 1), (2.0, 3.0));
        assert_eq!(slot_bounds(Scheme::Log2, 1.0, 10), (1024.0, 2047.0));
        assert_eq!(slot_bounds(Scheme::Linear, 1.0, 5), (5.0, 5.0));
        assert_eq!(slot_bounds(Scheme::Linear, 10.0, 2), (20.0, 29.0));
        assert_eq!(slot_bounds(Scheme::Linear, 0.5, 2), (1.0, 1.5));
    }
}
