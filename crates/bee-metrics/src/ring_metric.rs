//! Metrics fed one event at a time (ring buffer and perf buffer maps):
//! counter +1 per event, gauge set to the value field, histogram observing
//! the value field; the remaining fields are labels. Label sets are cached
//! by their raw bytes, so a known label set costs one hash lookup and an
//! atomic update.

use bee_runtime::Count;
use prometheus::core::Collector;
use prometheus::{Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry};

use crate::error::{Error, Result};
use crate::fasthash::FastMap;
use crate::labels;
use bee_object::decode;
use bee_object::schema::{Field, FieldKind, Plan};

/// Which metric an event map feeds.
#[derive(Debug, Clone, PartialEq)]
pub enum RingKind {
    Counter,
    Gauge,
    Hist { buckets: Vec<f64> },
}

enum Vec3 {
    Counter(IntCounterVec),
    Gauge(GaugeVec),
    Hist(HistogramVec),
}

#[derive(Clone)]
enum Handle {
    Counter(IntCounter),
    Gauge(Gauge),
    Hist(Histogram),
}

/// Default buckets: seconds for durations, powers of two for plain numbers.
pub fn default_buckets(value: &FieldKind) -> Vec<f64> {
    match value {
        FieldKind::Duration => prometheus::DEFAULT_BUCKETS.to_vec(),
        _ => (0..=30).map(|i| f64::from(1u32 << i)).collect(),
    }
}

/// The metric of one event map.
pub struct RingMetric {
    vec: Vec3,
    registry: Registry,
    label_fields: Vec<Field>,
    /// The lookup key of a label set (see labels::LabelKey).
    label_key: labels::LabelKey,
    value: Option<Field>,
    multiplier: f64,
    size: usize,
    cache: FastMap<Vec<u8>, Handle>,
    scratch: Vec<u8>,
    /// The label set of the previous event: bursts of one label set skip the lookup.
    last: Option<(Vec<u8>, Handle)>,
    max_series: usize,
    dropped: IntCounter,
    decode_errors: Count,
}

/// Everything needed to build a [`RingMetric`].
pub struct Spec<'a> {
    pub name: &'a str,
    pub help: &'a str,
    /// Every series carries `probe="NAME"`, so probes may share metric names.
    pub probe: &'a str,
    pub kind: RingKind,
    pub plan: &'a Plan,
    pub label_fields: Vec<Field>,
    /// Their label names (`labels::label_name` of each, or renamed).
    pub label_names: Vec<String>,
    pub value: Option<Field>,
    /// The observed or set value is multiplied by it (`bucket_multiplier`,
    /// `value_multiplier`).
    pub multiplier: f64,
    pub max_series: usize,
    pub dropped: IntCounter,
    pub decode_errors: Count,
}

impl RingMetric {
    /// Registers the metric.
    pub fn new(registry: &Registry, spec: Spec<'_>) -> Result<Self> {
        let names: Vec<&str> = spec.label_names.iter().map(String::as_str).collect();
        let merr = |e: prometheus::Error| Error::Metric { name: spec.name.to_string(), reason: e.to_string() };
        let opts = || Opts::new(spec.name, spec.help).const_label("probe", spec.probe);
        let vec = match &spec.kind {
            RingKind::Counter => Vec3::Counter(IntCounterVec::new(opts(), &names).map_err(merr)?),
            RingKind::Gauge => Vec3::Gauge(GaugeVec::new(opts(), &names).map_err(merr)?),
            RingKind::Hist { buckets } => Vec3::Hist(
                HistogramVec::new(
                    HistogramOpts::new(spec.name, spec.help).const_label("probe", spec.probe).buckets(buckets.clone()),
                    &names,
                )
                .map_err(merr)?,
            ),
        };
        let boxed: Box<dyn Collector> = match &vec {
            Vec3::Counter(v) => Box::new(v.clone()),
            Vec3::Gauge(v) => Box::new(v.clone()),
            Vec3::Hist(v) => Box::new(v.clone()),
        };
        registry.register(boxed).map_err(merr)?;
        Ok(RingMetric {
            vec,
            registry: registry.clone(),
            label_key: labels::LabelKey::new(&spec.label_fields),
            label_fields: spec.label_fields,
            value: spec.value,
            multiplier: spec.multiplier,
            size: spec.plan.size,
            cache: FastMap::default(),
            scratch: Vec::new(),
            last: None,
            max_series: spec.max_series,
            dropped: spec.dropped,
            decode_errors: spec.decode_errors,
        })
    }

    /// Accounts one event.
    pub fn on_event(&mut self, rec: &[u8]) {
        if rec.len() < self.size || !self.label_key.fill(rec, &mut self.scratch) {
            self.decode_errors.inc();
            return;
        }
        let value = match &self.value {
            Some(f) => match decode::read(f, rec).and_then(|v| v.as_f64()) {
                Some(v) if self.multiplier == 1.0 => v,
                Some(v) => crate::shaping::scale(v, self.multiplier),
                None => {
                    self.decode_errors.inc();
                    return;
                }
            },
            None => 1.0,
        };
        if let Some((k, h)) = &self.last {
            if *k == self.scratch {
                apply(h, value);
                return;
            }
        }
        if let Some(h) = self.cache.get(self.scratch.as_slice()) {
            apply(h, value);
            self.remember(h.clone());
            return;
        }
        if self.cache.len() >= self.max_series {
            self.dropped.inc();
            return;
        }
        let values = labels::label_values(&self.label_fields, rec);
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let handle = match &self.vec {
            Vec3::Counter(v) => v.get_metric_with_label_values(&values).map(Handle::Counter),
            Vec3::Gauge(v) => v.get_metric_with_label_values(&values).map(Handle::Gauge),
            Vec3::Hist(v) => v.get_metric_with_label_values(&values).map(Handle::Hist),
        };
        match handle {
            Ok(h) => {
                apply(&h, value);
                self.cache.insert(self.scratch.clone(), h.clone());
                self.remember(h);
            }
            Err(_) => self.decode_errors.inc(),
        }
    }
}

impl RingMetric {
    fn remember(&mut self, h: Handle) {
        match &mut self.last {
            Some((k, last)) => {
                k.clear();
                k.extend_from_slice(&self.scratch);
                *last = h;
            }
            None => self.last = Some((self.scratch.clone(), h)),
        }
    }
}

fn apply(h: &Handle, value: f64) {
    match h {
        Handle::Counter(c) => c.inc(),
        Handle::Gauge(g) => g.set(value),
        Handle::Hist(hist) => hist.observe(value),
    }
}

impl Drop for RingMetric {
    fn drop(&mut self) {
        let boxed: Box<dyn Collector> = match &self.vec {
            Vec3::Counter(v) => Box::new(v.clone()),
            Vec3::Gauge(v) => Box::new(v.clone()),
            Vec3::Hist(v) => Box::new(v.clone()),
        };
        let _ = self.registry.unregister(boxed);
    }
}
