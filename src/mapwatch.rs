//! Timer-driven consumers of hash and array maps: print the entries that
//! changed since the last walk, or mirror the entries as counters/gauges.

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

#[allow(unused_imports)]
use libbpf_rs::MapCore as _;
use libbpf_rs::{MapHandle, MapType};
use prometheus::{Gauge, IntCounter, IntGauge};

use crate::config::MapConfig;
use crate::convention::{metric_name, Output};
use crate::decode;
use crate::error::{Error, Result};
use crate::probe::{Probe, WatchedMap};
use crate::schema::{Field, FieldKind, Plan};
use crate::sinks::events::PrintMap;
use crate::sinks::labels;
use crate::sinks::map_hist::{self, MapHist};
use crate::sinks::map_series::MapSeries;
use crate::sinks::Context;
use crate::walk::Walker;

enum Kind {
    Print {
        pm: PrintMap,
        prev: HashMap<Vec<u8>, Vec<u8>>,
        seen: Vec<(Vec<u8>, Vec<u8>)>,
        summed: Vec<u8>,
    },
    Metric {
        series: MapSeries,
        field: Field,
    },
    Hist {
        hist: MapHist,
        field: Field,
    },
    /// The probe's `beed_lost` drop counter.
    Lost {
        counter: IntCounter,
        last: u64,
    },
}

/// One watched hash/array map and its schedule.
pub struct MapWatch {
    pub name: String,
    handle: MapHandle,
    walker: Walker,
    key: Plan,
    value: Plan,
    /// Per-CPU maps: bytes per CPU slot in a walked value.
    percpu_slot: Option<usize>,
    kind: Kind,
    interval: Duration,
    pub next_due: Instant,
    walk_seconds: Gauge,
    walk_errors: IntCounter,
    entries: IntGauge,
    decode_errors: IntCounter,
}

impl Drop for MapWatch {
    fn drop(&mut self) {
        match &self.kind {
            Kind::Metric { series, .. } => series.unregister(),
            Kind::Hist { hist, .. } => hist.unregister(),
            Kind::Print { .. } | Kind::Lost { .. } => {}
        }
    }
}

/// Builds the walkers of every non-ringbuf watched map of `probe`.
pub fn build(probe: &Probe, ctx: &Context) -> Result<Vec<MapWatch>> {
    let mut out: Vec<MapWatch> = probe
        .maps
        .iter()
        .filter(|m| !matches!(m.map_type, MapType::RingBuf | MapType::PerfEventArray))
        .map(|m| watch(probe, m, ctx))
        .collect::<Result<_>>()?;
    if let Some(l) = &probe.lost {
        out.push(lost_watch(probe, l, ctx)?);
    }
    Ok(out)
}

fn lost_watch(probe: &Probe, l: &crate::probe::LostMap, ctx: &Context) -> Result<MapWatch> {
    let name = crate::probe::LOST_MAP;
    let labels = [probe.name.as_str(), name];
    let err = |reason: String| Error::Map { map: name.to_string(), reason };
    let walker = Walker::new(l.key_size, l.value_size, l.percpu).map_err(|e| err(format!("walker: {e}")))?;
    let handle =
        MapHandle::try_from(&l.handle).map_err(|e| Error::libbpf(format!("map {name}: duplicating its fd"), e))?;
    let u64_plan = Plan {
        type_name: "u64".into(),
        size: 8,
        fields: vec![Field { name: "value".into(), offset: 0, kind: FieldKind::Unsigned(8) }],
    };
    Ok(MapWatch {
        name: name.to_string(),
        handle,
        walker,
        key: u64_plan.clone(),
        value: u64_plan,
        percpu_slot: l.percpu.then_some(8),
        kind: Kind::Lost { counter: ctx.selfm.events_lost.with_label_values(&[probe.name.as_str()]), last: 0 },
        interval: probe.interval,
        next_due: Instant::now(),
        walk_seconds: ctx.selfm.walk_seconds.with_label_values(&labels),
        walk_errors: ctx.selfm.walk_errors.with_label_values(&labels),
        entries: ctx.selfm.map_entries.with_label_values(&labels),
        decode_errors: ctx.selfm.decode_errors.with_label_values(&labels),
    })
}

fn watch(probe: &Probe, m: &WatchedMap, ctx: &Context) -> Result<MapWatch> {
    let labels = [probe.name.as_str(), m.name.as_str()];
    let err = |reason: String| Error::Map { map: m.name.clone(), reason };
    let key = m.key.clone().ok_or_else(|| err("has no key type".into()))?;
    let percpu = m.map_type.is_percpu();
    if (m.value.size as u32) > m.value_size || (key.size as u32) > m.key_size {
        return Err(err(format!(
            "BTF types ({} key bytes, {} value bytes) are larger than the map's ({} / {})",
            key.size, m.value.size, m.key_size, m.value_size
        )));
    }
    let walker = Walker::new(m.key_size, m.value_size, percpu).map_err(|e| err(format!("walker: {e}")))?;
    let decode_errors = ctx.selfm.decode_errors.with_label_values(&labels);
    let default_cfg = MapConfig::default();
    let cfg = probe.map_config(&m.name).unwrap_or(&default_cfg);
    let max_series = cfg.max_series.unwrap_or(ctx.max_series);
    let help = format!("bee {} of map {}", m.output, m.name);
    let kind = match m.output {
        Output::Print => {
            let pm = PrintMap::new(&mut ctx.events.borrow_mut(), &probe.name, &m.name, &m.value);
            Kind::Print { pm, prev: HashMap::new(), seen: Vec::new(), summed: vec![0; m.value.size] }
        }
        Output::Counter | Output::Gauge => {
            let field = m.value.fields.first().cloned().ok_or_else(|| err("value has no fields".into()))?;
            let series = MapSeries::new(
                &ctx.registry,
                &ctx.text,
                &metric_name(&m.name),
                &help,
                m.output == Output::Counter,
                &probe.name,
                &key,
                labels::select(&m.name, &key, cfg, &[])?,
                max_series,
                ctx.selfm.series_dropped.with_label_values(&labels),
                decode_errors.clone(),
            )?;
            Kind::Metric { series, field }
        }
        Output::Hist => {
            let field = m.value.fields.first().cloned().ok_or_else(|| err("value has no fields".into()))?;
            let slot = labels::slot_field(&probe.name, &m.name, &key, cfg)?;
            let hist = MapHist::new(
                &ctx.registry,
                &ctx.text,
                map_hist::Spec {
                    name: &metric_name(&m.name),
                    help: &help,
                    probe: &probe.name,
                    label_fields: labels::select(&m.name, &key, cfg, &[slot.name.as_str()])?,
                    slot,
                    scheme: cfg.scheme,
                    step: cfg.step.unwrap_or(1.0),
                    max_series,
                    dropped: ctx.selfm.series_dropped.with_label_values(&labels),
                    decode_errors: decode_errors.clone(),
                },
            )?;
            Kind::Hist { hist, field }
        }
    };
    ctx.selfm.map_max_entries.with_label_values(&labels).set(m.max_entries as i64);
    let handle = libbpf_rs::MapHandle::try_from(&m.handle)
        .map_err(|e| Error::libbpf(format!("map {}: duplicating its fd", m.name), e))?;
    Ok(MapWatch {
        name: m.name.clone(),
        handle,
        walker,
        key,
        value: m.value.clone(),
        percpu_slot: percpu.then(|| (m.value_size as usize).div_ceil(8) * 8),
        kind,
        interval: probe.interval,
        next_due: Instant::now(),
        walk_seconds: ctx.selfm.walk_seconds.with_label_values(&labels),
        walk_errors: ctx.selfm.walk_errors.with_label_values(&labels),
        entries: ctx.selfm.map_entries.with_label_values(&labels),
        decode_errors,
    })
}

/// Sum of a numeric field over every CPU slot (or the single value).
fn numeric(field: &Field, value: &[u8], slot: Option<usize>) -> Option<f64> {
    match slot {
        None => decode::read(field, value)?.as_f64(),
        Some(n) if n > 0 => value.chunks_exact(n).map(|c| decode::read(field, c).and_then(|v| v.as_f64())).sum(),
        Some(_) => None,
    }
}

/// Sums the integer fields of every CPU's slot into `out`; other fields are
/// taken from the first CPU.
fn sum_percpu(plan: &Plan, value: &[u8], slot: usize, out: &mut [u8]) {
    let n = plan.size.min(out.len()).min(slot).min(value.len());
    out.fill(0);
    out[..n].copy_from_slice(&value[..n]);
    for f in &plan.fields {
        let w = f.kind.width();
        let summable = matches!(f.kind, FieldKind::Unsigned(_) | FieldKind::Signed(_) | FieldKind::Duration);
        if !summable || w > 8 || f.offset + w > n {
            continue;
        }
        let mut acc = 0u64;
        for cpu in value.chunks_exact(slot) {
            let mut b = [0u8; 8];
            b[..w].copy_from_slice(&cpu[f.offset..f.offset + w]);
            acc = acc.wrapping_add(u64::from_le_bytes(b));
        }
        out[f.offset..f.offset + w].copy_from_slice(&acc.to_le_bytes()[..w]);
    }
}

impl MapWatch {
    /// Walks the map now and publishes what it holds.
    pub fn walk(&mut self, ctx: &Context) {
        let start = Instant::now();
        // intervals are capped by the config (24h): the addition cannot
        // overflow, and if it somehow did the next walk is simply due now
        self.next_due = start.checked_add(self.interval).unwrap_or(start);
        let fd = self.handle.as_fd();
        let res = match &mut self.kind {
            Kind::Metric { series, field } => {
                let mut st = series.lock();
                st.begin();
                let slot = self.percpu_slot;
                let mut bad = 0u64;
                let r = self.walker.walk(fd, |k, v| match numeric(field, v, slot) {
                    Some(x) => st.set(k, x),
                    None => bad += 1,
                });
                if r.is_ok() {
                    st.finish();
                }
                self.decode_errors.inc_by(bad);
                r
            }
            Kind::Lost { counter, last } => {
                let mut total = 0u64;
                let slot = self.percpu_slot;
                let field = self.value.fields.first();
                let r = self.walker.walk(fd, |_, v| {
                    total += field.and_then(|f| numeric(f, v, slot)).unwrap_or(0.0) as u64;
                });
                if r.is_ok() {
                    // the kernel counter only grows; if it went back the probe was reset
                    counter.inc_by(if total >= *last { total - *last } else { total });
                    *last = total;
                }
                r
            }
            Kind::Hist { hist, field } => {
                let mut st = hist.lock();
                st.begin();
                let slot = self.percpu_slot;
                let mut bad = 0u64;
                let r = self.walker.walk(fd, |k, v| match numeric(field, v, slot) {
                    Some(x) => st.add(k, x),
                    None => bad += 1,
                });
                st.finish(r.is_ok());
                self.decode_errors.inc_by(bad);
                r
            }
            Kind::Print { pm, prev, seen, summed } => {
                seen.clear();
                let slot = self.percpu_slot;
                let plan = &self.value;
                let r = self.walker.walk(fd, |k, v| {
                    // per-CPU maps: one value, integer fields summed over CPUs
                    let v = match slot {
                        Some(n) => {
                            sum_percpu(plan, v, n, summed);
                            summed.as_slice()
                        }
                        None => v,
                    };
                    if prev.get(k).is_none_or(|old| old.as_slice() != v) {
                        seen.push((k.to_vec(), v.to_vec()));
                    }
                });
                if let Ok(total) = r {
                    if !seen.is_empty() {
                        let changed = seen.iter().map(|(k, v)| (k.as_slice(), v.as_slice()));
                        ctx.events.borrow_mut().entries(pm, &self.key, &self.value, changed);
                    }
                    for (k, v) in seen.drain(..) {
                        prev.insert(k, v);
                    }
                    if prev.len() > total {
                        // entries were deleted: forget them so a re-created key prints again
                        let mut live = std::collections::HashSet::new();
                        let _ = self.walker.walk(fd, |k, _| {
                            live.insert(k.to_vec());
                        });
                        prev.retain(|k, _| live.contains(k));
                    }
                }
                r
            }
        };
        match res {
            Ok(n) => self.entries.set(n as i64),
            Err(e) => {
                self.walk_errors.inc();
                tracing::warn!(map = %self.name, "walking map failed: {e}");
            }
        }
        self.walk_seconds.set(start.elapsed().as_secs_f64());
    }
}
