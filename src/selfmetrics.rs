//! beed's own metrics: per probe and per map health and throughput.

use prometheus::{GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry};

/// Handles to every self-metric, registered once.
#[derive(Clone)]
pub struct SelfMetrics {
    pub probe_up: IntGaugeVec,
    pub events: IntCounterVec,
    pub events_lost: IntCounterVec,
    pub decode_errors: IntCounterVec,
    pub series_dropped: IntCounterVec,
    pub output_errors: IntCounterVec,
    pub events_suppressed: IntCounterVec,
    pub walk_seconds: GaugeVec,
    pub walk_errors: IntCounterVec,
    pub map_entries: IntGaugeVec,
    pub map_max_entries: IntGaugeVec,
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
                        "Samples for new label sets refused because the metric reached metrics.max_series",
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
        })
    }
}
