//! The interface between the runtime and a front end (bumblebee's
//! `MapWatcher` is the model): the front end supplies a [`Consumers`]
//! factory, the runtime asks it for one sink per watched map and feeds
//! every record and every map walk to it. The runtime builds no output of
//! its own; the daemon's sinks write journal entries and Prometheus
//! series, the CLI's fill a terminal UI, a test's collect into a `Vec`.

use std::io;
use std::os::fd::BorrowedFd;

use bee_object::convention::Output;
use bee_object::schema::Plan;
use bee_object::MapSpec;

use crate::error::Error;
use crate::stats::MapStats;
use crate::walk::Walker;

/// A watched map a sink is built for.
#[derive(Debug, Clone, Copy)]
pub struct MapInfo<'a> {
    pub probe: &'a str,
    pub map: &'a str,
    /// What the convention says the map is (print, counter, gauge, hist).
    pub output: Output,
    /// Decode plan of the key (walked maps only).
    pub key: Option<&'a Plan>,
    /// Decode plan of the value (the event type of an event map).
    pub value: &'a Plan,
    /// Per-CPU maps: a walked value holds one slot of this many bytes per
    /// possible CPU (see `bee_object::percpu`).
    pub percpu_slot: Option<usize>,
    /// The map's `max_entries` as loaded.
    pub max_entries: u32,
    /// The map's counters; a sink counts what it cannot decode in
    /// `decode_errors`.
    pub stats: &'a MapStats,
}

/// Most records a ring buffer hands to [`EventSink::records`] at once:
/// enough to keep a few dozen cache misses in flight, few enough to stay in
/// L1 while the sink works on them.
pub const GROUP: usize = 32;

/// Receives every record of one ring buffer or perf event array, on the
/// engine thread, in the order the kernel wrote them.
pub trait EventSink {
    /// One record, as the kernel wrote it (a perf record may carry up to 7
    /// bytes of padding past the value type). Returns `false` if it could
    /// not be decoded (the runtime counts it as a decode error).
    fn record(&mut self, rec: &[u8]) -> bool;

    /// Consecutive records of the map (a ring buffer hands them over in
    /// groups of up to [`GROUP`]): a sink may work on them together, for example
    /// start every record's lookup before it waits for the first. Returns
    /// how many could not be decoded. Calls [`EventSink::record`] for each
    /// unless overridden.
    #[inline]
    fn records(&mut self, recs: &[&[u8]]) -> u64 {
        recs.iter().map(|r| u64::from(!self.record(r))).sum()
    }
}

/// Receives the walks of one hash or array map, on the engine thread.
pub trait MapSink {
    /// One walk of the map: read it with [`Entries::read`] (a sink that
    /// does not read skips this walk).
    fn walk(&mut self, entries: Entries<'_>);
}

/// The entries of one walk of a map.
pub struct Entries<'a> {
    pub(crate) walker: &'a mut Walker,
    pub(crate) fd: BorrowedFd<'a>,
    pub(crate) result: &'a mut Option<io::Result<usize>>,
}

impl Entries<'_> {
    /// Reads the whole map, calling `f` with each key and value (per-CPU
    /// maps: `value` holds every CPU's slot, see [`MapInfo::percpu_slot`]).
    /// Returns the number of entries, or `None` if the walk failed part way
    /// (the entries seen so far may then be partial; the runtime counts and
    /// logs the failure).
    pub fn read(self, f: impl FnMut(&[u8], &[u8])) -> Option<usize> {
        let r = self.walker.walk(self.fd, f);
        let n = r.as_ref().ok().copied();
        *self.result = Some(r);
        n
    }
}

/// A front end's factory of sinks, living on the engine thread.
pub trait Consumers {
    /// Settings of the front end applied with every (re)load, before probes
    /// load (the daemon: its event output and per-map label settings).
    type Settings: Send + 'static;
    /// The sink of an event map.
    type Events: EventSink + 'static;
    /// The sink of a walked map.
    type Walks: MapSink;

    /// Applies the settings of a (re)load. Returns a note for the load
    /// report (the daemon says where events go).
    fn configure(&mut self, settings: Self::Settings) -> String;

    /// Checks a probe's watched maps before it loads (the daemon: that its
    /// settings name only watched maps, with fields that exist). An error
    /// fails the probe (its previous version, if any, keeps running).
    fn accept(&mut self, _probe: &str, _maps: &[MapSpec]) -> Result<(), Error> {
        Ok(())
    }

    /// Builds the sink of event map `map`.
    fn event_sink(&mut self, map: &MapInfo<'_>) -> Result<Self::Events, Error>;

    /// Builds the sink of walked map `map`.
    fn map_sink(&mut self, map: &MapInfo<'_>) -> Result<Self::Walks, Error>;

    /// Called after every poll round: write out what was buffered.
    fn flush(&mut self) {}

    /// A probe is gone (removed, replaced by its new version, or failed):
    /// drop whatever is kept for it.
    fn forget(&mut self, _probe: &str) {}
}
