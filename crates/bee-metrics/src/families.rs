//! The Prometheus family of a watched counter, gauge or hist map, built
//! from the runtime's description of the map and its settings: a
//! [`RingMetric`] for an event map (every record updates it), a
//! [`MapMetric`] for a walked map (each walk mirrors the map).

use bee_object::convention::Output;
use bee_object::percpu;
use bee_object::schema::Field;
use bee_runtime::{Count, MapInfo};
use prometheus::{IntCounterVec, Registry};

use crate::error::{Error, Result};
use crate::exposition::TextRegistry;
use crate::labels;
use crate::map_hist::{self, MapHist};
use crate::map_series::{self, MapSeries};
use crate::ring_metric::{self, RingKind, RingMetric};
use crate::settings::MapSettings;
use crate::shaping;

/// Where families are registered, and the limits they keep.
#[derive(Clone)]
pub struct Families {
    pub registry: Registry,
    /// Families that render their own text (walked maps).
    pub text: TextRegistry,
    /// `beed_series_dropped_total{probe,map}`: label sets refused at `max_series`.
    pub series_dropped: IntCounterVec,
    /// Series per family unless a map's settings say otherwise.
    pub max_series: usize,
}

/// The family of a walked counter/gauge or hist map.
pub enum MapMetric {
    /// `scale`: `value_multiplier` (1 when unset).
    Series {
        series: MapSeries,
        field: Field,
        slot: Option<usize>,
        decode_errors: Count,
        scale: f64,
    },
    Hist {
        hist: MapHist,
        field: Field,
        slot: Option<usize>,
        decode_errors: Count,
    },
}

impl Families {
    /// The family of event map `m` (a counter, gauge or hist map).
    pub fn event_metric(&self, m: &MapInfo<'_>, cfg: &MapSettings) -> Result<RingMetric> {
        shaping::check(m.map, m.output, true, cfg)?;
        let multiplier = cfg.bucket_multiplier.or(cfg.value_multiplier).unwrap_or(1.0);
        let (kind, value) = match m.output {
            Output::Counter => (RingKind::Counter, None),
            Output::Gauge => (RingKind::Gauge, Some(labels::value_field(m.map, m.value, cfg, m.output)?)),
            output => {
                let v = labels::value_field(m.map, m.value, cfg, output)?;
                // configured buckets are in the exported unit; the defaults scale
                let buckets = cfg.buckets.clone().unwrap_or_else(|| {
                    ring_metric::default_buckets(&v.kind).iter().map(|b| shaping::scale(*b, multiplier)).collect()
                });
                (RingKind::Hist { buckets }, Some(v))
            }
        };
        let exclude: Vec<&str> = value.iter().map(|f| f.name.as_str()).collect();
        let label_fields = labels::select(m.map, m.value, cfg, &exclude)?;
        let label_names = shaping::label_names(m.map, &label_fields, cfg, &self.text.const_label_names())?;
        RingMetric::new(
            &self.registry,
            &self.text,
            ring_metric::Spec {
                name: &shaping::family_name(m.map, cfg),
                help: &shaping::help(m.map, m.output, true, cfg),
                probe: m.probe,
                kind,
                plan: m.value,
                label_fields,
                label_names,
                value,
                multiplier,
                max_series: cfg.max_series.unwrap_or(self.max_series),
                dropped: self.series_dropped.with_label_values(&[m.probe, m.map]),
                decode_errors: m.stats.decode_errors.clone(),
            },
        )
    }

    /// The family of walked map `m` (a counter, gauge or hist map).
    pub fn map_metric(&self, m: &MapInfo<'_>, cfg: &MapSettings) -> Result<MapMetric> {
        let err = |reason: String| Error::map(m.map, reason);
        let key = m.key.ok_or_else(|| err("has no key type".into()))?;
        shaping::check(m.map, m.output, false, cfg)?;
        let max_series = cfg.max_series.unwrap_or(self.max_series);
        let help = shaping::help(m.map, m.output, false, cfg);
        let name = shaping::family_name(m.map, cfg);
        let const_labels = self.text.const_label_names();
        let dropped = self.series_dropped.with_label_values(&[m.probe, m.map]);
        let field = m.value.fields.first().cloned().ok_or_else(|| err("value has no fields".into()))?;
        let (slot, decode_errors) = (m.percpu_slot, m.stats.decode_errors.clone());
        Ok(if m.output == Output::Hist {
            let slot_field = labels::slot_field(m.probe, m.map, key, cfg)?;
            let label_fields = labels::select(m.map, key, cfg, &[slot_field.name.as_str()])?;
            let hist = MapHist::new(
                &self.registry,
                &self.text,
                map_hist::Spec {
                    name: &name,
                    help: &help,
                    probe: m.probe,
                    label_names: shaping::label_names(m.map, &label_fields, cfg, &const_labels)?,
                    label_fields,
                    slot: slot_field,
                    scheme: cfg.scheme,
                    step: cfg.step.unwrap_or(1.0),
                    multiplier: cfg.bucket_multiplier.unwrap_or(1.0),
                    max_series,
                    dropped,
                    decode_errors: decode_errors.clone(),
                },
            )?;
            MapMetric::Hist { hist, field, slot, decode_errors }
        } else {
            let label_fields = labels::select(m.map, key, cfg, &[])?;
            let series = MapSeries::new(
                &self.registry,
                &self.text,
                map_series::Spec {
                    name: &name,
                    help: &help,
                    counter: m.output == Output::Counter,
                    probe: m.probe,
                    key,
                    label_names: shaping::label_names(m.map, &label_fields, cfg, &const_labels)?,
                    label_fields,
                    max_series,
                    dropped,
                    decode_errors: decode_errors.clone(),
                },
            )?;
            let scale = cfg.value_multiplier.unwrap_or(1.0);
            MapMetric::Series { series, field, slot, decode_errors, scale }
        })
    }
}

impl MapMetric {
    /// Mirrors one walk: `read` reads the map, calling the closure it is
    /// given with every entry, and returns the entry count (`None`: the walk
    /// failed part way, and the family keeps what it had).
    pub fn walk(&mut self, read: impl FnOnce(&mut dyn FnMut(&[u8], &[u8])) -> Option<usize>) {
        match self {
            MapMetric::Series { series, field, slot, decode_errors, scale } => {
                let mut st = series.lock();
                st.begin();
                let mut bad = 0u64;
                let n = read(&mut |k, v| match percpu::numeric(field, v, *slot) {
                    Some(x) => st.set(k, shaping::scale(x, *scale)),
                    None => bad += 1,
                });
                if n.is_some() {
                    st.finish();
                }
                decode_errors.inc_by(bad);
            }
            MapMetric::Hist { hist, field, slot, decode_errors } => {
                let mut st = hist.lock();
                st.begin();
                let mut bad = 0u64;
                let n = read(&mut |k, v| match percpu::numeric(field, v, *slot) {
                    Some(x) => st.add(k, x),
                    None => bad += 1,
                });
                st.finish(n.is_some());
                decode_errors.inc_by(bad);
            }
        }
    }
}
