//! Metrics fed one event at a time (ring buffer and perf buffer maps):
//! counter +1 per event, gauge set to the value field, histogram observing
//! the value field; the remaining fields are labels.
//!
//! This is the hottest path of the daemon, so it owns its series instead of
//! going through the prometheus crate: a label set is looked up by its raw
//! bytes (usually a slice of the record itself, see [`labels::LabelKey`]),
//! the previous event's label set is checked first, and a series' numbers
//! are plain integers written by the engine thread alone (an update is a
//! load and a store, not a locked read-modify-write). Scrapes read them and
//! render the text themselves (see [`exposition`]); each series' label text
//! is built once, when it first appears.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use bee_object::decode;
use bee_object::schema::{Field, FieldKind, Plan};
use bee_runtime::consumer::GROUP;
use bee_runtime::Count;
use prometheus::core::Desc;
use prometheus::{IntCounter, Registry};

use crate::error::{Error, Result};
use crate::exposition::{self, Registered, Samples, TextRegistry};
use crate::key_index::{self, KeyIndex};
use crate::labels;

/// Which metric an event map feeds.
#[derive(Debug, Clone, PartialEq)]
pub enum RingKind {
    Counter,
    Gauge,
    Hist { buckets: Vec<f64> },
}

/// Default buckets: seconds for durations, powers of two for plain numbers.
pub fn default_buckets(value: &FieldKind) -> Vec<f64> {
    match value {
        FieldKind::Duration => prometheus::DEFAULT_BUCKETS.to_vec(),
        _ => (0..=30).map(|i| f64::from(1u32 << i)).collect(),
    }
}

/// A record of a group whose key is not the record before's (see
/// [`RingMetric::on_events`]).
#[derive(Clone, Copy)]
enum Look<'a> {
    /// Too short for its label fields: a decode error.
    Skip,
    /// Looked up by this hash (its bucket prefetched); the record.
    Hash(u64, &'a [u8]),
}

// a record's position in its group is kept in a byte
const _: () = assert!(GROUP <= 256);

/// Label sets per chunk of [`Cells`].
const CHUNK: usize = 1024;

/// Counter and gauge values by label set number, in chunks that never
/// move (so the engine and scrapes share them without a lock): the numbers
/// the engine touches per event sit next to each other, not behind a
/// pointer per label set. Written by the engine thread only, read by
/// scrapes on the HTTP thread.
#[derive(Default, Clone)]
struct Cells(Vec<Arc<[AtomicU64]>>);

impl Cells {
    #[inline]
    fn get(&self, i: u32) -> Option<&AtomicU64> {
        let i = i as usize;
        self.0.get(i / CHUNK)?.get(i % CHUNK)
    }

    /// Makes room for label set `i`; true if a chunk was added.
    fn reserve(&mut self, i: u32) -> bool {
        if (i as usize) < self.0.len() * CHUNK {
            return false;
        }
        self.0.push((0..CHUNK).map(|_| AtomicU64::new(0)).collect());
        true
    }
}

/// One histogram label set: observations per bucket (not cumulative; the
/// last one counts those above the highest bound) and their sum (`f64`
/// bits). Written by the engine thread only.
struct HistCells {
    buckets: Box<[AtomicU64]>,
    sum: AtomicU64,
}

/// Adds `n` to a counter only one thread writes: no locked instruction.
#[inline]
fn bump(a: &AtomicU64, n: u64) {
    a.store(a.load(Relaxed).wrapping_add(n), Relaxed);
}

/// What a scrape renders: every label set of the family.
struct State {
    kind: Kind,
    /// Histogram bucket bounds (empty for counters and gauges).
    bounds: Arc<[f64]>,
    /// `comm="bash",probe="x"` of each label set (sorted by name, as the
    /// prometheus crate writes them), rendered once.
    labels: Vec<String>,
    cells: Cells,
    hists: Vec<Arc<HistCells>>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Counter,
    Gauge,
    Hist,
}

impl Samples for State {
    fn write(&self, name: &str, out: &mut String) {
        out.reserve(self.labels.len() * 64);
        for (i, labels) in self.labels.iter().enumerate() {
            let cell = self.cells.get(i as u32).map(|c| c.load(Relaxed)).unwrap_or(0);
            match self.kind {
                Kind::Counter => {
                    sample(out, name, "", labels, "");
                    decode::push_u64(out, cell);
                }
                Kind::Gauge => {
                    sample(out, name, "", labels, "");
                    exposition::push_value(out, f64::from_bits(cell));
                }
                Kind::Hist => {
                    let Some(h) = self.hists.get(i) else { continue };
                    let mut cum = 0u64;
                    for (b, n) in h.buckets.iter().enumerate() {
                        cum = cum.wrapping_add(n.load(Relaxed));
                        match self.bounds.get(b) {
                            Some(le) => {
                                let mut l = String::from(",le=\"");
                                exposition::push_value(&mut l, *le);
                                l.push('"');
                                sample(out, name, "_bucket", labels, &l);
                            }
                            None => sample(out, name, "_bucket", labels, ",le=\"+Inf\""),
                        }
                        decode::push_u64(out, cum);
                        out.push('\n');
                    }
                    sample(out, name, "_sum", labels, "");
                    exposition::push_value(out, f64::from_bits(h.sum.load(Relaxed)));
                    out.push('\n');
                    // the count is the buckets' total, so `_count` and the
                    // `+Inf` bucket agree whatever a concurrent event did
                    sample(out, name, "_count", labels, "");
                    decode::push_u64(out, cum);
                }
            }
            out.push('\n');
        }
    }
}

/// Appends `name{suffix}{labels extra} ` (the value follows).
fn sample(out: &mut String, name: &str, suffix: &str, labels: &str, extra: &str) {
    out.push_str(name);
    out.push_str(suffix);
    out.push('{');
    out.push_str(labels);
    out.push_str(extra);
    out.push_str("} ");
}

/// The metric of one event map.
pub struct RingMetric {
    family: Registered<State>,
    kind: Kind,
    bounds: Arc<[f64]>,
    label_fields: Vec<Field>,
    label_names: Vec<String>,
    /// `probe` and `metrics.const_labels`, added to every series' labels.
    fixed_labels: Vec<(String, String)>,
    label_key: labels::LabelKey,
    value: Option<Field>,
    multiplier: f64,
    size: usize,
    /// Label key → label set number.
    keys: KeyIndex,
    /// Label sets so far.
    sets: u32,
    cells: Cells,
    hists: Vec<Arc<HistCells>>,
    /// The label set of the previous event: bursts of one label set skip
    /// the lookup.
    last: Option<u32>,
    max_series: usize,
    dropped: IntCounter,
    decode_errors: Count,
}

/// Everything needed to build a [`RingMetric`].
pub struct Spec<'a> {
    pub name: &'a str,
    pub help: &'a str,
    /// Every series carries `probe="NAME"`, so probes may share metric names.
    pub probe: &'a str,
    pub kind: RingKind,
    pub plan: &'a Plan,
    pub label_fields: Vec<Field>,
    /// Their label names (`labels::label_name` of each, or renamed).
    pub label_names: Vec<String>,
    pub value: Option<Field>,
    /// The observed or set value is multiplied by it (`bucket_multiplier`,
    /// `value_multiplier`).
    pub multiplier: f64,
    pub max_series: usize,
    pub dropped: IntCounter,
    pub decode_errors: Count,
}

/// Histogram bounds as the prometheus crate accepts them: a trailing
/// `+Inf` is implied, the rest must be finite and strictly increasing.
fn check_bounds(buckets: &[f64]) -> std::result::Result<Vec<f64>, String> {
    let mut b = buckets.to_vec();
    if b.last() == Some(&f64::INFINITY) {
        b.pop();
    }
    if b.is_empty() {
        return Err("a histogram needs at least one finite bucket bound".into());
    }
    if b.iter().any(|x| !x.is_finite()) || b.windows(2).any(|w| w[0] >= w[1]) {
        return Err(format!("histogram buckets must be finite and strictly increasing, not {b:?}"));
    }
    Ok(b)
}

impl RingMetric {
    /// Registers the metric.
    pub fn new(registry: &Registry, text: &TextRegistry, spec: Spec<'_>) -> Result<Self> {
        let merr = |reason: String| Error::Metric { name: spec.name.to_string(), reason };
        let (kind, bounds, type_name) = match &spec.kind {
            RingKind::Counter => (Kind::Counter, Vec::new(), "counter"),
            RingKind::Gauge => (Kind::Gauge, Vec::new(), "gauge"),
            RingKind::Hist { buckets } => (Kind::Hist, check_bounds(buckets).map_err(merr)?, "histogram"),
        };
        let mut const_labels = labels::probe_label(spec.probe);
        const_labels.extend(text.const_labels().iter().cloned());
        let desc = Desc::new(spec.name.to_string(), spec.help.to_string(), spec.label_names.clone(), const_labels)
            .map_err(|e| merr(e.to_string()))?;
        let bounds: Arc<[f64]> = bounds.into();
        let state =
            State { kind, bounds: bounds.clone(), labels: Vec::new(), cells: Cells::default(), hists: Vec::new() };
        let family = Registered::new(registry, text, desc, type_name, state).map_err(|e| merr(e.to_string()))?;
        let mut fixed_labels = vec![("probe".to_string(), spec.probe.to_string())];
        fixed_labels.extend(text.const_labels().iter().cloned());
        let label_key = labels::LabelKey::new(&spec.label_fields);
        Ok(RingMetric {
            family,
            kind,
            bounds,
            keys: KeyIndex::new(label_key.width()),
            label_key,
            label_fields: spec.label_fields,
            label_names: spec.label_names,
            fixed_labels,
            value: spec.value,
            multiplier: spec.multiplier,
            size: spec.plan.size,
            sets: 0,
            cells: Cells::default(),
            hists: Vec::new(),
            last: None,
            max_series: spec.max_series,
            dropped: spec.dropped,
            decode_errors: spec.decode_errors,
        })
    }

    /// Accounts one event.
    #[inline]
    pub fn on_event(&mut self, rec: &[u8]) {
        if rec.len() < self.size {
            self.decode_errors.inc();
            return;
        }
        let Some(value) = self.value_of(rec) else {
            self.decode_errors.inc();
            return;
        };
        let Some(key) = self.label_key.of(rec) else {
            self.decode_errors.inc();
            return;
        };
        if let Some(i) = self.last {
            if labels::same_key(self.keys.key(i), key) {
                self.apply(i, value);
                return;
            }
        }
        let i = match self.keys.find(key) {
            Some(i) => i,
            None => {
                let key = key.to_vec();
                match self.add_series(&key, rec) {
                    Some(i) => i,
                    None => return,
                }
            }
        };
        self.last = Some(i);
        self.apply(i, value);
    }

    /// Accounts consecutive events (a ring buffer hands them over in
    /// groups), as [`RingMetric::on_event`] does one by one. When the label
    /// key is a slice of the record, every record's key is first compared
    /// with the one before it; a record whose key differs (a break) is
    /// hashed and its table bucket prefetched. Then the records are counted
    /// in order, a plain counter a run of one label set at once, so that
    /// the second pass goes over the breaks, not the records. The lookups'
    /// cache misses overlap instead of following one another: with
    /// thousands of label sets visited in turn, each lookup would otherwise
    /// wait for memory.
    pub fn on_events(&mut self, recs: &[&[u8]]) {
        let Some(range) = self.label_key.slice() else {
            for r in recs {
                self.on_event(r);
            }
            return;
        };
        for chunk in recs.chunks(GROUP) {
            // the breaks: their positions in the chunk, and how each is found
            let mut at = [0u8; GROUP];
            let mut look = [Look::Skip; GROUP];
            let mut n = 0;
            let mut prev = self.last.map(|i| self.keys.key(i));
            for (j, r) in chunk.iter().enumerate() {
                match r.get(range.clone()).filter(|_| r.len() >= self.size) {
                    Some(key) if prev.is_some_and(|p| labels::same_key(p, key)) => continue,
                    Some(key) => {
                        let h = key_index::hash(key);
                        self.keys.prefetch(h);
                        look[n] = Look::Hash(h, r);
                        prev = Some(key);
                    }
                    None => {
                        look[n] = Look::Skip;
                        prev = None;
                    }
                }
                at[n] = j as u8;
                n += 1;
            }
            let (at, look) = (&at[..n], &look[..n]);
            if self.kind == Kind::Counter && self.value.is_none() {
                self.count_runs(at, look, chunk.len(), &range);
                continue;
            }
            // the slot of the previous record's key, when it was resolved
            let mut cur = self.last.map(Some);
            let mut next = 0; // the next break
            for (j, r) in chunk.iter().enumerate() {
                // `None`: the same key as the record before
                let l = match at.get(next) {
                    Some(&b) if b as usize == j => look.get(next).copied(),
                    _ => None,
                };
                next += usize::from(l.is_some());
                let value = match l {
                    Some(Look::Skip) => None,
                    _ => self.value_of(r),
                };
                let (Some(value), Some(key)) = (value, r.get(range.clone())) else {
                    self.decode_errors.inc();
                    cur = None;
                    continue;
                };
                let slot = match (l, cur) {
                    (None, Some(slot)) => {
                        if slot.is_none() {
                            self.dropped.inc(); // over max_series, like the record before
                        }
                        slot
                    }
                    (Some(Look::Hash(h, _)), _) => self.lookup(h, key, r),
                    _ => self.lookup(key_index::hash(key), key, r),
                };
                cur = Some(slot);
                if let Some(i) = slot {
                    self.last = Some(i);
                    self.apply(i, value);
                }
            }
        }
    }

    /// Counts a group of `len` records of a plain counter (every event +1)
    /// from its breaks (`at`, `look`): the records from one break to the
    /// next are a run of one label set, added to its counter at once.
    fn count_runs(&mut self, at: &[u8], look: &[Look<'_>], len: usize, range: &std::ops::Range<usize>) {
        // the series of the run (`None`: over max_series), and the first
        // record of the run not counted yet
        let mut cur = self.last;
        let mut start = 0;
        for (&j, l) in at.iter().zip(look) {
            let j = j as usize;
            self.count_run(cur, j.saturating_sub(start) as u64);
            match l {
                Look::Skip => {
                    self.decode_errors.inc();
                    start = j + 1;
                }
                Look::Hash(h, r) => {
                    cur = r.get(range.clone()).and_then(|key| self.lookup(*h, key, r));
                    // a series over max_series counted its first drop
                    start = if cur.is_some() { j } else { j + 1 };
                }
            }
        }
        self.count_run(cur, len.saturating_sub(start) as u64);
        if cur.is_some() {
            self.last = cur;
        }
    }

    #[inline]
    fn count_run(&self, slot: Option<u32>, n: u64) {
        match slot {
            Some(i) => {
                if let Some(c) = self.cells.get(i) {
                    bump(c, n);
                }
            }
            None if n > 0 => self.dropped.inc_by(n),
            None => {}
        }
    }

    /// The series of `key` (hash `h`), added if new; `None` past `max_series`.
    #[inline]
    fn lookup(&mut self, h: u64, key: &[u8], rec: &[u8]) -> Option<u32> {
        match self.keys.find_hashed(h, key) {
            Some(i) => Some(i),
            None => self.add_series(key, rec),
        }
    }

    /// The value an event sets or observes (1 for a counter); `None` if it
    /// cannot be read.
    #[inline]
    fn value_of(&self, rec: &[u8]) -> Option<f64> {
        match &self.value {
            None => Some(1.0),
            Some(f) => match decode::read(f, rec).and_then(|v| v.as_f64()) {
                Some(v) if self.multiplier == 1.0 => Some(v),
                Some(v) => Some(crate::shaping::scale(v, self.multiplier)),
                None => None,
            },
        }
    }

    #[inline]
    fn apply(&self, i: u32, value: f64) {
        match self.kind {
            Kind::Counter => {
                if let Some(c) = self.cells.get(i) {
                    bump(c, 1);
                }
            }
            Kind::Gauge => {
                if let Some(c) = self.cells.get(i) {
                    c.store(value.to_bits(), Relaxed);
                }
            }
            Kind::Hist => {
                let Some(h) = self.hists.get(i as usize) else { return };
                // the first bucket whose bound is >= value (NaN: past every bound)
                let b = self.bounds.iter().position(|le| value <= *le).unwrap_or(self.bounds.len());
                if let Some(c) = h.buckets.get(b) {
                    bump(c, 1);
                }
                h.sum.store((f64::from_bits(h.sum.load(Relaxed)) + value).to_bits(), Relaxed);
            }
        }
    }

    /// A new label set: its number, unless `max_series` is reached.
    #[cold]
    fn add_series(&mut self, key: &[u8], rec: &[u8]) -> Option<u32> {
        if self.sets as usize >= self.max_series {
            self.dropped.inc();
            return None;
        }
        let i = self.sets;
        let values = labels::label_values(&self.label_fields, rec);
        let mut pairs: Vec<prometheus::proto::LabelPair> = self
            .label_names
            .iter()
            .zip(&values)
            .map(|(n, v)| labels::pair(n, v))
            .chain(self.fixed_labels.iter().map(|(n, v)| labels::pair(n, v)))
            .collect();
        pairs.sort_by(|a, b| a.name().cmp(b.name()));
        let labels = exposition::label_text(&pairs);
        let hist = (self.kind == Kind::Hist).then(|| {
            Arc::new(HistCells {
                buckets: (0..=self.bounds.len()).map(|_| AtomicU64::new(0)).collect(),
                sum: AtomicU64::new(0f64.to_bits()),
            })
        });
        let grew = self.cells.reserve(i);
        {
            // the cells exist before a scrape can see the label set
            let mut st = self.family.lock();
            if grew {
                st.cells = self.cells.clone();
            }
            if let Some(h) = &hist {
                st.hists.push(h.clone());
            }
            st.labels.push(labels);
        }
        self.hists.extend(hist);
        self.keys.insert(i, key);
        self.sets += 1;
        Some(i)
    }

    /// Number of label sets.
    pub fn len(&self) -> usize {
        self.sets as usize
    }

    /// Whether no event was counted yet.
    pub fn is_empty(&self) -> bool {
        self.sets == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_like_the_prometheus_crate() {
        assert_eq!(check_bounds(&[1.0, 2.0, f64::INFINITY]), Ok(vec![1.0, 2.0]));
        assert!(check_bounds(&[]).is_err());
        assert!(check_bounds(&[f64::INFINITY]).is_err());
        assert!(check_bounds(&[2.0, 1.0]).is_err());
        assert!(check_bounds(&[1.0, 1.0]).is_err());
        assert!(check_bounds(&[f64::NAN, 1.0]).is_err());
    }

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    /// `struct { u32 cpu; char comm[4]; u64 value; }`
    fn plan() -> Plan {
        Plan {
            type_name: "struct ev".into(),
            size: 16,
            fields: vec![
                Field::new("cpu", 0, FieldKind::Unsigned(4)),
                Field::new("comm", 4, FieldKind::Str(4)),
                Field::new("value", 8, FieldKind::Unsigned(8)),
            ],
        }
    }

    fn rec(cpu: u32, comm: &[u8; 4], value: u64) -> Vec<u8> {
        let mut r = cpu.to_le_bytes().to_vec();
        r.extend_from_slice(comm);
        r.extend_from_slice(&value.to_le_bytes());
        r
    }

    fn metric(kind: RingKind, value: bool, max_series: usize) -> Result<(RingMetric, TextRegistry, IntCounter)> {
        let text = TextRegistry::with_const_labels(vec![("node".into(), "n1".into())]);
        let p = plan();
        let labels: Vec<Field> = p.fields[..2].to_vec();
        let dropped =
            IntCounter::new("dropped", "d").map_err(|e| Error::Metric { name: "d".into(), reason: e.to_string() })?;
        let m = RingMetric::new(
            &Registry::new(),
            &text,
            Spec {
                name: "ebpf_solo_io_m",
                help: "h",
                probe: "p",
                kind,
                plan: &p,
                label_names: labels.iter().map(|f| f.name.clone()).collect(),
                label_fields: labels,
                value: value.then(|| p.fields[2].clone()),
                multiplier: 1.0,
                max_series,
                dropped: dropped.clone(),
                decode_errors: Count::default(),
            },
        )?;
        Ok((m, text, dropped))
    }

    fn render(text: &TextRegistry) -> String {
        let mut s = String::new();
        text.render(&mut s);
        s
    }

    #[test]
    fn counters_by_label_set_sorted_like_the_prometheus_crate() -> TestResult {
        let (mut m, text, dropped) = metric(RingKind::Counter, false, 2)?;
        for r in [rec(0, b"bash", 1), rec(0, b"bash", 1), rec(1, b"sh\0\0", 1), rec(0, b"bash", 1)] {
            m.on_event(&r);
        }
        m.on_event(&rec(2, b"zsh\0", 1)); // a third label set: over max_series
        m.on_event(&[0u8; 4]); // too short
        assert_eq!(
            render(&text),
            "# HELP ebpf_solo_io_m h\n# TYPE ebpf_solo_io_m counter\n\
             ebpf_solo_io_m{comm=\"bash\",cpu=\"0\",node=\"n1\",probe=\"p\"} 3\n\
             ebpf_solo_io_m{comm=\"sh\",cpu=\"1\",node=\"n1\",probe=\"p\"} 1\n"
        );
        assert_eq!((m.len(), dropped.get()), (2, 1));
        Ok(())
    }

    #[test]
    fn gauges_and_histograms() -> TestResult {
        let (mut g, text, _) = metric(RingKind::Gauge, true, 10)?;
        g.on_event(&rec(0, b"bash", 7));
        g.on_event(&rec(0, b"bash", 5));
        assert!(render(&text).ends_with("ebpf_solo_io_m{comm=\"bash\",cpu=\"0\",node=\"n1\",probe=\"p\"} 5\n"));
        drop(g);
        assert_eq!(render(&text), "", "a dropped metric leaves the registry");
        let (mut h, text, _) = metric(RingKind::Hist { buckets: vec![1.0, 10.0] }, true, 10)?;
        for v in [0, 1, 5, 100] {
            h.on_event(&rec(0, b"bash", v));
        }
        let l = "comm=\"bash\",cpu=\"0\",node=\"n1\",probe=\"p\"";
        assert_eq!(
            render(&text),
            format!(
                "# HELP ebpf_solo_io_m h\n# TYPE ebpf_solo_io_m histogram\n\
                 ebpf_solo_io_m_bucket{{{l},le=\"1\"}} 2\n\
                 ebpf_solo_io_m_bucket{{{l},le=\"10\"}} 3\n\
                 ebpf_solo_io_m_bucket{{{l},le=\"+Inf\"}} 4\n\
                 ebpf_solo_io_m_sum{{{l}}} 106\n\
                 ebpf_solo_io_m_count{{{l}}} 4\n"
            )
        );
        Ok(())
    }

    #[test]
    fn many_label_sets_keep_their_counts() -> TestResult {
        let (mut m, text, _) = metric(RingKind::Counter, false, 5000)?;
        for round in 0..3 {
            for cpu in 0..3000u32 {
                if cpu % 2 == 0 || round == 0 {
                    m.on_event(&rec(cpu, b"bash", 1));
                }
            }
        }
        let out = render(&text);
        assert_eq!(out.lines().count(), 3002);
        assert!(out.contains("cpu=\"2998\",node=\"n1\",probe=\"p\"} 3\n"), "{out}");
        assert!(out.contains("cpu=\"2999\",node=\"n1\",probe=\"p\"} 1\n"));
        Ok(())
    }

    /// Records in groups count exactly as one by one: repeated and new
    /// label sets, records too short, label sets over `max_series`, for
    /// plain counters (runs of one label set added at once), counters with
    /// a value field and gauges.
    #[test]
    fn groups_count_like_single_events() -> TestResult {
        let mut recs: Vec<Vec<u8>> = Vec::new();
        for i in 0..200u32 {
            let cpu = match i % 7 {
                0..=2 => 1,       // runs of one label set
                3 => i % 13,      // many label sets, some over max_series
                _ => (i / 7) % 3, // a few in turn
            };
            recs.push(rec(cpu, b"bash", u64::from(i)));
            if i % 7 == 3 {
                recs.push(rec(cpu, b"bash", 1)); // twice in a row, over max_series or not
            }
            if i % 29 == 0 {
                recs.push(vec![1, 0, 0, 0]); // too short: a decode error
            }
        }
        for (kind, value) in [(RingKind::Counter, false), (RingKind::Counter, true), (RingKind::Gauge, true)] {
            let (mut one, one_text, one_dropped) = metric(kind.clone(), value, 9)?;
            let (mut grouped, grouped_text, grouped_dropped) = metric(kind, value, 9)?;
            for r in &recs {
                one.on_event(r);
            }
            let refs: Vec<&[u8]> = recs.iter().map(|r| &r[..]).collect();
            // group sizes as a ring buffer hands them over, and one over
            // GROUP (40) as a caller might
            let mut at = 0;
            for n in [1, 32, 5, 40, 3].iter().cycle() {
                if at >= refs.len() {
                    break;
                }
                let end = (at + n).min(refs.len());
                grouped.on_events(&refs[at..end]);
                at = end;
            }
            assert_eq!(render(&grouped_text), render(&one_text));
            assert_eq!(grouped_dropped.get(), one_dropped.get());
            assert!(one_dropped.get() > 0, "some label sets went over max_series");
            assert_eq!(grouped.decode_errors.get(), one.decode_errors.get());
            assert_eq!(one.decode_errors.get(), 7);
        }
        Ok(())
    }

    #[test]
    fn single_writer_bump() {
        let a = AtomicU64::new(u64::MAX);
        bump(&a, 2);
        assert_eq!(a.load(Relaxed), 1);
    }
}
