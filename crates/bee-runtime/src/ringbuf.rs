//! Event maps: ring buffers (one libbpf RingBuffer per probe, holding all of
//! its ringbuf maps) and perf event arrays (the fallback for kernels without
//! ringbuf); each record goes to its map's sink.

use std::cell::Cell;
use std::os::fd::RawFd;
use std::rc::Rc;

use libbpf_rs::{MapType, PerfBuffer, PerfBufferBuilder, RingBuffer, RingBufferBuilder};

use crate::consumer::{Consumers, EventSink, MapInfo};
use crate::error::{Error, Result};
use crate::probe::{Probe, WatchedMap};
use crate::stats::{Count, MapStats, Reading};

/// Reads one event map into its sink.
struct Reader<E> {
    sink: E,
    records: Count,
    decode_errors: Count,
    /// Largest record that matches the value type (perf pads samples to 8
    /// bytes, so a perf record may be 7 bytes longer).
    max_len: usize,
}

impl<E: EventSink> Reader<E> {
    /// Handles one record inside libbpf's C callback: a panic (a bug) must
    /// not unwind into C, so it is caught and the record counted as a
    /// decode error.
    fn guarded(&mut self, rec: &[u8]) {
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.on_record(rec)));
        if caught.is_err() {
            self.decode_errors.inc();
        }
    }

    fn on_record(&mut self, rec: &[u8]) {
        self.records.inc();
        if rec.len() > self.max_len {
            // wider than its BTF type: the program and its declared type
            // disagree; count it, and still decode the declared part
            self.decode_errors.inc();
        }
        if !self.sink.record(rec) {
            self.decode_errors.inc();
        }
    }
}

/// The event sources of one probe.
pub struct Sources {
    ring: Option<RingBuffer<'static>>,
    perf: Vec<PerfBuffer<'static>>,
    perf_records: Rc<Cell<u64>>,
}

impl Sources {
    /// Reads everything pending; returns how many records were consumed.
    pub fn consume(&self) -> u64 {
        let mut n = 0;
        if let Some(r) = &self.ring {
            n += u64::try_from(r.consume_raw()).unwrap_or(0);
        }
        for p in &self.perf {
            let _ = p.consume();
        }
        n + self.perf_records.replace(0)
    }

    /// File descriptors to wait on (epoll fds of libbpf's buffers).
    pub fn fds(&self) -> Vec<RawFd> {
        self.ring.iter().map(|r| r.epoll_fd()).chain(self.perf.iter().map(|p| p.epoll_fd())).collect()
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
) -> Result<Sources> {
    let mut builder = RingBufferBuilder::new();
    let mut any_ring = false;
    let perf_records = Rc::new(Cell::new(0u64));
    let mut perf = Vec::new();
    for m in &probe.maps {
        match m.map_type {
            MapType::RingBuf => {
                let mut reader = reader(probe, m, consumers, stats, 0)?;
                builder
                    .add(&m.handle, move |rec: &[u8]| {
                        reader.guarded(rec);
                        0
                    })
                    .map_err(|e| Error::libbpf(format!("map {}: adding to the ring buffer poller", m.name), e))?;
                any_ring = true;
            }
            MapType::PerfEventArray => {
                let mut reader = reader(probe, m, consumers, stats, 7)?;
                let count = perf_records.clone();
                let lost = lost.clone();
                let pb = PerfBufferBuilder::new(&m.handle)
                    .pages(PERF_PAGES)
                    .sample_cb(move |_cpu, rec: &[u8]| {
                        count.set(count.get().wrapping_add(1));
                        reader.guarded(rec);
                    })
                    .lost_cb(move |_cpu, n| lost.inc_by(n))
                    .build()
                    .map_err(|e| Error::libbpf(format!("map {}: opening the perf buffer", m.name), e))?;
                perf.push(pb);
            }
            _ => {}
        }
    }
    let ring = if any_ring {
        Some(builder.build().map_err(|e| Error::libbpf(format!("probe {}: building ring buffer", probe.name), e))?)
    } else {
        None
    };
    Ok(Sources { ring, perf, perf_records })
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
        records: st.records.clone(),
        decode_errors: st.decode_errors.clone(),
        max_len: m.value.size + slack,
    };
    stats.push(st);
    Ok(reader)
}
