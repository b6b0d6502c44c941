//! The daemon's configuration: `/etc/bee/beed.toml`, validated and typed.
//! Every error names the file, line and column.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use std::borrow::Cow;
use std::hash::{Hash, Hasher};

use bee_object::vars::Value;
use bee_runtime::{ObjectSource, ProbeSpec};

use crate::error::{Error, Result};

/// Default location of the main config file.
pub const DEFAULT_PATH: &str = "/etc/bee/beed.toml";

/// The whole configuration as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// Where the `[probes.NAME]` files are (default: `probes.d` next to this
    /// file; a relative path is taken from this file's directory).
    pub probes_dir: Option<PathBuf>,
    pub metrics: MetricsConfig,
    pub events: EventsConfig,
    pub poll: RawPollConfig,
    pub images: ImagesConfig,
    pub probes: BTreeMap<Spanned<String>, RawProbe>,
}

/// `[images]`: where probe images are kept and how registries are reached.
#[derive(Debug, Deserialize, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ImagesConfig {
    /// The image store (an OCI image layout; the unit's StateDirectory).
    pub store: PathBuf,
    /// A credentials file (docker's config.json shape), readable by root
    /// only.
    pub auth: Option<PathBuf>,
    /// Registries spoken to over plain HTTP (loopback ones always are).
    pub plain_http: Vec<String>,
    /// Registries whose TLS certificate is not checked (self-signed).
    pub insecure: Vec<String>,
    /// The largest blob pulled, checked before downloading it.
    pub max_blob_size: u64,
}

impl Default for ImagesConfig {
    fn default() -> Self {
        ImagesConfig {
            store: PathBuf::from(bee_oci::store::SYSTEM_STORE),
            auth: None,
            plain_http: Vec::new(),
            insecure: Vec::new(),
            max_blob_size: bee_oci::store::DEFAULT_MAX_BLOB,
        }
    }
}

/// `probes.NAME.pull`: when an image is fetched from its registry.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PullPolicy {
    /// Only when the store lacks it.
    #[default]
    IfNotPresent,
    /// At every start and reload (a moved tag is followed); the cached
    /// image is used when the registry cannot be reached.
    Always,
    /// Never: the image must be in the store (`bee pull --storage …`).
    Never,
}

/// `[metrics]`
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Address of the HTTP server serving `/metrics`; empty disables it.
    pub listen: String,
    /// Cap on series per metric; label sets beyond it are counted, not stored.
    pub max_series: usize,
    /// Labels on every series beed exports (`${ENV}` expanded), e.g. the node.
    pub const_labels: BTreeMap<String, String>,
    /// Read each program's run count and run time from the kernel's BPF
    /// statistics (`beed_program_run*`); costs the kernel some ns per run.
    pub program_stats: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            listen: "127.0.0.1:9091".into(),
            max_series: 10_000,
            const_labels: BTreeMap::new(),
            program_stats: false,
        }
    }
}

/// Where events (print maps) go.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum EventOutput {
    /// journald when stderr is connected to it (`JOURNAL_STREAM`), else stdout.
    #[default]
    Auto,
    Journal,
    Stdout,
    /// Count events but write them nowhere (benchmarks, metrics-only hosts).
    None,
}

/// `[events]`
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    pub output: EventOutput,
    /// Journal entries per second per probe (0: unlimited); beyond it events
    /// are counted in `beed_events_suppressed_total`, not written.
    pub journal_rate_limit: u32,
    /// The `"time"` of JSON event lines: `rfc3339` (default), `unix_ns` or
    /// `none`; journal entries carry journald's own timestamp.
    pub timestamp: bee_decoders::Timestamp,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig { output: EventOutput::Auto, journal_rate_limit: 5000, timestamp: Default::default() }
    }
}

/// A file of `probes.d/`: only `[probes.NAME]` tables.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawProbesFile {
    pub probes: BTreeMap<Spanned<String>, RawProbe>,
}

/// `[poll]` as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawPollConfig {
    pub latency: Option<Spanned<String>>,
    pub interval: Option<Spanned<String>>,
}

/// `[probes.NAME]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProbe {
    #[serde(default)]
    pub object: Option<Spanned<PathBuf>>,
    /// An OCI image ref holding the probe (bumblebee's or bpfman's format).
    #[serde(default)]
    pub image: Option<Spanned<String>>,
    /// When the image is pulled.
    #[serde(default)]
    pub pull: Option<PullPolicy>,
    #[serde(default)]
    pub interval: Option<Spanned<String>>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `const volatile` globals of the probe, set before load.
    #[serde(default)]
    pub vars: BTreeMap<String, toml::Value>,
    /// Per-map output settings.
    #[serde(default)]
    pub maps: BTreeMap<String, MapConfig>,
    /// Attach targets of programs that need them (uprobe, usdt, perf_event,
    /// xdp, tc), by program (C function) name.
    #[serde(default)]
    pub attach: BTreeMap<String, AttachConfig>,
    /// Kernel BTF to relocate against, for kernels without
    /// /sys/kernel/btf/vmlinux (e.g. a file from btfhub).
    #[serde(default)]
    pub btf_path: Option<Spanned<PathBuf>>,
}

/// `[probes.NAME.attach.PROGRAM]`: where a program attaches when its
/// section name does not say it all.
pub use bee_runtime::AttachTarget as AttachConfig;

pub use bee_metrics::settings::MapSettings as MapConfig;

fn yes() -> bool {
    true
}

/// Where a probe's object comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeSource {
    Builtin(&'static [u8]),
    File(PathBuf),
    /// An image: `reference` is the normalized ref (the store's key).
    Image {
        reference: String,
        pull: PullPolicy,
    },
}

impl ProbeSource {
    fn object(&self, probe: &str) -> ObjectSource {
        match self {
            ProbeSource::Builtin(b) => ObjectSource::Bytes { name: probe.to_string(), bytes: Cow::Borrowed(b) },
            ProbeSource::File(p) => ObjectSource::File(p.clone()),
            ProbeSource::Image { reference, .. } => ObjectSource::Unavailable {
                what: format!("image {reference}"),
                reason: "not read from the image store yet".into(),
            },
        }
    }
}

/// A validated probe.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeConfig {
    pub name: String,
    /// The file that defines it (beed.toml or a probes.d file).
    pub defined_in: PathBuf,
    pub source: ProbeSource,
    /// The object an image source resolved to (see `images::resolve`).
    pub resolved: Option<ObjectSource>,
    /// How often hash maps are walked.
    pub interval: Duration,
    pub vars: BTreeMap<String, toml::Value>,
    pub maps: BTreeMap<String, MapConfig>,
    pub attach: BTreeMap<String, AttachConfig>,
    pub btf_path: Option<PathBuf>,
}

impl ProbeConfig {
    /// What the runtime runs. The output settings (labels, buckets, ...)
    /// and the defining file go into the spec's tag: changing them reloads
    /// the probe, as changing its object does.
    pub fn spec(&self) -> ProbeSpec {
        let mut tag = std::collections::hash_map::DefaultHasher::new();
        format!("{:?}{:?}", self.maps, self.defined_in).hash(&mut tag);
        ProbeSpec {
            name: self.name.clone(),
            object: self.resolved.clone().unwrap_or_else(|| self.source.object(&self.name)),
            interval: self.interval,
            vars: self.vars.iter().map(|(k, v)| (k.clone(), var_value(v))).collect(),
            attach: self.attach.clone(),
            max_entries: self.maps.iter().filter_map(|(k, m)| Some((k.clone(), m.max_entries?))).collect(),
            btf_path: self.btf_path.clone(),
            tag: tag.finish(),
        }
    }
}

/// A `vars` value as the object layer takes it.
fn var_value(v: &toml::Value) -> Value {
    match v {
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Integer(i) => Value::Int(*i),
        toml::Value::String(s) => Value::Str(s.clone()),
        other => Value::Other(other.type_str().to_string()),
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub metrics_listen: Option<SocketAddr>,
    pub max_series: usize,
    /// `metrics.const_labels`, expanded, in name order.
    pub const_labels: Vec<(String, String)>,
    pub program_stats: bool,
    pub events: EventOutput,
    pub journal_rate_limit: u32,
    pub timestamp: bee_decoders::Timestamp,
    /// How long the ringbuf poller waits after draining, to batch wakeups.
    pub poll_latency: Duration,
    /// Walk interval of probes that set none.
    pub default_interval: Duration,
    /// Enabled probes, from beed.toml then probes.d/*.toml in name order.
    pub probes: Vec<ProbeConfig>,
    pub images: ImagesConfig,
    /// The directory of `[probes.NAME]` files (`probes_dir`).
    pub probes_dir: PathBuf,
    all_probe_names: Vec<String>,
    /// Family names of the maps the configuration names (`metricnames`).
    metric_names: crate::metricnames::MetricNames,
}

/// The directory of probe files: `probes_dir` as set in the main config
/// file (relative to that file's directory), else `probes.d/` next to it.
pub fn probes_dir(config: &Path, set: Option<&Path>) -> PathBuf {
    config.parent().unwrap_or(Path::new(".")).join(set.unwrap_or(Path::new("probes.d")))
}

fn toml_error(text: &str, path: &Path, e: &toml::de::Error) -> Error {
    let (line, column) = line_col(text, e.span().map_or(0, |s| s.start));
    Error::Config { path: path.to_path_buf(), line, column, reason: e.message().to_string() }
}

/// The range a duration setting accepts, inclusive.
#[derive(Debug, Clone, Copy)]
pub struct DurationRange {
    pub min: Duration,
    pub max: Duration,
    /// How the bounds are written in messages.
    pub text: &'static str,
}

/// `poll.latency`: below 100us the poller spins instead of batching; above
/// 1s events arrive late and the ring buffer overflows.
pub const LATENCY_RANGE: DurationRange =
    DurationRange { min: Duration::from_micros(100), max: Duration::from_secs(1), text: "100us to 1s" };
/// `poll.interval` and `probes.NAME.interval`: hash map walks.
pub const INTERVAL_RANGE: DurationRange =
    DurationRange { min: Duration::from_millis(10), max: Duration::from_secs(24 * 3600), text: "10ms to 24h" };

fn parse_dur(
    text: &str,
    path: &Path,
    v: &Option<Spanned<String>>,
    default: Duration,
    what: &str,
    range: DurationRange,
) -> Result<Duration> {
    let Some(s) = v else { return Ok(default) };
    let (line, column) = line_col(text, s.span().start);
    let err = |reason: String| Error::Config { path: path.to_path_buf(), line, column, reason };
    match parse_duration(s.get_ref()) {
        Some(d) if d >= range.min && d <= range.max => Ok(d),
        // a number with a unit that overflows a Duration is out of range too
        None if parse_duration(&s.get_ref().replace(|c: char| c.is_ascii_digit(), "1")).is_none() => {
            Err(err(format!("{what}: `{}` is not a duration (examples: 500ms, 1s, 2m)", s.get_ref())))
        }
        _ => Err(err(format!("{what}: `{}` is out of range ({})", s.get_ref(), range.text))),
    }
}

/// Validates one `[probes.NAME]` table of `path`; `None` if disabled.
fn probe(
    text: &str,
    path: &Path,
    name: &Spanned<String>,
    p: &RawProbe,
    default_interval: Duration,
    builtins: &[(&str, &'static [u8])],
) -> Result<Option<ProbeConfig>> {
    let at = |pos: usize, reason: String| {
        let (line, column) = line_col(text, pos);
        Error::Config { path: path.to_path_buf(), line, column, reason }
    };
    let pos = name.span().start;
    let name = name.get_ref();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        return Err(at(pos, format!("probe name `{name}`: use letters, digits, `_` and `-` only")));
    }
    let interval =
        parse_dur(text, path, &p.interval, default_interval, &format!("probes.{name}.interval"), INTERVAL_RANGE)?;
    if p.pull.is_some() && p.image.is_none() {
        return Err(at(pos, format!("probes.{name}.pull: only an `image` probe is pulled")));
    }
    let source = match (&p.object, &p.image) {
        (Some(_), Some(img)) => {
            return Err(at(img.span().start, format!("probes.{name}: set `object` or `image`, not both")));
        }
        (None, Some(img)) => {
            let r = bee_oci::Ref::parse(img.get_ref())
                .map_err(|e| at(img.span().start, format!("probes.{name}.image: {e}")))?;
            ProbeSource::Image { reference: r.name(), pull: p.pull.unwrap_or_default() }
        }
        (Some(obj), None) => {
            let file = obj.get_ref();
            let file =
                if file.is_relative() { path.parent().unwrap_or(Path::new(".")).join(file) } else { file.clone() };
            if !file.is_file() {
                return Err(at(
                    obj.span().start,
                    format!("probes.{name}.object: {} does not exist or is not a file", file.display()),
                ));
            }
            ProbeSource::File(file)
        }
        (None, None) => match builtins.iter().find(|(b, _)| b == name) {
            Some((_, bytes)) => ProbeSource::Builtin(bytes),
            None => {
                let known: Vec<&str> = builtins.iter().map(|(b, _)| *b).collect();
                return Err(at(
                    pos,
                    format!(
                        "probe `{name}` is not a built-in (built-ins: {}); set `object = \"/path/to/probe.bpf.o\"` or `image = \"REGISTRY/NAME:TAG\"` for your own",
                        known.join(", ")
                    ),
                ));
            }
        },
    };
    for (map, mc) in &p.maps {
        let at_map = |reason: String| at(pos, format!("probes.{name}.maps.{map}: {reason}"));
        if matches!(mc.step, Some(s) if !(s > 0.0 && s.is_finite())) {
            return Err(at_map("step must be a positive number".into()));
        }
        if let Some(b) = &mc.buckets {
            if b.is_empty() || b.windows(2).any(|w| w[0] >= w[1]) || b.iter().any(|x| !x.is_finite()) {
                return Err(at_map("buckets must be finite and strictly increasing".into()));
            }
        }
        if mc.max_series == Some(0) {
            return Err(at_map("max_series must be at least 1".into()));
        }
        if mc.max_entries == Some(0) {
            return Err(at_map("max_entries must be at least 1".into()));
        }
        if mc.sample == Some(0) {
            return Err(at_map("sample must be at least 1 (1 keeps every event)".into()));
        }
        if let Some(r) = &mc.max_rate {
            crate::sinks::sampling::parse_rate(r).map_err(at_map)?;
        }
        if let Some(n) = &mc.name {
            if let Some(why) = bee_metrics::names::configured_metric_name_error(n) {
                return Err(at_map(format!("name `{n}` {why}")));
            }
        }
    }
    let btf_path = match &p.btf_path {
        None => None,
        Some(b) => {
            let f = b.get_ref();
            let f = if f.is_relative() { path.parent().unwrap_or(Path::new(".")).join(f) } else { f.clone() };
            if !f.is_file() {
                return Err(at(b.span().start, format!("probes.{name}.btf_path: {} does not exist", f.display())));
            }
            Some(f)
        }
    };
    for (prog, a) in &p.attach {
        if let Some(d) = &a.direction {
            if d != "ingress" && d != "egress" {
                return Err(at(pos, format!("probes.{name}.attach.{prog}.direction: `{d}` (use ingress or egress)")));
            }
        }
        if a.frequency.is_some() && a.period.is_some() {
            return Err(at(pos, format!("probes.{name}.attach.{prog}: set frequency or period, not both")));
        }
    }
    Ok(p.enabled.then(|| ProbeConfig {
        attach: p.attach.clone(),
        btf_path,
        name: name.clone(),
        defined_in: path.to_path_buf(),
        source,
        resolved: None,
        interval,
        vars: p.vars.clone(),
        maps: p.maps.clone(),
    }))
}

/// Parses durations like `1s`, `500ms`, `250us`, `2m`, `1h`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(secs).ok()
}

/// Largest configuration file beed reads.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// Reads a configuration file, refusing anything but a regular file of a
/// sane size (a FIFO or /proc/kmsg would block the daemon, /dev/zero or
/// /proc/self/pagemap would fill memory).
fn read_config_file(path: &Path) -> Result<String> {
    bee_runtime::fsread::read_regular_string(path, MAX_CONFIG_BYTES)
        .map_err(|cause| Error::Io { path: path.to_path_buf(), cause })
}

/// 1-based line and column of byte offset `pos` in `text`.
pub fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let before = &text[..pos.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rfind('\n').map_or(before.len(), |nl| before.len() - nl - 1) + 1;
    (line, col)
}

impl Config {
    /// Reads and validates the config at `path`; `builtins` lists the
    /// built-in probes by name.
    pub fn load(path: &Path, builtins: &[(&str, &'static [u8])]) -> Result<Config> {
        let text = read_config_file(path)?;
        let mut cfg = Self::parse(&text, path, builtins)?;
        let dir = cfg.probes_dir.clone();
        let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                // a FIFO or device would block the reader: regular files only
                .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(cause) => return Err(Error::Io { path: dir, cause }),
        };
        files.sort();
        let mut names: BTreeMap<String, PathBuf> =
            cfg.all_probe_names.iter().map(|n| (n.clone(), path.to_path_buf())).collect();
        for file in files {
            let text = read_config_file(&file)?;
            let raw: RawProbesFile = toml::from_str(&text).map_err(|e| toml_error(&text, &file, &e))?;
            for (name, p) in &raw.probes {
                if let Some(first) = names.get(name.get_ref()) {
                    let (line, column) = line_col(&text, name.span().start);
                    return Err(Error::Config {
                        path: file.clone(),
                        line,
                        column,
                        reason: format!("probe `{}` is already defined in {}", name.get_ref(), first.display()),
                    });
                }
                names.insert(name.get_ref().clone(), file.clone());
                if let Some(pc) = probe(&text, &file, name, p, cfg.default_interval, builtins)? {
                    cfg.metric_names.add_named(&pc.name, &pc.maps).map_err(|reason| {
                        let (line, column) = line_col(&text, name.span().start);
                        Error::Config { path: file.clone(), line, column, reason }
                    })?;
                    cfg.probes.push(pc);
                }
            }
        }
        Ok(cfg)
    }

    /// Validates config `text` that was read from `path`.
    pub fn parse(text: &str, path: &Path, builtins: &[(&str, &'static [u8])]) -> Result<Config> {
        let at = |pos: usize, reason: String| {
            let (line, column) = line_col(text, pos);
            Error::Config { path: path.to_path_buf(), line, column, reason }
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(text, path, &e))?;
        let poll_latency =
            parse_dur(text, path, &raw.poll.latency, Duration::from_millis(5), "poll.latency", LATENCY_RANGE)?;
        let default_interval =
            parse_dur(text, path, &raw.poll.interval, Duration::from_secs(1), "poll.interval", INTERVAL_RANGE)?;
        if raw.metrics.max_series == 0 {
            return Err(at(
                text.find("max_series").unwrap_or(0),
                "metrics.max_series must be at least 1 (it caps the series of each metric)".into(),
            ));
        }
        let metrics_listen = if raw.metrics.listen.is_empty() {
            None
        } else {
            Some(raw.metrics.listen.parse::<SocketAddr>().map_err(|e| {
                at(
                    text.find(&raw.metrics.listen).unwrap_or(0),
                    format!("metrics.listen: `{}`: {e} (expected ADDRESS:PORT)", raw.metrics.listen),
                )
            })?)
        };
        let const_labels = crate::constlabels::resolve(&raw.metrics.const_labels, crate::constlabels::process_env)
            .map_err(|reason| at(text.find("const_labels").unwrap_or(0), reason))?;
        let mut probes = Vec::new();
        let mut metric_names = crate::metricnames::MetricNames::default();
        for (name, p) in &raw.probes {
            if let Some(pc) = probe(text, path, name, p, default_interval, builtins)? {
                metric_names.add_named(&pc.name, &pc.maps).map_err(|r| at(name.span().start, r))?;
                probes.push(pc);
            }
        }
        Ok(Config {
            path: path.to_path_buf(),
            metrics_listen,
            max_series: raw.metrics.max_series,
            const_labels,
            program_stats: raw.metrics.program_stats,
            metric_names,
            events: raw.events.output,
            journal_rate_limit: raw.events.journal_rate_limit,
            timestamp: raw.events.timestamp,
            poll_latency,
            default_interval,
            all_probe_names: raw.probes.keys().map(|k| k.get_ref().clone()).collect(),
            probes,
            images: raw.images,
            probes_dir: probes_dir(path, raw.probes_dir.as_deref()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILTINS: &[(&str, &[u8])] = &[("exitsnoop", b"x"), ("tcpconnect", b"y")];

    fn parse(s: &str) -> Result<Config> {
        Config::parse(s, Path::new("/etc/bee/beed.toml"), BUILTINS)
    }

    #[test]
    fn defaults_and_builtins() -> Result<()> {
        let c = parse("[probes.exitsnoop]\n[probes.tcpconnect]\ninterval = \"250ms\"\n")?;
        assert_eq!(c.metrics_listen, "127.0.0.1:9091".parse().ok());
        assert_eq!(c.probes.len(), 2);
        assert_eq!(c.probes[0].interval, Duration::from_secs(1));
        assert_eq!(c.probes[1].interval, Duration::from_millis(250));
        assert_eq!(c.poll_latency, Duration::from_millis(5));
        assert_eq!(c.events, EventOutput::Auto);
        Ok(())
    }

    #[test]
    fn event_timestamps_and_field_decoders() -> Result<()> {
        assert_eq!(parse("")?.timestamp, bee_decoders::Timestamp::Rfc3339);
        assert_eq!(parse("[events]\ntimestamp = \"unix_ns\"\n")?.timestamp, bee_decoders::Timestamp::UnixNs);
        assert_eq!(parse("[events]\ntimestamp = \"none\"\n")?.timestamp, bee_decoders::Timestamp::None);
        assert!(err("[events]\ntimestamp = \"iso\"\n").starts_with("/etc/bee/beed.toml:2:13: unknown variant `iso`"));
        let c = parse(
            "[probes.exitsnoop.maps.exits.fields.exit_code]\ndecode = \"exit_status\"\n\
             [probes.exitsnoop.maps.exits.fields.comm]\ndecode = \"static_map\"\ntable = { bash = \"shell\" }\n",
        )?;
        let fields = &c.probes[0].maps["exits"].fields;
        assert_eq!(fields["exit_code"].decode.as_deref(), Some("exit_status"));
        assert_eq!(fields["comm"].table.as_ref().map(|t| t["bash"].as_str()), Some("shell"));
        let e = err("[probes.exitsnoop.maps.exits.fields.comm]\ndecod = \"errno\"\n");
        assert!(e.starts_with("/etc/bee/beed.toml:2:1: unknown field `decod`"), "{e}");
        Ok(())
    }

    fn err(s: &str) -> String {
        match parse(s) {
            Ok(_) => String::from("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unknown_key_names_line_and_column() {
        let e = err("[metrics]\nlisten = \"127.0.0.1:1\"\nlistn = 3\n");
        assert!(e.starts_with("/etc/bee/beed.toml:3:1: unknown field `listn`"), "{e}");
        let e = err("[probes.exitsnoop]\nobjet = \"x\"\n");
        assert!(e.starts_with("/etc/bee/beed.toml:2:1: unknown field `objet`"), "{e}");
    }

    #[test]
    fn unknown_builtin_and_missing_object() {
        let e = err("\n[probes.nosuch]\n");
        assert!(e.starts_with("/etc/bee/beed.toml:2:9: probe `nosuch` is not a built-in"), "{e}");
        let e = err("[probes.mine]\nobject = \"/nonexistent/x.o\"\n");
        assert!(e.starts_with("/etc/bee/beed.toml:2:10: probes.mine.object: /nonexistent/x.o does not exist"), "{e}");
    }

    #[test]
    fn image_probes() -> Result<()> {
        let c = parse("[probes.img]\nimage = \"127.0.0.1:5000/exitsnoop:v1\"\npull = \"always\"\n")?;
        assert_eq!(
            c.probes[0].source,
            ProbeSource::Image { reference: "127.0.0.1:5000/exitsnoop:v1".into(), pull: PullPolicy::Always }
        );
        assert_eq!(c.images.store, PathBuf::from("/var/lib/bee/store"));
        let c = parse("[probes.img]\nimage = \"exitsnoop\"\n")?;
        assert_eq!(
            c.probes[0].source,
            ProbeSource::Image {
                reference: "docker.io/library/exitsnoop:latest".into(),
                pull: PullPolicy::IfNotPresent
            }
        );
        let e = err("[probes.img]\nimage = \"Bad Ref\"\n");
        assert!(
            e.starts_with("/etc/bee/beed.toml:2:9: probes.img.image: `Bad Ref`: not a valid image reference"),
            "{e}"
        );
        let e = err("[probes.img]\nobject = \"/bin/true\"\nimage = \"x:v1\"\n");
        assert!(e.contains("probes.img: set `object` or `image`, not both"), "{e}");
        let e = err("[probes.exitsnoop]\npull = \"always\"\n");
        assert!(e.contains("probes.exitsnoop.pull: only an `image` probe is pulled"), "{e}");
        let e = err("[probes.img]\nimage = \"x:v1\"\npull = \"sometimes\"\n");
        assert!(e.contains("unknown variant `sometimes`"), "{e}");
        let e = err("[images]\nstorage = \"/x\"\n");
        assert!(e.contains("unknown field `storage`"), "{e}");
        Ok(())
    }

    #[test]
    fn bad_values() {
        assert!(err("[probes.exitsnoop]\ninterval = \"soon\"\n").contains(":2:12: probes.exitsnoop.interval"));
        assert!(err("[metrics]\nlisten = \"nope\"\n").contains("metrics.listen"));
        assert!(err("[poll]\nlatency = \"0s\"\n").contains("poll.latency"));
        assert!(err("[events]\noutput = \"syslog\"\n").contains(":2:10:"));
        assert!(err("[probes.exitsnoop\n").contains(":1:"));
    }

    #[test]
    fn durations_have_ranges() {
        let e = err("[poll]\nlatency = \"1h\"\n");
        assert!(e.contains(":2:11: poll.latency: `1h` is out of range (100us to 1s)"), "{e}");
        assert!(err("[poll]\nlatency = \"1ns\"\n").contains("out of range (100us to 1s)"));
        assert!(err("[poll]\ninterval = \"1ms\"\n").contains("poll.interval: `1ms` is out of range (10ms to 24h)"));
        // 2^64 s and beyond: out of range, not a panic
        assert!(err("[poll]\ninterval = \"18446744073709551616s\"\n").contains("is out of range (10ms to 24h)"));
        assert!(err("[poll]\ninterval = \"1e300h\"\n").contains("is not a duration"));
        assert!(err("[poll]\ninterval = \"soon\"\n").contains("is not a duration"));
        assert!(err("[probes.exitsnoop]\ninterval = \"5124095576030431h\"\n").contains("out of range (10ms to 24h)"));
        assert!(parse("[poll]\nlatency = \"100us\"\ninterval = \"24h\"\n").is_ok());
        assert!(err("[metrics]\nmax_series = 0\n").contains("metrics.max_series must be at least 1"));
        assert!(err("[probes.exitsnoop.maps.x]\nmax_entries = 0\n").contains("max_entries must be at least 1"));
    }

    #[test]
    fn const_labels_and_shaping_keys() -> Result<()> {
        let c = parse("[metrics]\nconst_labels = { node = \"n1\", cluster = \"c$$\" }\n")?;
        assert_eq!(c.const_labels, vec![("cluster".into(), "c$".into()), ("node".into(), "n1".into())]);
        let e = err("[metrics]\nconst_labels = { node = \"${BEED_TEST_SURELY_UNSET}\" }\n");
        assert!(
            e.starts_with("/etc/bee/beed.toml:2:1: metrics.const_labels.node: environment variable BEED_TEST_SURELY_UNSET is not set"),
            "{e}"
        );
        assert!(err("[metrics]\nconst_labels = { probe = \"x\" }\n").contains("`probe` is a label beed sets itself"));
        let e = err("[probes.exitsnoop.maps.print_events]\nsample = 0\n");
        assert!(e.contains("probes.exitsnoop.maps.print_events: sample must be at least 1"), "{e}");
        let e = err("[probes.exitsnoop.maps.print_events]\nmax_rate = \"fast\"\n");
        assert!(e.contains("probes.exitsnoop.maps.print_events: max_rate `fast`: write EVENTS/PERIOD"), "{e}");
        let e = err("[probes.exitsnoop.maps.m]\nname = \"my-metric\"\n");
        assert!(e.contains("probes.exitsnoop.maps.m: name `my-metric` contains `-`"), "{e}");
        let e = err("[probes.exitsnoop.maps.m]\nname = \"beed_events_total\"\n");
        assert!(e.contains("probes.exitsnoop.maps.m: name `beed_events_total` starts with `beed_` (reserved"), "{e}");
        let e = err("[probes.exitsnoop.maps.a]\nname = \"x_total\"\n[probes.tcpconnect.maps.b]\nname = \"x_total\"\n");
        assert!(
            e.contains(
                ":3:9: probes.tcpconnect.maps.b: metric name `x_total` is already used by map `a` of probe `exitsnoop`"
            ),
            "{e}"
        );
        let c = parse(
            "[metrics]\nprogram_stats = true\n[probes.exitsnoop.maps.print_events]\nsample = 3\nmax_rate = \"100/s\"\n",
        )?;
        assert!(c.program_stats);
        assert_eq!(c.probes[0].maps["print_events"].sample, Some(3));
        Ok(())
    }

    #[test]
    fn disabled_probe_is_skipped() -> Result<()> {
        let c = parse("[probes.exitsnoop]\nenabled = false\n")?;
        assert!(c.probes.is_empty());
        Ok(())
    }
}

#[cfg(test)]
mod probes_d_tests {
    use super::*;

    const BUILTINS: &[(&str, &[u8])] = &[("exitsnoop", b"x"), ("tcpconnect", b"y")];

    #[test]
    fn probes_d_files_add_probes_and_name_themselves_in_errors() -> std::result::Result<(), Box<dyn std::error::Error>>
    {
        let dir = tempfile::tempdir()?;
        let main = dir.path().join("beed.toml");
        std::fs::write(&main, "[probes.exitsnoop]\n")?;
        std::fs::create_dir(dir.path().join("probes.d"))?;
        std::fs::write(dir.path().join("probes.d/10-tcp.toml"), "[probes.tcpconnect]\ninterval = \"2s\"\n")?;
        std::fs::write(dir.path().join("probes.d/README"), "not toml, ignored")?;
        let c = Config::load(&main, BUILTINS)?;
        let names: Vec<_> = c.probes.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["exitsnoop", "tcpconnect"]);
        assert_eq!(c.probes[1].interval, Duration::from_secs(2));
        assert!(c.probes[1].defined_in.ends_with("probes.d/10-tcp.toml"));

        std::fs::write(dir.path().join("probes.d/20-dup.toml"), "\n[probes.exitsnoop]\n")?;
        let e = Config::load(&main, BUILTINS).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("probes.d/20-dup.toml:2:9: probe `exitsnoop` is already defined in"), "{e}");

        std::fs::write(dir.path().join("probes.d/20-dup.toml"), "[metrics]\nlisten = \"x\"\n")?;
        let e = Config::load(&main, BUILTINS).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("probes.d/20-dup.toml:1:2: unknown field `metrics`"), "{e}");
        Ok(())
    }
}
