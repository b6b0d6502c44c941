//! What `bee run` shows, updated by the runtime's sinks on the engine
//! thread and read by the terminal UI.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use bee_object::convention::Output;
use bee_object::decode;
use bee_object::schema::FieldKind;

/// Events kept per print map for the UI.
pub const EVENT_ROWS: usize = 1000;

/// One watched map's pane.
#[derive(Debug, Clone)]
pub struct MapView {
    pub name: String,
    pub output: Output,
    /// Records arrive (a ring buffer or perf buffer), else walked.
    pub events: bool,
    /// Column names: key fields then value fields.
    pub columns: Vec<String>,
    /// Key columns among `columns` (walked maps).
    pub key_columns: usize,
    /// Events (newest last) or the entries of the last walk.
    pub rows: VecDeque<Vec<String>>,
    /// Records or entries shown (after the filter).
    pub shown: u64,
    /// Records read (before the filter).
    pub records: u64,
    /// Counters: value per row at the previous walk, and its rate per second.
    pub rates: Vec<Option<f64>>,
    /// Histograms: (label set, [(upper bound text, count)]).
    pub hists: Vec<(String, Vec<(String, f64)>)>,
    /// Counter, gauge and hist event maps: per label set, the count or last
    /// value, and the counts per log2 slot of the value (`materialize`
    /// turns them into `rows` or `hists`).
    pub series: BTreeMap<Vec<String>, (f64, Vec<f64>)>,
    /// The kind of the value field of a gauge or hist event map.
    pub value_kind: Option<FieldKind>,
    pub updated: Option<Instant>,
}

impl MapView {
    /// Fills `rows` (counters, gauges) or `hists` from `series`, for the
    /// screen: done when drawing, not for every event.
    pub fn materialize(&mut self) {
        if !self.events || self.output == Output::Print {
            return;
        }
        if self.output == Output::Hist {
            let kind = self.value_kind.clone().unwrap_or(FieldKind::Unsigned(8));
            self.hists = self
                .series
                .iter()
                .map(|(k, (_, slots))| {
                    let bars = slots
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (bound_text(&kind, 2f64.powi(i as i32 + 1)), *c))
                        .collect();
                    (k.join(" "), bars)
                })
                .collect();
        } else {
            self.rows = self
                .series
                .iter()
                .map(|(k, (v, _))| {
                    let mut r = k.clone();
                    r.push(format!("{v}"));
                    r
                })
                .collect();
        }
    }
}

/// log2 bucket bounds as text: `≤ 1.0µs`, ...
fn bound_text(kind: &FieldKind, upper: f64) -> String {
    let mut s = String::from("< ");
    if matches!(kind, FieldKind::Duration) {
        decode::write_duration(&mut s, upper as u64);
    } else {
        s.push_str(&format!("{upper}"));
    }
    s
}

/// The whole screen's data.
#[derive(Debug, Default)]
pub struct Model {
    pub probe: String,
    pub programs: Vec<String>,
    pub state: String,
    pub maps: Vec<MapView>,
    pub errors: Vec<String>,
    /// `--program-stats`: each program's runs and ns per run.
    pub costs: Option<String>,
}

impl Model {
    pub fn map_mut(&mut self, name: &str) -> Option<&mut MapView> {
        self.maps.iter_mut().find(|m| m.name == name)
    }
}
