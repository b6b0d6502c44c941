//! Event maps: ring buffers (one libbpf RingBuffer per probe, holding all of
//! its ringbuf maps) and perf event arrays (the fallback for kernels without
//! ringbuf); each record goes to its map's consumer.

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::rc::Rc;

use libbpf_rs::{MapType, PerfBuffer, PerfBufferBuilder, RingBuffer, RingBufferBuilder};
use prometheus::IntCounter;

use crate::config::MapConfig;
use crate::convention::{metric_name, Output};
use crate::error::{Error, Result};
use crate::probe::{Probe, WatchedMap};
use crate::schema::Plan;
use crate::sinks::events::{Events, PrintMap};
use crate::sinks::labels;
use crate::sinks::ring_metric::{self, RingKind, RingMetric};
use crate::sinks::Context;

/// What happens to each record of one event map.
enum Sink {
    Print { pm: PrintMap, events: Rc<RefCell<Events>> },
    Metric(RingMetric),
}

struct Consumer {
    plan: Plan,
    sink: Sink,
    events: IntCounter,
    decode_errors: IntCounter,
    /// Bytes a record may exceed its type by (perf pads samples to 8 bytes).
    slack: usize,
}

impl Consumer {
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
        self.events.inc();
        if rec.len() > self.plan.size + self.slack {
            // wider than its BTF type: the program and its declared type
            // disagree; count it, and still decode the declared part
            self.decode_errors.inc();
        }
        let ok = match &mut self.sink {
            Sink::Print { pm, events } => events.borrow_mut().record(pm, &self.plan, rec),
            Sink::Metric(m) => {
                m.on_event(rec);
                true
            }
        };
        if !ok {
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

/// Builds the event sources of `probe`.
pub fn build(probe: &Probe, ctx: &Context) -> Result<Sources> {
    let mut builder = RingBufferBuilder::new();
    let mut any_ring = false;
    let perf_records = Rc::new(Cell::new(0u64));
    let mut perf = Vec::new();
    for m in &probe.maps {
        match m.map_type {
            MapType::RingBuf => {
                let mut consumer = consumer(probe, m, ctx)?;
                builder
                    .add(&m.handle, move |rec: &[u8]| {
                        consumer.guarded(rec);
                        0
                    })
                    .map_err(|e| Error::libbpf(format!("map {}: adding to the ring buffer poller", m.name), e))?;
                any_ring = true;
            }
            MapType::PerfEventArray => {
                let mut consumer = consumer(probe, m, ctx)?;
                let count = perf_records.clone();
                let lost = ctx.selfm.events_lost.with_label_values(&[probe.name.as_str()]);
                let pb = PerfBufferBuilder::new(&m.handle)
                    .pages(PERF_PAGES)
                    .sample_cb(move |_cpu, rec: &[u8]| {
                        count.set(count.get() + 1);
                        consumer.guarded(rec);
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

fn consumer(probe: &Probe, m: &WatchedMap, ctx: &Context) -> Result<Consumer> {
    let labels_ = [probe.name.as_str(), m.name.as_str()];
    let events = ctx.selfm.events.with_label_values(&labels_);
    let decode_errors = ctx.selfm.decode_errors.with_label_values(&labels_);
    let default_cfg = MapConfig::default();
    let cfg = probe.map_config(&m.name).unwrap_or(&default_cfg);
    let sink = match m.output {
        Output::Print => Sink::Print {
            pm: PrintMap::new(&mut ctx.events.borrow_mut(), &probe.name, &m.name, &m.value),
            events: ctx.events.clone(),
        },
        output => {
            let (kind, value) = match output {
                Output::Counter => (RingKind::Counter, None),
                Output::Gauge => (RingKind::Gauge, Some(labels::value_field(&m.name, &m.value, cfg, output)?)),
                _ => {
                    let v = labels::value_field(&m.name, &m.value, cfg, output)?;
                    let buckets = cfg.buckets.clone().unwrap_or_else(|| ring_metric::default_buckets(&v.kind));
                    (RingKind::Hist { buckets }, Some(v))
                }
            };
            let exclude: Vec<&str> = value.iter().map(|f| f.name.as_str()).collect();
            let label_fields = labels::select(&m.name, &m.value, cfg, &exclude)?;
            Sink::Metric(RingMetric::new(
                &ctx.registry,
                ring_metric::Spec {
                    name: &metric_name(&m.name),
                    help: &format!("bee {output} of event map {}", m.name),
                    probe: &probe.name,
                    kind,
                    plan: &m.value,
                    label_fields,
                    value,
                    max_series: cfg.max_series.unwrap_or(ctx.max_series),
                    dropped: ctx.selfm.series_dropped.with_label_values(&labels_),
                    decode_errors: decode_errors.clone(),
                },
            )?)
        }
    };
    let slack = if m.map_type == MapType::PerfEventArray { 7 } else { 0 };
    Ok(Consumer { plan: m.value.clone(), sink, events, decode_errors, slack })
}
