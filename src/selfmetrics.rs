//! beed's own metrics: per probe and per map health and throughput.

use std::collections::HashMap;

use prometheus::core::{Collector, MetricVec, MetricVecBuilder};
use prometheus::{Gauge, GaugeVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Handles to every self-metric, registered once.
#[derive(Clone)]
pub struct SelfMetrics {
    pub probe_up: IntGaugeVec,
    pub events: IntCounterVec,
    pub events_lost: IntCounterVec,
    pub decode_errors: IntCounterVec,
    pub series_dropped: IntCounterVec,
    pub output_errors: IntCounterVec,
    pub events_dropped: IntCounterVec,
    pub events_suppressed: IntCounterVec,
    pub walk_seconds: GaugeVec,
    pub walk_errors: IntCounterVec,
    pub map_entries: IntGaugeVec,
    pub map_max_entries: IntGaugeVec,
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
            probe_up: reg(
                r,
                IntGaugeVec::new(
                    Opts::new("beed_probe_up", "1 if the probe is loaded and attached, 0 if it failed"),
                    &["probe"],
                )?,
            )?,
            events: reg(r, IntCounterVec::new(Opts::new("beed_events_total", "Records read from ring buffers"), &pm)?)?,
            events_lost: reg(
                r,
                IntCounterVec::new(
                    Opts::new(
                        "beed_events_lost_total",
                        "Events the kernel side could not submit (ring buffer full), as counted by the probe",
                    ),
                    &["probe"],
                )?,
            )?,
            decode_errors: reg(
                r,
                IntCounterVec::new(
                    Opts::new("beed_decode_errors_total", "Records that did not match the map's BTF type"),
                    &pm,
                )?,
            )?,
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
            walk_seconds: reg(
                r,
                GaugeVec::new(
                    Opts::new("beed_map_walk_duration_seconds", "Duration of the last walk of a hash or array map"),
                    &pm,
                )?,
            )?,
            walk_errors: reg(
                r,
                IntCounterVec::new(Opts::new("beed_map_walk_errors_total", "Map walks that failed"), &pm)?,
            )?,
            map_entries: reg(
                r,
                IntGaugeVec::new(Opts::new("beed_map_entries", "Entries found in the map at its last walk"), &pm)?,
            )?,
            map_max_entries: reg(
                r,
                IntGaugeVec::new(Opts::new("beed_map_max_entries", "The map's max_entries"), &pm)?,
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

    /// Removes every series labelled with `probe`: a probe that is gone
    /// (removed, renamed, or replaced by a new version) leaves nothing behind.
    pub fn forget_probe(&self, probe: &str) {
        forget(&self.probe_up, probe);
        forget(&self.events, probe);
        forget(&self.events_lost, probe);
        forget(&self.decode_errors, probe);
        forget(&self.series_dropped, probe);
        forget(&self.events_suppressed, probe);
        forget(&self.walk_seconds, probe);
        forget(&self.walk_errors, probe);
        forget(&self.map_entries, probe);
        forget(&self.map_max_entries, probe);
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
