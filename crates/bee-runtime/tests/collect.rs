//! A second consumer of the runtime, built without the daemon: it loads a
//! user probe through `bee_runtime::spawn`, collects every ring buffer
//! record (decoded to JSON by the object layer) and every walk of a hash map
//! into `Vec`s, and checks what a real process did. Needs root (it loads
//! BPF into the running kernel): built only with the `root-tests` feature
//! (`make test`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bee_object::decode;
use bee_object::schema::Plan;
use bee_runtime::{
    Consumers, Entries, EventSink, MapInfo, MapSink, ObjectSource, ProbeSpec, ProbeState, Reading, Setup,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// One walk: every entry's key (as JSON) and value bytes.
type Rows = Vec<(String, Vec<u8>)>;

/// What the consumer saw, shared with the test thread.
#[derive(Default)]
struct Seen {
    /// (map, record as JSON)
    records: Vec<(String, String)>,
    /// (map, key as JSON, value bytes) of the last walk of each map
    walks: Vec<(String, Rows)>,
}

struct Collect(Arc<Mutex<Seen>>);

struct Records {
    map: String,
    plan: Plan,
    seen: Arc<Mutex<Seen>>,
}

impl EventSink for Records {
    fn record(&mut self, rec: &[u8]) -> bool {
        let mut json = String::new();
        let ok = decode::write_json_object(&self.plan, rec, &mut json);
        // a sink's bug: the runtime must contain it
        assert!(!json.contains("\"comm\":\"beepanic\""), "a sink panicked on purpose");
        if let Ok(mut s) = self.seen.lock() {
            s.records.push((self.map.clone(), json));
        }
        ok
    }
}

struct Walks {
    map: String,
    key: Plan,
    seen: Arc<Mutex<Seen>>,
}

impl MapSink for Walks {
    fn walk(&mut self, entries: Entries<'_>) {
        let mut rows = Vec::new();
        let key = &self.key;
        entries.read(|k, v| {
            let mut json = String::new();
            decode::write_json_object(key, k, &mut json);
            rows.push((json, v.to_vec()));
        });
        if let Ok(mut s) = self.seen.lock() {
            s.walks.retain(|(m, _)| *m != self.map);
            s.walks.push((self.map.clone(), rows));
        }
    }
}

impl Consumers for Collect {
    type Settings = ();
    type Events = Records;
    type Walks = Walks;

    fn configure(&mut self, (): ()) -> String {
        "collected in memory".into()
    }

    fn event_sink(&mut self, m: &MapInfo<'_>) -> bee_runtime::Result<Records> {
        Ok(Records { map: m.map.to_string(), plan: m.value.clone(), seen: self.0.clone() })
    }

    fn map_sink(&mut self, m: &MapInfo<'_>) -> bee_runtime::Result<Walks> {
        let key =
            m.key.cloned().ok_or_else(|| bee_runtime::Error::Map { map: m.map.into(), reason: "no key".into() })?;
        Ok(Walks { map: m.map.to_string(), key, seen: self.0.clone() })
    }
}

fn compile(dir: &Path) -> Result<PathBuf, String> {
    let out = bee_testutil::compile(&bee_testutil::fixture("user_probe.bpf.c"), dir)?;
    bee_testutil::build_tool(dir, "getppid")?;
    Ok(out)
}

#[test]
fn a_minimal_consumer_collects_records_and_walks() -> TestResult {
    bee_runtime::libbpf_log::install();
    let dir = tempfile::tempdir()?;
    let obj = compile(dir.path())?;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut spec = ProbeSpec::new("collect", ObjectSource::File(obj));
    spec.interval = Duration::from_millis(50);
    let setup = Setup { probes: vec![spec], poll_latency: Duration::from_millis(1), settings: () };
    let handle = {
        let seen = seen.clone();
        bee_runtime::spawn(setup, move || Some(Collect(seen)), None)?
    };
    let report = handle.report().ok_or("the engine thread died")?;
    assert_eq!(report.up, vec!["collect".to_string()], "failed: {:?}", report.failed);
    assert_eq!(report.note, "collected in memory");

    let st = Command::new(dir.path().join("getppid")).args(["beecollect", "7"]).status()?;
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let (records, count) = loop {
        let (records, count) = {
            let s = seen.lock().map_err(|_| "poisoned")?;
            let records: Vec<String> = s
                .records
                .iter()
                .filter(|(m, j)| m == "print_calls" && j.contains("\"comm\":\"beecollect\""))
                .map(|(_, j)| j.clone())
                .collect();
            let count =
                s.walks.iter().filter(|(m, _)| m == "counter_getppid").flat_map(|(_, rows)| rows).find_map(|(k, v)| {
                    let bytes: [u8; 8] = v.get(..8)?.try_into().ok()?;
                    k.contains("beecollect").then(|| u64::from_le_bytes(bytes))
                });
            (records, count)
        };
        if (records.len() == 7 && count == Some(7)) || Instant::now() > deadline {
            break (records, count);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(records.len(), 7, "records: {records:?}");
    assert!(records[0].contains("\"minus_pid\":-"), "{}", records[0]);
    assert_eq!(count, Some(7), "the walk of counter_getppid");

    // the runtime's own counters, as a front end reads them
    {
        let status = handle.status.lock();
        let Some(ProbeState::Up(stats)) = status.get("collect") else { return Err("probe not up".into()) };
        let ring = stats.maps.iter().find(|m| m.map == "print_calls").ok_or("no print_calls stats")?;
        assert_eq!(ring.reading, Reading::Events);
        assert!(ring.records.get() >= 7);
        assert_eq!(ring.decode_errors.get(), 0);
        let walked = stats.maps.iter().find(|m| m.map == "counter_getppid").ok_or("no counter stats")?;
        assert_eq!(walked.reading, Reading::Walked);
        assert_eq!(walked.max_entries, 1024);
        assert!(walked.entries.get() >= 1);
    }

    // a sink that panics: its records are counted as decode errors (with
    // the rest of their group) and the engine goes on with the next ones
    let decode_errors = || -> Result<u64, String> {
        let status = handle.status.lock();
        let Some(ProbeState::Up(stats)) = status.get("collect") else { return Err("probe not up".into()) };
        let ring = stats.maps.iter().find(|m| m.map == "print_calls").ok_or("no print_calls stats")?;
        Ok(ring.decode_errors.get())
    };
    let st = Command::new(dir.path().join("getppid")).args(["beepanic", "3"]).status()?;
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    while decode_errors()? < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(decode_errors()? >= 3, "decode errors after 3 panics: {}", decode_errors()?);
    let st = Command::new(dir.path().join("getppid")).args(["beecollect", "2"]).status()?;
    assert!(st.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        let n = {
            let s = seen.lock().map_err(|_| "poisoned")?;
            s.records.iter().filter(|(m, j)| m == "print_calls" && j.contains("\"comm\":\"beecollect\"")).count()
        };
        if n == 9 || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(after, 9, "records after the panics");
    handle.stop();
    Ok(())
}
