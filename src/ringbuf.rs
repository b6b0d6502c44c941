//! Ring buffer consumption: one libbpf RingBuffer per probe (all of its
//! ringbuf maps), each record handed to its map's consumer.

use std::cell::RefCell;
use std::rc::Rc;

use libbpf_rs::{RingBuffer, RingBufferBuilder};
use prometheus::IntCounter;

use crate::convention::{metric_name, Output};
use crate::error::{Error, Result};
use crate::probe::{Probe, WatchedMap};
use crate::schema::Plan;
use crate::sinks::events::{Events, PrintMap};
use crate::sinks::ring_counter::RingCounter;
use crate::sinks::Context;

/// What happens to each record of one ringbuf map.
enum Sink {
    Print { pm: PrintMap, events: Rc<RefCell<Events>> },
    Counter(RingCounter),
}

struct Consumer {
    plan: Plan,
    sink: Sink,
    events: IntCounter,
    decode_errors: IntCounter,
}

impl Consumer {
    fn on_record(&mut self, rec: &[u8]) -> i32 {
        self.events.inc();
        let ok = match &mut self.sink {
            Sink::Print { pm, events } => events.borrow_mut().record(pm, &self.plan, rec),
            Sink::Counter(c) => {
                c.on_event(rec);
                true
            }
        };
        if !ok {
            self.decode_errors.inc();
        }
        0
    }
}

/// Builds the ring buffer of `probe`, or `None` if it has no watched ringbuf.
pub fn build(probe: &Probe, ctx: &Context) -> Result<Option<RingBuffer<'static>>> {
    let mut builder = RingBufferBuilder::new();
    let mut any = false;
    for m in probe.maps.iter().filter(|m| m.map_type == libbpf_rs::MapType::RingBuf) {
        let mut consumer = consumer(probe, m, ctx)?;
        builder
            .add(&m.handle, move |rec: &[u8]| consumer.on_record(rec))
            .map_err(|e| Error::libbpf(format!("map {}: adding to the ring buffer poller", m.name), e))?;
        any = true;
    }
    if !any {
        return Ok(None);
    }
    let rb = builder.build().map_err(|e| Error::libbpf(format!("probe {}: building ring buffer", probe.name), e))?;
    Ok(Some(rb))
}

fn consumer(probe: &Probe, m: &WatchedMap, ctx: &Context) -> Result<Consumer> {
    let labels = [probe.name.as_str(), m.name.as_str()];
    let events = ctx.selfm.events.with_label_values(&labels);
    let decode_errors = ctx.selfm.decode_errors.with_label_values(&labels);
    let sink = match m.output {
        Output::Print => Sink::Print {
            pm: PrintMap::new(&mut ctx.events.borrow_mut(), &probe.name, &m.name, &m.value),
            events: ctx.events.clone(),
        },
        Output::Counter => Sink::Counter(RingCounter::new(
            &ctx.registry,
            &metric_name(&m.name),
            &format!("Events of ring buffer {} in probe {} (bee counter)", m.name, probe.name),
            &m.value,
            ctx.max_series,
            ctx.selfm.series_dropped.with_label_values(&labels),
            decode_errors.clone(),
        )?),
        other => {
            return Err(Error::Map {
                map: m.name.clone(),
                reason: format!("{other} output on a ring buffer is not supported yet"),
            })
        }
    };
    Ok(Consumer { plan: m.value.clone(), sink, events, decode_errors })
}
