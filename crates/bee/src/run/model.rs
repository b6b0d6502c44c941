//! What `bee run` shows, updated by the runtime's sinks on the engine
//! thread and read by the terminal UI.

use std::collections::VecDeque;
use std::time::Instant;

use bee_object::convention::Output;

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
    pub updated: Option<Instant>,
}

/// The whole screen's data.
#[derive(Debug, Default)]
pub struct Model {
    pub probe: String,
    pub programs: Vec<String>,
    pub state: String,
    pub maps: Vec<MapView>,
    pub errors: Vec<String>,
}

impl Model {
    pub fn map_mut(&mut self, name: &str) -> Option<&mut MapView> {
        self.maps.iter_mut().find(|m| m.name == name)
    }
}
