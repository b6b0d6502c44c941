//! Hash map walk and /metrics render benchmark (root: creates real BPF maps).
//!
//! For 10k, 100k and 1M entries in a BPF_MAP_TYPE_HASH keyed by a 12-byte
//! struct {saddr: ipv4_addr, daddr: ipv4_addr, dport: u16} with u64 counts:
//! - ns per entry of beed's walk (BPF_MAP_LOOKUP_BATCH into reusable buffers)
//!   feeding a counter metric (label cache hits after the first walk);
//! - baseline in the same run: the raw batch lookup alone, and libbpf-rs'
//!   `lookup_batch` iterator (allocates two Vecs per entry);
//! - /metrics render time and size at 100k series (and 10k).
//!
//! Run: `cargo bench --bench walk` (as root). Prints a markdown table.

use std::os::fd::AsFd;
use std::time::Instant;

use bee_metrics::labels;
use bee_metrics::map_series::{self, MapSeries};
use bee_object::schema::{Field, FieldKind, Plan};
use bee_runtime::walk::Walker;
use libbpf_rs::{MapCore, MapFlags, MapHandle, MapType};
use prometheus::{IntCounter, Registry};

fn key_plan() -> Plan {
    Plan {
        type_name: "struct conn_key".into(),
        size: 12,
        fields: vec![
            Field::new("saddr", 0, FieldKind::Ipv4),
            Field::new("daddr", 4, FieldKind::Ipv4),
            Field::new("dport", 8, FieldKind::Unsigned(2)),
        ],
    }
}

fn fill(n: u32) -> Result<MapHandle, Box<dyn std::error::Error>> {
    let opts = libbpf_sys::bpf_map_create_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_map_create_opts>() as _,
        ..Default::default()
    };
    let map = MapHandle::create(MapType::Hash, Some("bench_walk"), 12, 8, n, &opts)?;
    let chunk = 65536u32;
    let mut i = 0u32;
    while i < n {
        let c = chunk.min(n - i);
        let mut keys = Vec::with_capacity(c as usize * 12);
        let mut vals = Vec::with_capacity(c as usize * 8);
        for j in i..i + c {
            keys.extend_from_slice(&[10, (j >> 16) as u8, (j >> 8) as u8, j as u8]);
            keys.extend_from_slice(&[127, 0, 0, 1]);
            keys.extend_from_slice(&((j % 50000) as u16).to_le_bytes());
            keys.extend_from_slice(&[0, 0]);
            vals.extend_from_slice(&(j as u64).to_le_bytes());
        }
        map.update_batch(&keys, &vals, c, MapFlags::ANY, MapFlags::ANY)?;
        i += c;
    }
    Ok(map)
}

fn best<F: FnMut() -> usize>(runs: usize, mut f: F) -> (f64, usize) {
    let mut best = f64::MAX;
    let mut n = 0;
    for _ in 0..runs {
        let t = Instant::now();
        n = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, n)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this
    // binary too, and must not spend a minute filling a million-entry map
    if !std::env::args().any(|a| a == "--bench") {
        println!("walk: benchmark only (cargo bench --bench walk); nothing to test");
        return Ok(());
    }
    println!("| entries | raw batch lookup ns/entry | beed walk → counter ns/entry | libbpf-rs lookup_batch ns/entry | /metrics render | /metrics size |");
    println!("|---|---|---|---|---|---|");
    for n in [10_000u32, 100_000, 1_000_000] {
        let map = fill(n)?;
        let fd = map.as_fd();
        let mut walker = Walker::new(12, 8, false)?;
        let (raw, got) = best(3, || walker.walk(fd, |_, _| {}).unwrap_or(0));
        assert_eq!(got, n as usize, "raw walk saw {got} entries");

        let registry = Registry::new();
        let text = bee_metrics::exposition::TextRegistry::default();
        let plan = key_plan();
        let series = MapSeries::new(
            &registry,
            &text,
            map_series::Spec {
                name: "ebpf_solo_io_counter_connections",
                help: "bench",
                counter: true,
                probe: "bench",
                key: &plan,
                label_fields: labels::label_fields(&plan),
                label_names: labels::label_fields(&plan).iter().map(|f| labels::label_name(&f.name)).collect(),
                max_series: n as usize + 1,
                dropped: IntCounter::new("d", "d")?,
                decode_errors: bee_runtime::Count::default(),
            },
        )?;
        let value = Field::new("value", 0, FieldKind::Unsigned(8));
        let mut walk_once = || {
            let mut st = series.lock();
            st.begin();
            let r = walker.walk(fd, |k, v| {
                if let Some(x) = bee_object::decode::read(&value, v).and_then(|v| v.as_f64()) {
                    st.set(k, x);
                }
            });
            st.finish();
            r.unwrap_or(0)
        };
        let (first, _) = best(1, &mut walk_once); // builds the label cache
        let (steady, got) = best(3, &mut walk_once);
        assert_eq!(got, n as usize);
        assert_eq!(series.lock().len(), n as usize);

        let (lrs, got) = best(if n > 100_000 { 1 } else { 3 }, || {
            map.lookup_batch(4096, MapFlags::ANY, MapFlags::ANY).map(|it| it.count()).unwrap_or(0)
        });
        let lrs_cell = if got == n as usize {
            format!("{:.0}", lrs * 1e9 / n as f64)
        } else {
            format!("{:.0} (saw {got})", lrs * 1e9 / n as f64)
        };

        let (render, size) = if n <= 100_000 {
            best(3, || beed::http::render(&registry, &text).map(|b| b.len()).unwrap_or(0))
        } else {
            (f64::NAN, 0)
        };
        println!(
            "| {n} | {:.0} | {:.0} (first walk, building labels: {:.0}) | {lrs_cell} | {} | {} |",
            raw * 1e9 / n as f64,
            steady * 1e9 / n as f64,
            first * 1e9 / n as f64,
            if render.is_nan() { "-".into() } else { format!("{:.1} ms", render * 1e3) },
            if size == 0 { "-".into() } else { format!("{:.1} MB", size as f64 / 1e6) },
        );
    }
    Ok(())
}
