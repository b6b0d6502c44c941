//! Metrics mirrored from hash/array maps: after every walk the exported
//! series are exactly the map's entries (an entry the probe deleted stops
//! being exported; a recreated counter starts again, which Prometheus reads
//! as a counter reset).

use std::sync::{Arc, Mutex, MutexGuard};

use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, LabelPair, MetricFamily, MetricType};
use prometheus::{IntCounter, Registry};

use crate::error::{Error, Result};
use crate::fasthash::FastMap;
use crate::schema::{Field, Plan};
use crate::sinks::labels;

struct Series {
    labels: Vec<LabelPair>,
    value: f64,
    generation: u64,
}

/// The mutable state behind a [`MapSeries`]: updated by the walker.
pub struct State {
    /// Keyed by the bytes of the label fields (not the whole key: padding
    /// and dropped fields must not split a label set).
    series: FastMap<Vec<u8>, Series>,
    scratch: Vec<u8>,
    ranges: Vec<std::ops::Range<usize>>,
    probe_pair: LabelPair,
    generation: u64,
    fields: Vec<Field>,
    names: Vec<String>,
    key_size: usize,
    max_series: usize,
    dropped: IntCounter,
    decode_errors: IntCounter,
}

impl State {
    /// Starts a walk.
    pub fn begin(&mut self) {
        self.generation += 1;
    }

    /// Records one entry of the walk. Entries that render to the same label
    /// set (padding bytes differ, or fields were dropped) are summed.
    pub fn set(&mut self, key: &[u8], value: f64) {
        if key.len() < self.key_size || !labels::key_from_ranges(&self.ranges, key, &mut self.scratch) {
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
            self.dropped.inc();
            return;
        }
        let mut labels = labels::label_pairs(&self.names, &self.fields, key);
        labels.insert(0, self.probe_pair.clone());
        self.series.insert(self.scratch.clone(), Series { labels, value, generation: self.generation });
    }

    /// Ends a walk: entries not seen in it are removed.
    pub fn finish(&mut self) {
        let g = self.generation;
        self.series.retain(|_, s| s.generation == g);
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

struct Inner {
    desc: Desc,
    kind: MetricType,
    state: Mutex<State>,
}

/// A counter or gauge whose series mirror a map's entries.
#[derive(Clone)]
pub struct MapSeries {
    inner: Arc<Inner>,
    registry: Registry,
}

impl MapSeries {
    /// Registers metric `name` labelled by the key's fields.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        registry: &Registry,
        name: &str,
        help: &str,
        counter: bool,
        probe: &str,
        key: &Plan,
        fields: Vec<Field>,
        max_series: usize,
        dropped: IntCounter,
        decode_errors: IntCounter,
    ) -> Result<Self> {
        let names: Vec<String> = fields.iter().map(|f| labels::label_name(&f.name)).collect();
        let merr = |e: prometheus::Error| Error::Metric { name: name.to_string(), reason: e.to_string() };
        let desc = Desc::new(name.to_string(), help.to_string(), names.clone(), labels::probe_label(probe)).map_err(merr)?;
        let state = State {
            series: FastMap::default(),
            scratch: Vec::new(),
            ranges: labels::key_ranges(&fields),
            probe_pair: labels::pair("probe", probe),
            generation: 0,
            fields,
            names,
            key_size: key.size,
            max_series,
            dropped,
            decode_errors,
        };
        let kind = if counter { MetricType::COUNTER } else { MetricType::GAUGE };
        let me = MapSeries { inner: Arc::new(Inner { desc, kind, state: Mutex::new(state) }), registry: registry.clone() };
        registry.register(Box::new(me.clone())).map_err(merr)?;
        Ok(me)
    }

    /// Locks the state for a walk.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Unregisters the metric (probe unloaded).
    pub fn unregister(&self) {
        let _ = self.registry.unregister(Box::new(self.clone()));
    }
}

impl Collector for MapSeries {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.inner.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let st = self.lock();
        let mut metrics = Vec::with_capacity(st.series.len());
        for s in st.series.values() {
            let mut m = proto::Metric::from_label(s.labels.clone());
            if self.inner.kind == MetricType::COUNTER {
                let mut c = proto::Counter::default();
                c.set_value(s.value);
                m.set_counter(c);
            } else {
                let mut g = proto::Gauge::default();
                g.set_value(s.value);
                m.set_gauge(g);
            }
            metrics.push(m);
        }
        drop(st);
        if metrics.is_empty() {
            return Vec::new();
        }
        let mut mf = MetricFamily::default();
        mf.set_name(self.inner.desc.fq_name.clone());
        mf.set_help(self.inner.desc.help.clone());
        mf.set_field_type(self.inner.kind);
        mf.set_metric(metrics);
        vec![mf]
    }
}
