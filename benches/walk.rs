//! Hash map walk and /metrics render benchmark (root: creates real BPF maps).
//!
//! For 10k, 100k and 1M entries in a BPF_MAP_TYPE_HASH keyed by a 12-byte
//! struct {saddr: ipv4_addr, daddr: ipv4_addr, dport: u16} with u64 counts:
//! - ns per entry of beed's walk (BPF_MAP_LOOKUP_BATCH into reusable buffers)
//!   feeding a counter metric (label cache hits after the first walk);
//! - baseline in the same run: the raw batch lookup alone, and libbpf-rs'
//!   `lookup_batch` iterator (allocates two Vecs per entry);
//! - /metrics render time and size at 100k series (and 10k);
//! - memory per series: heap bytes still allocated after the first walk
//!   (metric, label sets, series index), over entries, counted by a global
//!   allocator wrapping the system one.
//!
//! Run: `cargo bench --bench walk` (as root). Prints a markdown table, then
//! one machine-readable line per size for benches/run.sh:
//! `walk entries=N raw_ns=… steady_ns=… first_ns=… bytes_per_series=…`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Instant;

use bee_metrics::labels;
use bee_metrics::map_series::{self, MapSeries};
use bee_object::schema::{Field, FieldKind, Plan};
use bee_runtime::walk::Walker;
use libbpf_rs::{MapCore, MapFlags, MapHandle, MapType};
use prometheus::{IntCounter, Registry};

/// Bytes currently allocated through the global allocator.
static LIVE: AtomicIsize = AtomicIsize::new(0);

/// The system allocator, counting live bytes (requested sizes, not the
/// allocator's own overhead).
struct Counting;

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// GlobalAlloc contract; the counter is only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc_zeroed` is passed on as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through this allocator) with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` was allocated by `System` with `layout`; the caller's
        // contract for `realloc` is passed on as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

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
    let mut machine = Vec::new();
    println!("| entries | raw batch lookup ns/entry | beed walk → counter ns/entry (steady) | steady / raw (target ≤ 1.5×) | first walk (building labels) ns/entry | first / raw (target ≤ 4×) | memory per series, bytes | libbpf-rs lookup_batch ns/entry | /metrics render | /metrics size |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for n in [10_000u32, 100_000, 1_000_000] {
        let map = fill(n)?;
        let fd = map.as_fd();
        let mut walker = Walker::new(12, 8, false)?;
        let (raw, got) = best(3, || walker.walk(fd, |_, _| {}).unwrap_or(0));
        assert_eq!(got, n as usize, "raw walk saw {got} entries");

        let live0 = live_bytes();
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
        let per_series = (live_bytes() - live0) as f64 / n as f64;
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
        let (raw_ns, steady_ns, first_ns) = (raw * 1e9 / n as f64, steady * 1e9 / n as f64, first * 1e9 / n as f64);
        let judged =
            |x: f64, limit: f64| format!("{:.2}× ({})", x / raw_ns, if x <= limit * raw_ns { "met" } else { "missed" });
        println!(
            "| {n} | {raw_ns:.0} | {steady_ns:.0} | {} | {first_ns:.0} | {} | {per_series:.0} | {lrs_cell} | {} | {} |",
            judged(steady_ns, 1.5),
            judged(first_ns, 4.0),
            if render.is_nan() { "-".into() } else { format!("{:.1} ms", render * 1e3) },
            if size == 0 { "-".into() } else { format!("{:.1} MB", size as f64 / 1e6) },
        );
        machine.push(format!(
            "walk entries={n} raw_ns={raw_ns:.1} steady_ns={steady_ns:.1} first_ns={first_ns:.1} bytes_per_series={per_series:.0}"
        ));
    }
    for line in machine {
        println!("{line}");
    }
    Ok(())
}
