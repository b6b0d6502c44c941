//! What the runtime counts, and the state of every probe, as values a front
//! end reads from any thread (the daemon renders them on each scrape).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::Error;

/// A counter shared between the engine thread and readers.
#[derive(Debug, Clone, Default)]
pub struct Count(Arc<AtomicU64>);

impl Count {
    #[inline]
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    #[inline]
    pub fn inc_by(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// The writing end of this counter for the one thread that updates it.
    pub fn sole_writer(&self) -> SoleWriter {
        SoleWriter(self.0.clone())
    }
}

/// The writing end of a [`Count`] that only one thread updates (the engine
/// thread, once per group of records): an addition is a plain load and store instead
/// of a locked read-modify-write, and readers still see every increment.
/// Not `Clone`: a second writer on another thread would lose increments.
#[derive(Debug)]
pub struct SoleWriter(Arc<AtomicU64>);

impl SoleWriter {
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }
}

/// A value that goes up and down, shared like [`Count`].
#[derive(Debug, Clone, Default)]
pub struct Level(Arc<AtomicI64>);

impl Level {
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// How a watched map is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// Records arrive from a ring buffer or perf buffer.
    Events,
    /// The map is walked on a timer.
    Walked,
    /// The probe's own `beed_lost` drop counter, walked on a timer.
    Lost,
}

/// Counters of one watched map.
#[derive(Debug, Clone)]
pub struct MapStats {
    pub map: String,
    pub reading: Reading,
    /// Records read (event maps).
    pub records: Count,
    /// Records or entries that did not match the map's type (counted by
    /// the runtime and by consumers).
    pub decode_errors: Count,
    /// Walks that failed (walked maps).
    pub walk_errors: Count,
    /// Entries found at the last walk.
    pub entries: Level,
    /// Duration of the last walk, in nanoseconds.
    pub walk_nanos: Level,
    /// The map's `max_entries` as loaded.
    pub max_entries: u32,
}

impl MapStats {
    pub(crate) fn new(map: &str, reading: Reading, max_entries: u32) -> Self {
        MapStats {
            map: map.to_string(),
            reading,
            records: Count::default(),
            decode_errors: Count::default(),
            walk_errors: Count::default(),
            entries: Level::default(),
            walk_nanos: Level::default(),
            max_entries,
        }
    }
}

/// Counters of one loaded probe.
#[derive(Debug, Clone, Default)]
pub struct ProbeStats {
    /// Events the kernel side could not submit: perf buffer losses and the
    /// probe's own `beed_lost` map. `None` when the probe has neither.
    pub lost: Option<Count>,
    pub maps: Vec<MapStats>,
    /// Each program's run count and time, read on demand (`progstats`).
    pub programs: Vec<crate::progstats::ProgramStats>,
}

/// The state of one configured probe.
#[derive(Debug, Clone)]
pub enum ProbeState {
    /// Loaded and attached.
    Up(ProbeStats),
    /// Its load failed (and no previous version runs).
    Failed(Arc<Error>),
}

/// Every configured probe's state, by name, updated by the engine after
/// each (re)load and read by front ends.
#[derive(Debug, Clone, Default)]
pub struct Status(Arc<Mutex<BTreeMap<String, ProbeState>>>);

impl Status {
    /// The current states; hold the guard briefly.
    pub fn lock(&self) -> MutexGuard<'_, BTreeMap<String, ProbeState>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn replace(&self, states: BTreeMap<String, ProbeState>) {
        *self.lock() = states;
    }
}
