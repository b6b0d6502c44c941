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
use bee_object::schema::{Field, Plan};
use bee_runtime::{Changes, Consumers, Entries, EventSink, MapInfo, MapSink};
use regex::Regex;

use super::decode::Decodes;
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
    /// `--decode`: field decoders by map, and what they share.
    pub decodes: Decodes,
    pub decoders: bee_decoders::Context,
}

fn lock(m: &Arc<Mutex<Model>>) -> MutexGuard<'_, Model> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn text(f: &Field, rec: &[u8]) -> String {
    let mut s = String::new();
    if !decode::write_field_text(f, rec, &mut s) {
        s.push('?');
    }
    s
}

/// Whether `rec` passes the map's filter (a field of the plan).
fn passes(filter: &Option<(Field, Regex)>, rec: &[u8]) -> bool {
    filter.as_ref().is_none_or(|(f, re)| re.is_match(&text(f, rec)))
}

/// The field of a filter, if it names one of `plan`'s.
fn filter_on(filters: &Filters, map: &str, plan: &Plan) -> Option<(Field, Regex)> {
    let (field, re) = filters.of(map)?;
    Some((plan.field(field)?.clone(), re.clone()))
}

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
                    bee_decoders::Timestamp::Rfc3339.write_member(&mut line);
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
                // aggregated here, O(log n) per event; the UI renders rows
                // and bars from it when it draws (MapView::materialize)
                let key: Vec<String> = self.labels.iter().map(|f| text(f, rec)).collect();
                // durations in nanoseconds (as_f64 gives seconds, for metrics):
                // the histogram's log2 slots and bounds are in the field's unit
                let v = self.value.as_ref().and_then(|f| match decode::read(f, rec)? {
                    decode::Value::Duration(ns) => Some(ns as f64),
                    other => other.as_f64(),
                });
                let entry = view.series.entry(key).or_insert((0.0, Vec::new()));
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
    filter_key: Option<(Field, Regex)>,
    filter_value: Option<(Field, Regex)>,
    /// What changed since the last walk (per-CPU values summed).
    changes: Changes,
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
        let mut rows: Vec<(Vec<u8>, Vec<u8>, bool)> = Vec::new();
        let each = |k: &[u8], v: &[u8], changed: bool| rows.push((k.to_vec(), v.to_vec(), changed));
        let changes = &mut self.changes;
        let total = match &mut self.metric {
            // the family sees the raw entries, the rows their per-CPU sums
            Some(metric) => {
                let mut total = None;
                metric.walk(|f| {
                    total = changes.walk(
                        |g| {
                            entries.read(|k, v| {
                                f(k, v);
                                g(k, v);
                            })
                        },
                        each,
                    );
                    total
                });
                total
            }
            None => changes.walk(|g| entries.read(g), each),
        };
        let Some(total) = total else { return };
        rows.retain(|(k, v, _)| self.passes(k, v));
        match &self.out {
            Out::Json(buf) => {
                let changed: Vec<&(Vec<u8>, Vec<u8>, bool)> = rows.iter().filter(|r| r.2).collect();
                if changed.is_empty() {
                    return;
                }
                let mut line = self.prefix.clone();
                bee_decoders::Timestamp::Rfc3339.write_member(&mut line);
                let rows = changed.iter().map(|(k, v, _)| (k.as_slice(), v.as_slice()));
                decode::write_json_entries(&self.key, &self.value, rows, &mut line);
                line.push('\n');
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
        let fields = self.decodes.of(m.map);
        let (_, value) = bee_decoders::decorate_map(m.probe, m.map, None, m.value, fields, &self.decoders)?;
        let m = &MapInfo { value: &value, ..*m };
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
            let mut v = view(m, true, columns, key_columns);
            v.value_kind = value.as_ref().map(|f| f.kind.clone());
            md.maps.push(v);
        }
        Ok(RecordSink {
            map: m.map.to_string(),
            output: m.output,
            plan: m.value.clone(),
            out: self.out.clone(),
            prefix: decode::json_line_prefix(m.probe, m.map),
            filter: filter_on(&self.filters, m.map, m.value),
            labels,
            value,
            metric: match &self.families {
                Some(f) if m.output != Output::Print => Some(f.event_metric(m, &MapSettings::default())?),
                _ => None,
            },
        })
    }

    fn map_sink(&mut self, m: &MapInfo<'_>) -> bee_runtime::Result<WalkSink> {
        let fields = self.decodes.of(m.map);
        let (key, value) = bee_decoders::decorate_map(m.probe, m.map, m.key, m.value, fields, &self.decoders)?;
        let m = &MapInfo { key: key.as_ref(), value: &value, ..*m };
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
            prefix: decode::json_line_prefix(m.probe, m.map),
            changes: Changes::new(m.value, m.percpu_slot),
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
        series: Default::default(),
        value_kind: None,
        updated: None,
    }
}
