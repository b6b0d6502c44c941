//! `[metrics] program_stats`: while on, beed holds the kernel's BPF
//! statistics on (`bee_runtime::progstats::enable`) and renders each
//! program's run count and run time (`beed_program_runs_total`,
//! `beed_program_run_seconds_total`); off (the default), neither.

use std::sync::{Arc, Mutex};

use bee_runtime::progstats::{self, StatsEnabled};

/// The switch, shared by the daemon (which sets it from the config) and
/// the self-metrics collector (which renders only while it is on).
#[derive(Clone, Default)]
pub struct ProgramStatsSwitch(Arc<Mutex<Switch>>);

#[derive(Default)]
struct Switch {
    on: bool,
    guard: Option<StatsEnabled>,
}

impl ProgramStatsSwitch {
    /// Applies `metrics.program_stats`.
    pub fn set(&self, on: bool) {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if s.on == on {
            return;
        }
        s.on = on;
        if !on {
            s.guard = None;
            tracing::info!("metrics.program_stats off: BPF run-time statistics released");
            return;
        }
        match progstats::enable() {
            Ok(g) => {
                s.guard = Some(g);
                tracing::info!("metrics.program_stats on: BPF run-time statistics enabled while beed runs");
            }
            Err(e) if progstats::sysctl_enabled() => {
                tracing::info!("metrics.program_stats: BPF_ENABLE_STATS failed ({e}); kernel.bpf_stats_enabled is on")
            }
            Err(e) => tracing::warn!(
                "metrics.program_stats: enabling BPF run-time statistics failed ({e}): run counts stay 0 unless \
                 kernel.bpf_stats_enabled=1 (needs CAP_SYS_ADMIN and Linux 5.8)"
            ),
        }
    }

    /// Whether program statistics are rendered.
    pub fn is_on(&self) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).on
    }
}
