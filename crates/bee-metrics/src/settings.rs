//! A watched map's settings: which fields become labels, which one is the
//! value or the slot, buckets and limits.

use std::collections::BTreeMap;

use bee_decoders::FieldSettings;
use serde::Deserialize;

/// How a hash histogram's slot field maps to bucket bounds.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// Slot i holds values in [2^i, 2^(i+1)) (slot 0 also holds 0), as
    /// libbpf-tools' `log2l()` histograms do.
    #[default]
    Log2,
    /// Slot i holds values in [i*step, (i+1)*step).
    Linear,
}

/// How one watched map becomes metrics (`[probes.NAME.maps.MAP]` in beed's
/// configuration; `max_entries` is the runtime's, here to keep the table whole).
#[derive(Debug, Deserialize, Clone, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MapSettings {
    /// Only these fields become labels (default: every field that can).
    pub labels: Option<Vec<String>>,
    /// Fields never used as labels.
    pub drop: Vec<String>,
    /// The field holding the observed value of a ring buffer gauge or hist
    /// (default: `le` for hist, then `value`).
    pub value: Option<String>,
    /// Bucket upper bounds of a ring buffer hist.
    pub buckets: Option<Vec<f64>>,
    /// The slot field of a hash hist key (default: `slot`, then `bucket`).
    pub slot: Option<String>,
    pub scheme: Scheme,
    /// Slot width of a linear hash hist (default 1).
    pub step: Option<f64>,
    /// Cap on series of this map's metric (default metrics.max_series).
    pub max_series: Option<usize>,
    /// Overrides the map's `max_entries` before it is created (ring
    /// buffers: bytes, a power of two and a multiple of the page size).
    /// Any map of the object may be named for this one.
    pub max_entries: Option<u32>,
    /// Metric shaping (see `shaping.rs`): the family's name instead of
    /// `ebpf_solo_io_<map>`, its HELP text, a base unit appended to the
    /// name, scales, and label renames (`{ field_or_label = "new" }`).
    pub name: Option<String>,
    pub help: Option<String>,
    pub unit: Option<String>,
    /// Histograms: every bucket bound (and observed value) is multiplied
    /// by it (e.g. 1e-6: microseconds to seconds).
    pub bucket_multiplier: Option<f64>,
    /// Gauges and walked counters: every value is multiplied by it.
    pub value_multiplier: Option<f64>,
    pub rename: BTreeMap<String, String>,
    /// Print maps: keep one event in `sample` (the first of each N).
    pub sample: Option<u64>,
    /// Print maps: at most this many events per period (`"1000/s"`, `"60/m"`),
    /// a token bucket; the rest are counted, not written.
    pub max_rate: Option<String>,
    /// `[probes.NAME.maps.MAP.fields.FIELD]`: per-field decoders (bee-decoders).
    pub fields: BTreeMap<String, FieldSettings>,
}
