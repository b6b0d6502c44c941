//! Counter path without the ring buffer: `RingMetric::on_events` fed from
//! memory, so that its cost is measured apart from the cross-CPU traffic
//! of a live ring (which moves the end-to-end rows of `make bench` by
//! ±30% on a busy host).
//!
//! Records are the bench probe's 40-byte `counter_event` (every field a
//! label), laid out 48 bytes apart as in a ring buffer (an 8-byte header
//! before each), handed over in groups of `GROUP` as the ring reader
//! does. Three label orders:
//! - one label set (the end-to-end bench layout with the generator pinned);
//! - 10,000 label sets in turn (`kind` = sequence % 10,000, the end-to-end
//!   10k row): label sets are added, and so visited, in order;
//! - 10,000 label sets at random: each record's `kind` is a hash of its
//!   sequence number, so the label sets' keys and counters are visited
//!   in no order.
//!
//! The baseline of the same run reaches every record and reads its first
//! word, as a consumer that only counts records reads each header: what
//! any consumer pays to walk the records, and nothing of beed's work.
//! Each row is the best of 12 passes over 1 M records (noise only adds),
//! after one pass that adds the label sets.
//!
//! Run: `cargo bench --bench lookup` (any user). Prints a markdown table,
//! then one machine-readable line per row for benches/run.sh:
//! `lookup order=… ns=… baseline_ns=…`. Under `cargo test --all-targets`
//! it runs a short pass of each row, which still checks the counts.

use std::hint::black_box;
use std::time::Instant;

use bee_metrics::exposition::TextRegistry;
use bee_metrics::ring_metric::{RingKind, RingMetric, Spec};
use bee_object::schema::{Field, FieldKind, Plan};
use bee_runtime::consumer::GROUP;
use prometheus::{IntCounter, Registry};

const STRIDE: usize = 48;
const HEADER: usize = 8;
const SIZE: usize = 40;
const SETS: u64 = 10_000;

fn plan() -> Plan {
    Plan {
        type_name: "struct counter_event".into(),
        size: SIZE,
        fields: vec![
            Field::new("cpu_bucket", 0, FieldKind::Unsigned(4)),
            Field::new("kind", 4, FieldKind::Unsigned(4)),
            Field::new("comm", 8, FieldKind::Str(16)),
            Field::new("pad0", 24, FieldKind::Unsigned(8)),
            Field::new("pad1", 32, FieldKind::Unsigned(8)),
        ],
    }
}

/// splitmix64's finalizer: a label set number for record `i` in no order.
fn scatter(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z ^= z >> 31;
    z = z.wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 29)
}

/// The label set (`kind`) of record number `i`.
type KindOf = fn(u64) -> u64;

/// How much to run.
#[derive(Clone, Copy)]
struct Size {
    records: usize,
    rounds: usize,
}

/// `records` records, `STRIDE` bytes apart, with `kind` from `kind_of`.
fn records(records: usize, kind_of: impl Fn(u64) -> u64) -> Vec<u8> {
    let mut buf = vec![0u8; records * STRIDE];
    for (i, slot) in buf.chunks_exact_mut(STRIDE).enumerate() {
        let rec = &mut slot[HEADER..];
        rec[..4].copy_from_slice(&1u32.to_le_bytes());
        rec[4..8].copy_from_slice(&(kind_of(i as u64) as u32).to_le_bytes());
        rec[8..19].copy_from_slice(b"beebenchgen");
    }
    buf
}

/// The first word of a record.
fn word(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

/// ns per record of `f` over the records in groups, best of `rounds`.
fn best(buf: &[u8], rounds: usize, mut f: impl FnMut(&[&[u8]])) -> f64 {
    let mut refs: Vec<&[u8]> = Vec::with_capacity(GROUP);
    let mut best = f64::MAX;
    let records = buf.len() / STRIDE;
    for _ in 0..rounds {
        let t = Instant::now();
        for group in buf.chunks(GROUP * STRIDE) {
            refs.clear();
            refs.extend(group.chunks_exact(STRIDE).map(|s| &s[HEADER..]));
            f(&refs);
        }
        best = best.min(t.elapsed().as_nanos() as f64 / records as f64);
    }
    best
}

fn metric(registry: &Registry, text: &TextRegistry, plan: &Plan) -> Result<RingMetric, Box<dyn std::error::Error>> {
    let labels = plan.fields.clone();
    Ok(RingMetric::new(
        registry,
        text,
        Spec {
            name: "ebpf_solo_io_counter_events",
            help: "bench",
            probe: "bench",
            kind: RingKind::Counter,
            plan,
            label_names: labels.iter().map(|f| f.name.clone()).collect(),
            label_fields: labels,
            value: None,
            multiplier: 1.0,
            max_series: 20_000,
            dropped: IntCounter::new("dropped", "dropped")?,
            decode_errors: Default::default(),
        },
    )?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this
    // binary too, unoptimized: a short pass then
    let size = if std::env::args().any(|a| a == "--bench") {
        Size { records: 1_000_000, rounds: 12 }
    } else {
        Size { records: 20_000, rounds: 1 }
    };
    let plan = plan();
    let rows: [(&str, &str, KindOf); 3] = [
        ("one", "one label set", |_| 1),
        ("turn", "10,000 label sets in turn", |i| i % SETS),
        ("random", "10,000 label sets at random", |i| scatter(i) % SETS),
    ];
    println!("| label sets | baseline: reach each record, ns/record | `on_events`, ns/record | added, ns/record |");
    println!("|---|---:|---:|---:|");
    let mut lines = Vec::new();
    for (order, name, kind_of) in rows {
        let buf = records(size.records, kind_of);
        let base = best(&buf, size.rounds, |recs| {
            let x = recs.iter().fold(0u64, |x, r| x ^ word(r));
            black_box(x);
        });
        let registry = Registry::new();
        let text = TextRegistry::with_const_labels(Vec::new());
        let mut m = metric(&registry, &text, &plan)?;
        for group in buf.chunks(GROUP * STRIDE) {
            let refs: Vec<&[u8]> = group.chunks_exact(STRIDE).map(|s| &s[HEADER..]).collect();
            m.on_events(&refs); // adds the label sets
        }
        let ns = best(&buf, size.rounds, |recs| m.on_events(recs));
        let mut out = String::new();
        text.render(&mut out);
        let counted: u64 = out.lines().filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).sum();
        let want = (size.rounds + 1) as u64 * size.records as u64;
        if counted != want {
            return Err(format!("{name}: counted {counted} events, sent {want}").into());
        }
        println!("| {name} ({} series) | {base:.1} | {ns:.1} | {:.1} |", m.len(), ns - base);
        lines.push(format!("lookup order={order} ns={ns:.1} baseline_ns={base:.1}"));
    }
    println!();
    for l in lines {
        println!("{l}");
    }
    Ok(())
}
