//! `bee run`'s consumers of the runtime: every record and every walk goes
//! either to stdout as JSON lines (the shape beed writes) or into the
//! terminal UI's model.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bee_metrics::ring_metric::RingMetric;
use bee_metrics::{Families, MapMetric, MapSettings};
use bee_object::convention::Output;
use bee_object::decode;
use bee_object::percpu;
use bee_object::schema::{Field, FieldKind, Plan};
use bee_runtime::{Consumers, Entries, EventSink, MapInfo, MapSink};
use regex::Regex;

use super::filter::Filters;
use super::model::{MapView, Model, EVENT_ROWS};

/// Where records go.
#[derive(Clone)]
pub enum Out {
    /// JSON lines on stdout, buffered and written at each flush.
    Json(Rc<RefCell<Vec<u8>>>),
    /// The terminal UI's model.
    Ui(Arc<Mutex<Model>>),
}

/// The factory the runtime asks for sinks.
pub struct RunConsumers {
    pub out: Out,
    pub filters: Filters,
    /// `--prom-port`: where the Prometheus families of metric maps go.
    pub families: Option<Families>,
}

fn lock(m: &Arc<Mutex<Model>>) -> MutexGuard<'_, Model> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn text(f: &Field, rec: &[u8]) -> String {
    let mut s = String::new();
    match decode::read(f, rec) {
        Some(v) => v.write_text(&mut s),
        None => s.push('?'),
    }
    s
}

/// Whether `rec` passes the map's filter (a field of the plan).
fn passes(filter: &Option<(Field, Regex)>, rec: &[u8]) -> bool {
    filter.as_ref().is_none_or(|(f, re)| re.is_match(&text(f, rec)))
}

fn json_prefix(probe: &str, map: &str) -> String {
    let mut p = String::from("{\"probe\":");
    decode::write_json_str(&mut p, probe);
    p.push_str(",\"mapName\":");
    decode::write_json_str(&mut p, map);
    p.push(',');
    p
}

/// The field of a filter, if it names one of `plan`'s.
fn filter_on(filters: &Filters, map: &str, plan: &Plan) -> Option<(Field, Regex)> {
    let (field, re) = filters.of(map)?;
    Some((plan.field(field)?.clone(), re.clone()))
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

/// A label set's aggregate: a counter's count or a gauge's value, and a
/// histogram's counts per log2 slot.
type Series = (f64, Vec<f64>);

/// The sink of an event map.
pub struct RecordSink {
    map: String,
    output: Output,
    plan: Plan,
    out: Out,
    prefix: String,
    filter: Option<(Field, Regex)>,
    /// Metric maps in the UI: label fields, the value field.
    labels: Vec<Field>,
    value: Option<Field>,
    /// Counters and gauges per label set; histograms: counts per log2 slot.
    series: HashMap<Vec<String>, Series>,
    /// `--prom-port`: the map's Prometheus family (unfiltered, as beed's).
    metric: Option<RingMetric>,
}

impl EventSink for RecordSink {
    fn record(&mut self, rec: &[u8]) -> bool {
        if rec.len() < self.plan.size {
            return false;
        }
        if let Some(m) = &mut self.metric {
            m.on_event(rec);
        }
        let pass = passes(&self.filter, rec);
        match &self.out {
            Out::Json(buf) => {
                if pass {
                    let mut line = self.prefix.clone();
                    line.push_str("\"entry\":");
                    decode::write_json_object(&self.plan, rec, &mut line);
                    line.push_str("}\n");
                    buf.borrow_mut().extend_from_slice(line.as_bytes());
                }
            }
            Out::Ui(model) => {
                let mut m = lock(model);
                let Some(view) = m.map_mut(&self.map) else { return true };
                view.records += 1;
                if !pass {
                    return true;
                }
                view.shown += 1;
                view.updated = Some(Instant::now());
                if self.output == Output::Print {
                    view.rows.push_back(self.plan.fields.iter().map(|f| text(f, rec)).collect());
                    while view.rows.len() > EVENT_ROWS {
                        view.rows.pop_front();
                    }
                    return true;
                }
                let key: Vec<String> = self.labels.iter().map(|f| text(f, rec)).collect();
                let v = self.value.as_ref().and_then(|f| decode::read(f, rec)?.as_f64());
                let entry = self.series.entry(key).or_insert((0.0, Vec::new()));
                match self.output {
                    Output::Counter => entry.0 += 1.0,
                    Output::Gauge => entry.0 = v.unwrap_or(0.0),
                    _ => {
                        let x = v.unwrap_or(0.0).max(0.0) as u64;
                        let slot = if x == 0 { 0 } else { 63 - x.leading_zeros() as usize };
                        if entry.1.len() <= slot {
                            entry.1.resize(slot + 1, 0.0);
                        }
                        entry.1[slot] += 1.0;
                    }
                }
                let mut rows: Vec<(&Vec<String>, &Series)> = self.series.iter().collect();
                rows.sort_by(|a, b| a.0.cmp(b.0));
                if self.output == Output::Hist {
                    let kind = self.value.as_ref().map_or(FieldKind::Unsigned(8), |f| f.kind.clone());
                    view.hists = rows
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
                    view.rows = rows
                        .iter()
                        .map(|(k, (v, _))| {
                            let mut r = (*k).clone();
                            r.push(format!("{v}"));
                            r
                        })
                        .collect();
                }
            }
        }
        true
    }
}

/// The sink of a walked map.
pub struct WalkSink {
    map: String,
    output: Output,
    key: Plan,
    value: Plan,
    out: Out,
    prefix: String,
    slot: Option<usize>,
    filter_key: Option<(Field, Regex)>,
    filter_value: Option<(Field, Regex)>,
    /// Value and walk generation of every key seen (changed entries).
    prev: HashMap<Vec<u8>, (Vec<u8>, u64)>,
    generation: u64,
    summed: Vec<u8>,
    last_walk: Option<Instant>,
    /// `--prom-port`: the map's Prometheus family (unfiltered, as beed's).
    metric: Option<MapMetric>,
}

impl WalkSink {
    fn passes(&self, k: &[u8], v: &[u8]) -> bool {
        passes(&self.filter_key, k) && passes(&self.filter_value, v)
    }
}

impl MapSink for WalkSink {
    fn walk(&mut self, entries: Entries<'_>) {
        self.generation += 1;
        let g = self.generation;
        let mut rows: Vec<(Vec<u8>, Vec<u8>, bool)> = Vec::new();
        let (slot, prev, summed, plan) = (self.slot, &mut self.prev, &mut self.summed, &self.value);
        let mut on_entry = |k: &[u8], v: &[u8]| {
            let v = match slot {
                Some(n) => {
                    percpu::sum(plan, v, n, summed);
                    summed.as_slice()
                }
                None => v,
            };
            let changed = match prev.get_mut(k) {
                Some((old, seen)) => {
                    *seen = g;
                    let c = old.as_slice() != v;
                    if c {
                        old.clear();
                        old.extend_from_slice(v);
                    }
                    c
                }
                None => {
                    prev.insert(k.to_vec(), (v.to_vec(), g));
                    true
                }
            };
            rows.push((k.to_vec(), v.to_vec(), changed));
        };
        let total = match &mut self.metric {
            Some(metric) => {
                let mut total = None;
                metric.walk(|f| {
                    total = entries.read(|k, v| {
                        f(k, v);
                        on_entry(k, v);
                    });
                    total
                });
                total
            }
            None => entries.read(on_entry),
        };
        let Some(total) = total else { return };
        if prev.len() > total {
            prev.retain(|_, (_, seen)| *seen == g);
        }
        rows.retain(|(k, v, _)| self.passes(k, v));
        match &self.out {
            Out::Json(buf) => {
                let changed: Vec<&(Vec<u8>, Vec<u8>, bool)> = rows.iter().filter(|r| r.2).collect();
                if changed.is_empty() {
                    return;
                }
                let mut line = self.prefix.clone();
                line.push_str("\"entries\":[");
                for (i, (k, v, _)) in changed.iter().enumerate() {
                    if i > 0 {
                        line.push(',');
                    }
                    line.push_str("{\"key\":");
                    decode::write_json_plan(&self.key, k, &mut line);
                    line.push_str(",\"value\":");
                    decode::write_json_plan(&self.value, v, &mut line);
                    line.push('}');
                }
                line.push_str("]}\n");
                buf.borrow_mut().extend_from_slice(line.as_bytes());
            }
            Out::Ui(model) => {
                let now = Instant::now();
                let secs = self.last_walk.map(|t| now.duration_since(t).as_secs_f64());
                self.last_walk = Some(now);
                let mut m = lock(model);
                let Some(view) = m.map_mut(&self.map) else { return };
                view.records = total as u64;
                view.shown = rows.len() as u64;
                view.updated = Some(now);
                rows.sort_by(|a, b| a.0.cmp(&b.0));
                if self.output == Output::Hist {
                    view.hists = hist_rows(&self.key, &self.value, &rows);
                    return;
                }
                let prev_counts: HashMap<Vec<String>, f64> = view
                    .rows
                    .iter()
                    .filter_map(|r| {
                        let v: f64 = r.get(view.key_columns)?.parse().ok()?;
                        Some((r[..view.key_columns].to_vec(), v))
                    })
                    .collect();
                view.rows = rows
                    .iter()
                    .map(|(k, v, _)| {
                        let mut r: Vec<String> = self.key.fields.iter().map(|f| text(f, k)).collect();
                        r.extend(self.value.fields.iter().map(|f| text(f, v)));
                        r
                    })
                    .collect();
                view.rates = view
                    .rows
                    .iter()
                    .map(|r| {
                        let now: f64 = r.get(view.key_columns)?.parse().ok()?;
                        let before = prev_counts.get(&r[..view.key_columns])?;
                        Some((now - before) / secs?.max(1e-3))
                    })
                    .collect();
            }
        }
    }
}

/// A hash histogram's walk as bars: one per slot, per label set.
fn hist_rows(key: &Plan, value: &Plan, rows: &[(Vec<u8>, Vec<u8>, bool)]) -> Vec<(String, Vec<(String, f64)>)> {
    let slot = bee_object::convention::DEFAULT_SLOT_FIELDS.iter().find_map(|n| key.field(n));
    let Some(slot) = slot else { return Vec::new() };
    let labels: Vec<&Field> = key.fields.iter().filter(|f| f.name != slot.name).collect();
    let count = value.fields.first();
    let mut groups: Vec<(String, Vec<(String, f64)>)> = Vec::new();
    for (k, v, _) in rows {
        let name: Vec<String> = labels.iter().map(|f| text(f, k)).collect();
        let name = name.join(" ");
        let Some(s) = decode::read(slot, k).and_then(|x| x.as_f64()) else { continue };
        let c = count.and_then(|f| decode::read(f, v)?.as_f64()).unwrap_or(0.0);
        let bars = match groups.iter_mut().find(|(n, _)| *n == name) {
            Some((_, b)) => b,
            None => {
                groups.push((name, Vec::new()));
                let Some((_, b)) = groups.last_mut() else { continue };
                b
            }
        };
        let s = s as usize;
        while bars.len() <= s.min(127) {
            let i = bars.len();
            bars.push((format!("< 2^{}", i + 1), 0.0));
        }
        if let Some(b) = bars.get_mut(s) {
            b.1 += c;
        }
    }
    groups
}

impl Consumers for RunConsumers {
    type Settings = ();
    type Events = RecordSink;
    type Walks = WalkSink;

    fn configure(&mut self, (): ()) -> String {
        String::new()
    }

    fn event_sink(&mut self, m: &MapInfo<'_>) -> bee_runtime::Result<RecordSink> {
        let value = match m.output {
            Output::Counter | Output::Print => None,
            out => bee_object::convention::default_value_fields(out).iter().find_map(|n| m.value.field(n)).cloned(),
        };
        let labels: Vec<Field> = m
            .value
            .fields
            .iter()
            .filter(|f| f.kind.is_labelable() && Some(&f.name) != value.as_ref().map(|v| &v.name))
            .cloned()
            .collect();
        if let Out::Ui(model) = &self.out {
            let mut md = lock(model);
            let mut columns: Vec<String> = if m.output == Output::Print {
                m.value.fields.iter().map(|f| f.name.clone()).collect()
            } else {
                labels.iter().map(|f| f.name.clone()).collect()
            };
            if matches!(m.output, Output::Counter) {
                columns.push("count".into());
            } else if m.output == Output::Gauge {
                columns.push(value.as_ref().map_or("value".into(), |v| v.name.clone()));
            }
            let key_columns = if m.output == Output::Print { 0 } else { labels.len() };
            md.maps.push(view(m, true, columns, key_columns));
        }
        Ok(RecordSink {
            map: m.map.to_string(),
            output: m.output,
            plan: m.value.clone(),
            out: self.out.clone(),
            prefix: json_prefix(m.probe, m.map),
            filter: filter_on(&self.filters, m.map, m.value),
            labels,
            value,
            series: HashMap::new(),
            metric: match &self.families {
                Some(f) if m.output != Output::Print => Some(f.event_metric(m, &MapSettings::default())?),
                _ => None,
            },
        })
    }

    fn map_sink(&mut self, m: &MapInfo<'_>) -> bee_runtime::Result<WalkSink> {
        let key = m
            .key
            .cloned()
            .ok_or_else(|| bee_runtime::Error::Map { map: m.map.to_string(), reason: "has no key type".into() })?;
        if let Out::Ui(model) = &self.out {
            let columns = key.fields.iter().chain(m.value.fields.iter()).map(|f| f.name.clone()).collect();
            lock(model).maps.push(view(m, false, columns, key.fields.len()));
        }
        Ok(WalkSink {
            map: m.map.to_string(),
            output: m.output,
            filter_key: filter_on(&self.filters, m.map, &key),
            filter_value: filter_on(&self.filters, m.map, m.value),
            key,
            value: m.value.clone(),
            out: self.out.clone(),
            prefix: json_prefix(m.probe, m.map),
            slot: m.percpu_slot,
            prev: HashMap::new(),
            generation: 0,
            summed: vec![0; m.value.size],
            last_walk: None,
            metric: match &self.families {
                Some(f) if m.output != Output::Print => Some(f.map_metric(m, &MapSettings::default())?),
                _ => None,
            },
        })
    }

    fn flush(&mut self) {
        if let Out::Json(buf) = &self.out {
            let mut b = buf.borrow_mut();
            if b.is_empty() {
                return;
            }
            let mut stdout = std::io::stdout().lock();
            // a closed pipe (`bee run ... | head`) ends the output, not bee
            if stdout.write_all(&b).and_then(|()| stdout.flush()).is_err() {
                super::request_stop();
            }
            b.clear();
        }
    }
}

fn view(m: &MapInfo<'_>, events: bool, columns: Vec<String>, key_columns: usize) -> MapView {
    MapView {
        name: m.map.to_string(),
        output: m.output,
        events,
        columns,
        key_columns,
        rows: Default::default(),
        shown: 0,
        records: 0,
        rates: Vec::new(),
        hists: Vec::new(),
        updated: None,
    }
}
