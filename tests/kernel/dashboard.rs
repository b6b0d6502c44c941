//! The Grafana dashboard against a real beed and a real Prometheus: beed
//! runs the built-ins (and a probe the verifier rejects, so that "probes
//! down" has a row), real processes exit and real loopback connections are
//! made, and then (1) every metric any query or variable of the dashboard
//! names is in beed's scrape (a `# TYPE` line; a histogram's or summary's
//! `_bucket`/`_sum`/`_count` through its family), and (2) a real Prometheus
//! (Debian package `prometheus`) scraping beed, with the `node` label a
//! fleet's scrape config adds, answers the variables' `label_values` and
//! every panel query with series, and no error (vector matching included),
//! with the variables substituted as Grafana does. Grafana itself cannot be
//! installed here (see tests/dashboard.rs). Needs root.

use crate::common;

use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{compile, dashboard, fixture, free_port, http_get, is_root, sample, start_with, TestResult};
use serde_json::Value;

/// The `node` label the test's scrape config gives beed's target (on a
/// fleet: relabeled from `__meta_kubernetes_pod_node_name`).
const NODE: &str = "dashboard-test-node";

#[test]
fn dashboard_queries_find_every_metric_in_a_real_scrape_and_data_in_prometheus() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let rejected = compile(&fixture("verifier_reject.bpf.c"), dir.path())?;
    // a max_rate no test reaches: the sampling series exist (at 0)
    let probes = format!(
        "[probes.exitsnoop]\n[probes.exitsnoop.maps.print_exits]\nmax_rate = \"1000000/s\"\n[probes.tcpconnect]\n\
         [probes.rejected]\nobject = \"{}\"\n",
        rejected.display()
    );
    let config = |port: &str, events: &str| {
        format!("[metrics]\nlisten = \"127.0.0.1:{port}\"\n[events]\n{events}\n[poll]\ninterval = \"200ms\"\n{probes}")
    };
    // a stand-in journald, never read: beed_events_suppressed_total exists
    // once the journal's rate limit refuses an event
    let sock_path = dir.path().join("journal.sock");
    let _journal = UnixDatagram::bind(&sock_path)?;
    let sock = sock_path.to_str().ok_or("temporary path is not UTF-8")?;
    let mut beed = start_with(
        dir.path(),
        &config("{port}", "output = \"journal\"\njournal_rate_limit = 5"),
        &[],
        &[("BEED_JOURNAL_SOCKET", sock)],
    )?;
    let mut prom = Prometheus::start(dir.path(), beed.port)?;

    exits(50)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while sample(&beed.scrape()?, "beed_events_suppressed_total", &[("probe", "exitsnoop")]).unwrap_or(0.0) == 0.0 {
        if Instant::now() > deadline {
            return Err(format!("no exit event suppressed:\n{}", beed.scrape()?).into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // a reload to stdout: beed_events_dropped_total{output="stdout"} starts at 0
    std::fs::write(dir.path().join("beed.toml"), config(&beed.port.to_string(), "output = \"stdout\""))?;
    let line = beed.signal_and_wait("HUP", "reloaded:")?;
    assert!(line.contains("2 probes up"), "{line}");

    // what the built-ins' panels show: loopback connections, exits
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port().to_string();
    for _ in 0..3 {
        let c = TcpStream::connect(listener.local_addr()?)?;
        let _ = listener.accept()?;
        drop(c);
    }
    exits(5)?;
    let labels = [("probe", "tcpconnect"), ("daddr", "127.0.0.1"), ("dport", port.as_str())];
    let got = beed.wait_sample("ebpf_solo_io_counter_connections", &labels, Some(3.0), Duration::from_secs(10))?;
    assert_eq!(got, Some(3.0));

    // (1) every metric the dashboard names is in the scrape
    let text = beed.scrape()?;
    let d = dashboard::load()?;
    let mut queries = dashboard::exprs(&d);
    let variables = dashboard::label_values_queries(&d)?;
    for (name, selector, _) in &variables {
        queries.push((format!("variable {name}"), selector.clone()));
    }
    let mut missing = Vec::new();
    for (title, expr) in &queries {
        for s in dashboard::selectors(expr)? {
            if !exposed(&text, &s.metric) {
                missing.push(format!("{} ({title})", s.metric));
            }
        }
    }
    assert!(missing.is_empty(), "not in beed's scrape: {missing:?}\n{text}");

    // (2) Prometheus, once it has scraped the connections: the variables'
    // values, then every panel query has data
    let deadline = Instant::now() + Duration::from_secs(30);
    while prom.query(&format!("ebpf_solo_io_counter_connections{{dport=\"{port}\"}}"))?.is_empty() {
        if Instant::now() > deadline {
            return Err(format!("prometheus did not scrape beed:\n{}", prom.log()).into());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut values: Vec<(String, String)> = Vec::new();
    for (name, selector, label) in &variables {
        let selector = dashboard::substitute(selector, &borrowed(&values));
        let got = prom.label_values(&selector, label)?;
        let want: &[&str] = match name.as_str() {
            "node" => &[NODE],
            "probe" => &["exitsnoop", "rejected", "tcpconnect"],
            other => return Err(format!("unexpected variable {other}").into()),
        };
        assert_eq!(got, want, "variable {name}: label_values({selector}, {label})");
        // every value selected, as Grafana writes a multi-value regex
        let regex = if got.len() == 1 { got[0].clone() } else { format!("({})", got.join("|")) };
        values.push((name.clone(), regex));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for (title, expr) in dashboard::exprs(&d) {
        let query = dashboard::substitute(&expr, &borrowed(&values));
        // rate() and increase() need two scrapes of a series
        let result = loop {
            let result = prom.query(&query)?;
            if !result.is_empty() || Instant::now() > deadline {
                break result;
            }
            std::thread::sleep(Duration::from_millis(500));
        };
        assert!(!result.is_empty(), "{title}: no data for {query}\n{}", prom.log());
        if expr.contains("by (node") {
            for r in &result {
                assert_eq!(r["metric"]["node"], NODE, "{title}: {query} gave {r}");
            }
        }
    }
    // the failed probe is the one "probes down" lists
    let down = prom
        .query(&dashboard::substitute("beed_probe_up{node=~\"$node\", probe=~\"$probe\"} == 0", &borrowed(&values)))?;
    assert_eq!(down.len(), 1, "{down:?}");
    assert_eq!(down[0]["metric"]["probe"], "rejected");
    Ok(())
}

/// `n` processes exiting (one sh running /bin/true n times).
fn exits(n: u32) -> TestResult {
    let st = Command::new("sh").arg("-c").arg(format!("for i in $(seq {n}); do /bin/true; done")).status()?;
    assert!(st.success());
    Ok(())
}

fn borrowed(values: &[(String, String)]) -> Vec<(&str, &str)> {
    values.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Whether the scrape has a family `name`, or `name` is a histogram's or
/// summary's `_bucket`, `_sum` or `_count` series.
fn exposed(text: &str, name: &str) -> bool {
    let family = |n: &str| {
        text.lines().find_map(|l| l.strip_prefix("# TYPE ")?.strip_prefix(n)?.strip_prefix(' ')).map(str::trim)
    };
    if family(name).is_some() {
        return true;
    }
    ["_bucket", "_sum", "_count"].iter().any(|suffix| {
        name.strip_suffix(suffix)
            .and_then(family)
            .is_some_and(|kind| kind == "histogram" || (kind == "summary" && *suffix != "_bucket"))
    })
}

/// A Prometheus server scraping one beed every second; killed when dropped.
struct Prometheus {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(dir: &Path, beed_port: u16) -> Result<Self, Box<dyn std::error::Error>> {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 scrape_configs:\n  - job_name: beed\n    static_configs:\n      - targets: [\"127.0.0.1:{beed_port}\"]\n\
                 \x20       labels:\n          node: {NODE}\n"
            ),
        )?;
        let port = free_port();
        let log = dir.join("prometheus.log");
        let out = std::fs::File::create(&log)?;
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("prometheus-data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .map_err(|e| format!("running prometheus: {e} (Debian package prometheus)"))?;
        let mut p = Prometheus { child, port, log };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !http_get(port, "/-/ready").is_ok_and(|b| b.contains("Ready")) {
            if Instant::now() > deadline || p.child.try_wait()?.is_some() {
                return Err(format!("prometheus did not become ready:\n{}", p.log()).into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(p)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// GET `path` with url-encoded `params` (curl: the API's replies may be chunked).
    fn api(&mut self, path: &str, params: &[(&str, &str)]) -> Result<Value, Box<dyn std::error::Error>> {
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "--get", "--max-time", "10"]);
        for (k, v) in params {
            cmd.arg("--data-urlencode").arg(format!("{k}={v}"));
        }
        let out = cmd.arg(format!("http://127.0.0.1:{}{path}", self.port)).output()?;
        let body = String::from_utf8_lossy(&out.stdout);
        let v: Value = serde_json::from_str(&body)
            .map_err(|e| format!("{path} {params:?}: {e}: {body}{}", String::from_utf8_lossy(&out.stderr)))?;
        if v["status"] != "success" {
            return Err(format!("{path} {params:?}: {v}").into());
        }
        Ok(v["data"].clone())
    }

    /// An instant query's series (an error if Prometheus refuses it).
    fn query(&mut self, q: &str) -> Result<Vec<Value>, Box<dyn std::error::Error>> {
        let data = self.api("/api/v1/query", &[("query", q)])?;
        Ok(data["result"].as_array().cloned().unwrap_or_default())
    }

    /// The values of `label` on the series matching `selector`, sorted.
    fn label_values(&mut self, selector: &str, label: &str) -> Result<Vec<String>, Box<dyn std::error::Error>> {
        let data = self.api(&format!("/api/v1/label/{label}/values"), &[("match[]", selector)])?;
        let mut v: Vec<String> =
            data.as_array().into_iter().flatten().filter_map(|s| s.as_str().map(String::from)).collect();
        v.sort();
        Ok(v)
    }
}
