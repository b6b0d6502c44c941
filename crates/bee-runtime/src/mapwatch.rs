//! Timer-driven walks of hash and array maps: every interval, each watched
//! map is read whole and handed to its sink; the probe's `beed_lost` map is
//! read by the runtime itself into its drop counter.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use bee_object::percpu;
use bee_object::schema::{Field, FieldKind};
use bee_object::LOST_MAP;
use libbpf_rs::{MapHandle, MapType};

use crate::consumer::{Consumers, Entries, MapInfo, MapSink};
use crate::error::{Error, Result};
use crate::probe::{LostMap, Probe, WatchedMap};
use crate::stats::{Count, MapStats, Reading};
use crate::walk::Walker;

enum Kind<S> {
    /// A watched map and its sink.
    Sink(S),
    /// The probe's `beed_lost` drop counter.
    Lost { counter: Count, last: u64 },
}

/// One walked map and its schedule.
pub struct MapWatch<S> {
    name: String,
    handle: MapHandle,
    walker: Walker,
    /// Per-CPU maps: bytes per CPU slot in a walked value.
    percpu_slot: Option<usize>,
    kind: Kind<S>,
    interval: Duration,
    pub next_due: Instant,
    stats: MapStats,
}

/// Builds the walkers of every non-event watched map of `probe` (and of
/// its `beed_lost` map, counted into `lost`); their counters go into `stats`.
pub fn build<C: Consumers>(
    probe: &Probe,
    consumers: &mut C,
    stats: &mut Vec<MapStats>,
    lost: &Count,
) -> Result<Vec<MapWatch<C::Walks>>> {
    let mut out = Vec::new();
    for m in probe.maps.iter().filter(|m| !matches!(m.map_type, MapType::RingBuf | MapType::PerfEventArray)) {
        let w = watch(probe, m, consumers)?;
        stats.push(w.stats.clone());
        out.push(w);
    }
    if let Some(l) = &probe.lost {
        let w = lost_watch(probe, l, lost)?;
        stats.push(w.stats.clone());
        out.push(w);
    }
    Ok(out)
}

fn lost_watch<S>(probe: &Probe, l: &LostMap, lost: &Count) -> Result<MapWatch<S>> {
    let err = |reason: String| Error::Map { map: LOST_MAP.to_string(), reason };
    let walker = Walker::new(l.key_size, l.value_size, l.percpu).map_err(|e| err(format!("walker: {e}")))?;
    let handle =
        MapHandle::try_from(&l.handle).map_err(|e| Error::libbpf(format!("map {LOST_MAP}: duplicating its fd"), e))?;
    Ok(MapWatch {
        name: LOST_MAP.to_string(),
        handle,
        walker,
        percpu_slot: l.percpu.then_some(8),
        kind: Kind::Lost { counter: lost.clone(), last: 0 },
        interval: probe.interval,
        next_due: Instant::now(),
        stats: MapStats::new(LOST_MAP, Reading::Lost, 0),
    })
}

fn watch<C: Consumers>(probe: &Probe, m: &WatchedMap, consumers: &mut C) -> Result<MapWatch<C::Walks>> {
    let err = |reason: String| Error::Map { map: m.name.clone(), reason };
    let key = m.key.as_ref().ok_or_else(|| err("has no key type".into()))?;
    let percpu = m.map_type.is_percpu();
    if (m.value.size as u32) > m.value_size || (key.size as u32) > m.key_size {
        return Err(err(format!(
            "BTF types ({} key bytes, {} value bytes) are larger than the map's ({} / {})",
            key.size, m.value.size, m.key_size, m.value_size
        )));
    }
    let walker = Walker::new(m.key_size, m.value_size, percpu).map_err(|e| err(format!("walker: {e}")))?;
    let percpu_slot = percpu.then(|| percpu::slot_size(m.value_size));
    let stats = MapStats::new(&m.name, Reading::Walked, m.max_entries);
    let info = MapInfo {
        probe: &probe.name,
        map: &m.name,
        output: m.output,
        key: Some(key),
        value: &m.value,
        percpu_slot,
        max_entries: m.max_entries,
        stats: &stats,
    };
    let sink = consumers.map_sink(&info)?;
    let handle =
        MapHandle::try_from(&m.handle).map_err(|e| Error::libbpf(format!("map {}: duplicating its fd", m.name), e))?;
    Ok(MapWatch {
        name: m.name.clone(),
        handle,
        walker,
        percpu_slot,
        kind: Kind::Sink(sink),
        interval: probe.interval,
        next_due: Instant::now(),
        stats,
    })
}

/// The u64 of a `beed_lost` slot.
const LOST_FIELD: Field = Field { name: String::new(), offset: 0, kind: FieldKind::Unsigned(8), render: None };

impl<S: MapSink> MapWatch<S> {
    /// Walks the map now and hands what it holds to its sink.
    pub fn walk(&mut self) {
        let start = Instant::now();
        // intervals are capped by the front end (24h in beed's config): the
        // addition cannot overflow, and if it somehow did the next walk is
        // simply due now
        self.next_due = start.checked_add(self.interval).unwrap_or(start);
        let fd = self.handle.as_fd();
        let res = match &mut self.kind {
            Kind::Sink(sink) => {
                let mut result = None;
                sink.walk(Entries { walker: &mut self.walker, fd, result: &mut result });
                match result {
                    Some(r) => r,
                    None => return, // the sink skipped this walk
                }
            }
            Kind::Lost { counter, last } => {
                let mut total = 0u64;
                let slot = self.percpu_slot;
                let r = self.walker.walk(fd, |_, v| {
                    total += percpu::numeric(&LOST_FIELD, v, slot).unwrap_or(0.0) as u64;
                });
                if r.is_ok() {
                    // the kernel counter only grows; if it went back the probe was reset
                    counter.inc_by(if total >= *last { total - *last } else { total });
                    *last = total;
                }
                r
            }
        };
        match res {
            Ok(n) => self.stats.entries.set(i64::try_from(n).unwrap_or(i64::MAX)),
            Err(e) => {
                self.stats.walk_errors.inc();
                tracing::warn!(map = %self.name, "walking map failed: {e}");
            }
        }
        self.stats.walk_nanos.set(i64::try_from(start.elapsed().as_nanos()).unwrap_or(i64::MAX));
    }
}
