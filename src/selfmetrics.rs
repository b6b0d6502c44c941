//! beed's own metrics: per probe and per map health and throughput.

use std::collections::HashMap;

use bee_runtime::{ProbeState, Reading, Status};
use prometheus::core::{Collector, Desc, MetricVec, MetricVecBuilder};
use prometheus::proto::MetricFamily;
use prometheus::{CounterVec, Gauge, GaugeVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Handles to the daemon's own self-metrics, registered once. (What the
/// runtime counts is rendered from its status by [`RuntimeMetrics`].)
#[derive(Clone)]
pub struct SelfMetrics {
    pub series_dropped: IntCounterVec,
    pub output_errors: IntCounterVec,
    pub events_dropped: IntCounterVec,
    pub events_suppressed: IntCounterVec,
    /// `sample = N` and `max_rate` of print maps (`sinks::sampling`).
    pub events_sampled_out: IntCounterVec,
    pub events_rate_limited: IntCounterVec,
    pub reload_ok: IntGauge,
    pub reload_time: Gauge,
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> prometheus::Result<T> {
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

impl SelfMetrics {
    /// Creates and registers the self-metrics in `r`.
    pub fn register(r: &Registry) -> prometheus::Result<Self> {
        let pm = ["probe", "map"];
        Ok(SelfMetrics {
            series_dropped: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "beed_series_dropped_total",
                        "Label sets refused because the metric reached its max_series (ring buffers: every refused \
                         sample; hash maps: once per label set while it stays in the map)",
                    ),
                    &pm,
                )?,
            )?,
            output_errors: reg(
                r,
                IntCounterVec::new(
                    Opts::new("beed_output_errors_total", "Events that could not be written to their output"),
                    &["output"],
                )?,
            )?,
            events_dropped: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "beed_events_dropped_total",
                        "Events not written because the output could not keep up (stdout reader stalled, journal busy)",
                    ),
                    &["output"],
                )?,
            )?,
            events_suppressed: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "beed_events_suppressed_total",
                        "Events not written to the journal because the probe exceeded events.journal_rate_limit",
                    ),
                    &["probe"],
                )?,
            )?,
            events_sampled_out: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "beed_events_sampled_out_total",
                        "Events not written because the print map keeps one event in `sample`",
                    ),
                    &pm,
                )?,
            )?,
            events_rate_limited: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "beed_events_rate_limited_total",
                        "Events not written because the print map exceeded its max_rate",
                    ),
                    &pm,
                )?,
            )?,
            reload_ok: reg(
                r,
                IntGauge::new(
                    "beed_config_last_reload_successful",
                    "1 if the last configuration (re)load was valid and every changed probe loaded, else 0",
                )?,
            )?,
            reload_time: reg(
                r,
                Gauge::new(
                    "beed_config_last_reload_success_timestamp_seconds",
                    "Time of the last successful configuration (re)load, in seconds since the epoch",
                )?,
            )?,
        })
    }

    /// Removes every daemon series labelled with `probe` (the runtime's go
    /// with the probe's state): a probe that is gone
    /// (removed, renamed, or replaced by a new version) leaves nothing behind.
    pub fn forget_probe(&self, probe: &str) {
        forget(&self.series_dropped, probe);
        forget(&self.events_suppressed, probe);
        forget(&self.events_sampled_out, probe);
        forget(&self.events_rate_limited, probe);
    }

    /// Records the outcome of a configuration (re)load.
    pub fn reloaded(&self, ok: bool) {
        self.reload_ok.set(i64::from(ok));
        if ok {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            self.reload_time.set(now.as_secs_f64());
        }
    }
}

/// Removes the series of `vec` whose `probe` label is `probe`.
fn forget<T: MetricVecBuilder>(vec: &MetricVec<T>, probe: &str) {
    for family in vec.collect() {
        for m in family.get_metric() {
            let labels: HashMap<&str, &str> = m.get_label().iter().map(|l| (l.name(), l.value())).collect();
            if labels.get("probe") == Some(&probe) {
                let _ = vec.remove(&labels);
            }
        }
    }
}

/// The runtime's counters and probe states, rendered on each scrape as
/// `beed_probe_up`, `beed_events_total`, `beed_events_lost_total`,
/// `beed_decode_errors_total`, the `beed_map_*` families and, with
/// `metrics.program_stats`, `beed_program_runs_total` and
/// `beed_program_run_seconds_total`; `beed_program_misses_total` always.
pub struct RuntimeMetrics {
    status: Status,
    descs: Vec<Desc>,
    /// `beed_program_run*` are rendered only while it is on.
    program_stats: crate::programstats::ProgramStatsSwitch,
}

/// The families the runtime's status renders to, fresh for one scrape.
struct Families {
    probe_up: IntGaugeVec,
    events: IntCounterVec,
    events_lost: IntCounterVec,
    decode_errors: IntCounterVec,
    walk_seconds: GaugeVec,
    walk_errors: IntCounterVec,
    map_entries: IntGaugeVec,
    map_max_entries: IntGaugeVec,
    program_runs: IntCounterVec,
    program_run_seconds: CounterVec,
    program_misses: IntCounterVec,
}

impl Families {
    fn new() -> prometheus::Result<Self> {
        let pm = ["probe", "map"];
        Ok(Families {
            probe_up: IntGaugeVec::new(
                Opts::new("beed_probe_up", "1 if the probe is loaded and attached, 0 if it failed"),
                &["probe"],
            )?,
            events: IntCounterVec::new(Opts::new("beed_events_total", "Records read from ring buffers"), &pm)?,
            events_lost: IntCounterVec::new(
                Opts::new(
                    "beed_events_lost_total",
                    "Events the kernel side could not submit (ring buffer full), as counted by the probe",
                ),
                &["probe"],
            )?,
            decode_errors: IntCounterVec::new(
                Opts::new("beed_decode_errors_total", "Records that did not match the map's BTF type"),
                &pm,
            )?,
            walk_seconds: GaugeVec::new(
                Opts::new("beed_map_walk_duration_seconds", "Duration of the last walk of a hash or array map"),
                &pm,
            )?,
            walk_errors: IntCounterVec::new(Opts::new("beed_map_walk_errors_total", "Map walks that failed"), &pm)?,
            map_entries: IntGaugeVec::new(
                Opts::new("beed_map_entries", "Entries found in the map at its last walk"),
                &pm,
            )?,
            map_max_entries: IntGaugeVec::new(Opts::new("beed_map_max_entries", "The map's max_entries"), &pm)?,
            program_runs: IntCounterVec::new(
                Opts::new(
                    "beed_program_runs_total",
                    "Times the program ran while BPF statistics were on (metrics.program_stats)",
                ),
                &["probe", "program"],
            )?,
            program_run_seconds: CounterVec::new(
                Opts::new(
                    "beed_program_run_seconds_total",
                    "Time the kernel spent running the program while BPF statistics were on (metrics.program_stats)",
                ),
                &["probe", "program"],
            )?,
            program_misses: IntCounterVec::new(
                Opts::new(
                    "beed_program_misses_total",
                    "Runs of the program the kernel skipped because it would have run inside itself, or (a \
                     kprobe) inside another BPF program, on that CPU: what they would have recorded \
                     is lost (bpf_prog_info.recursion_misses, Linux 6.7+)",
                ),
                &["probe", "program"],
            )?,
        })
    }

    fn collectors(&self) -> [&dyn Collector; 11] {
        [
            &self.probe_up,
            &self.events,
            &self.events_lost,
            &self.decode_errors,
            &self.walk_seconds,
            &self.walk_errors,
            &self.map_entries,
            &self.map_max_entries,
            &self.program_runs,
            &self.program_run_seconds,
            &self.program_misses,
        ]
    }

    fn fill(&self, name: &str, state: &ProbeState, programs: bool) {
        let stats = match state {
            ProbeState::Up(stats) => stats,
            ProbeState::Failed(_) => {
                self.probe_up.with_label_values(&[name]).set(0);
                return;
            }
        };
        self.probe_up.with_label_values(&[name]).set(1);
        for p in &stats.programs {
            let Some(runs) = p.read() else { continue };
            let l = [name, p.program.as_str()];
            self.program_misses.with_label_values(&l).inc_by(runs.missed);
            if programs {
                self.program_runs.with_label_values(&l).inc_by(runs.count);
                self.program_run_seconds.with_label_values(&l).inc_by(runs.nanos as f64 / 1e9);
            }
        }
        if let Some(lost) = &stats.lost {
            self.events_lost.with_label_values(&[name]).inc_by(lost.get());
        }
        for m in &stats.maps {
            let l = [name, m.map.as_str()];
            self.decode_errors.with_label_values(&l).inc_by(m.decode_errors.get());
            if m.reading == Reading::Events {
                self.events.with_label_values(&l).inc_by(m.records.get());
                continue;
            }
            self.walk_seconds.with_label_values(&l).set(m.walk_nanos.get() as f64 / 1e9);
            self.walk_errors.with_label_values(&l).inc_by(m.walk_errors.get());
            self.map_entries.with_label_values(&l).set(m.entries.get());
            if m.reading == Reading::Walked {
                self.map_max_entries.with_label_values(&l).set(i64::from(m.max_entries));
            }
        }
    }
}

impl RuntimeMetrics {
    /// Registers the runtime's families in `r`, read from `status`.
    pub fn register(
        r: &Registry,
        status: Status,
        program_stats: crate::programstats::ProgramStatsSwitch,
    ) -> prometheus::Result<()> {
        let descs = Families::new()?.collectors().iter().flat_map(|c| c.desc().into_iter().cloned()).collect();
        r.register(Box::new(RuntimeMetrics { status, descs, program_stats }))
    }
}

impl Collector for RuntimeMetrics {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Ok(f) = Families::new() else { return Vec::new() };
        let programs = self.program_stats.is_on();
        for (name, state) in self.status.lock().iter() {
            f.fill(name, state, programs);
        }
        f.collectors().iter().flat_map(|c| c.collect()).collect()
    }
}
