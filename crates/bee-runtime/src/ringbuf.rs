//! Event maps: ring buffers (read in place, see [`crate::ringread`]) and
//! perf event arrays (the fallback for kernels without ringbuf, through
//! libbpf's perf buffer); each record goes to its map's sink.

use std::cell::Cell;
use std::os::fd::RawFd;
use std::rc::Rc;

use std::os::fd::AsFd;

use libbpf_rs::{MapType, PerfBuffer, PerfBufferBuilder};

use crate::consumer::{Consumers, EventSink, MapInfo};
use crate::error::{Error, Result};
use crate::probe::{Probe, WatchedMap};
use crate::ringread::RingMap;
use crate::stats::{Count, MapStats, Reading, SoleWriter};

/// Reads one event map into its sink.
struct Reader<E> {
    sink: E,
    /// Only this reader counts the map's records.
    records: SoleWriter,
    decode_errors: Count,
    /// Largest record that matches the value type (perf pads samples to 8
    /// bytes, so a perf record may be 7 bytes longer).
    max_len: usize,
}

impl<E: EventSink> Reader<E> {
    /// Handles a group of records (one, from a perf buffer): a panic (a
    /// bug) must neither unwind into C (perf buffers call back from libbpf)
    /// nor stop the engine, so it is caught and every record of the group
    /// counted as a decode error (the sink may have counted some of them
    /// before it panicked).
    #[inline]
    fn guarded(&mut self, recs: &[&[u8]]) {
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.on_records(recs)));
        if caught.is_err() {
            self.decode_errors.inc_by(recs.len() as u64);
        }
    }

    #[inline]
    fn on_records(&mut self, recs: &[&[u8]]) {
        self.records.add(recs.len() as u64);
        // wider than its BTF type: the program and its declared type
        // disagree; count it, and still decode the declared part
        let wide = recs.iter().filter(|r| r.len() > self.max_len).count() as u64;
        let failed = self.sink.records(recs) + wide;
        if failed > 0 {
            self.decode_errors.inc_by(failed);
        }
    }
}

/// The event sources of one probe.
pub struct Sources<E> {
    rings: Vec<(RingMap, Reader<E>)>,
    perf: Vec<PerfBuffer<'static>>,
    perf_records: Rc<Cell<u64>>,
}

impl<E: EventSink> Sources<E> {
    /// Reads everything pending; returns how many records were consumed.
    pub fn consume(&mut self) -> u64 {
        let mut n = 0;
        for (ring, reader) in &mut self.rings {
            n += ring.consume(|recs| reader.guarded(recs));
        }
        for p in &self.perf {
            let _ = p.consume();
        }
        n + self.perf_records.replace(0)
    }

    /// File descriptors to wait on: the ring buffer maps, and the epoll
    /// fds of libbpf's perf buffers.
    pub fn fds(&self) -> Vec<RawFd> {
        use std::os::fd::AsRawFd;
        self.rings.iter().map(|(r, _)| r.fd().as_raw_fd()).chain(self.perf.iter().map(|p| p.epoll_fd())).collect()
    }
}

/// Pages per CPU of a perf buffer.
const PERF_PAGES: usize = 64;

/// Builds the event sources of `probe`, with one sink per event map from
/// `consumers`; their counters go into `stats` (and perf losses into `lost`).
pub fn build<C: Consumers>(
    probe: &Probe,
    consumers: &mut C,
    stats: &mut Vec<MapStats>,
    lost: &Count,
) -> Result<Sources<C::Events>> {
    let mut rings = Vec::new();
    let perf_records = Rc::new(Cell::new(0u64));
    let mut perf = Vec::new();
    for m in &probe.maps {
        match m.map_type {
            MapType::RingBuf => {
                let ring = RingMap::new(m.handle.as_fd(), m.max_entries)
                    .map_err(|e| Error::libbpf(format!("map {}: mapping the ring buffer", m.name), e.into()))?;
                rings.push((ring, reader(probe, m, consumers, stats, 0)?));
            }
            MapType::PerfEventArray => {
                let mut reader = reader(probe, m, consumers, stats, 7)?;
                let count = perf_records.clone();
                let lost = lost.clone();
                let pb = PerfBufferBuilder::new(&m.handle)
                    .pages(PERF_PAGES)
                    .sample_cb(move |_cpu, rec: &[u8]| {
                        count.set(count.get().wrapping_add(1));
                        reader.guarded(&[rec]);
                    })
                    .lost_cb(move |_cpu, n| lost.inc_by(n))
                    .build()
                    .map_err(|e| Error::libbpf(format!("map {}: opening the perf buffer", m.name), e))?;
                perf.push(pb);
            }
            _ => {}
        }
    }
    Ok(Sources { rings, perf, perf_records })
}

fn reader<C: Consumers>(
    probe: &Probe,
    m: &WatchedMap,
    consumers: &mut C,
    stats: &mut Vec<MapStats>,
    slack: usize,
) -> Result<Reader<C::Events>> {
    let st = MapStats::new(&m.name, Reading::Events, m.max_entries);
    let info = MapInfo {
        probe: &probe.name,
        map: &m.name,
        output: m.output,
        key: None,
        value: &m.value,
        percpu_slot: None,
        max_entries: m.max_entries,
        stats: &st,
    };
    let sink = consumers.event_sink(&info)?;
    let reader = Reader {
        sink,
        records: st.records.sole_writer(),
        decode_errors: st.decode_errors.clone(),
        max_len: m.value.size + slack,
    };
    stats.push(st);
    Ok(reader)
}
