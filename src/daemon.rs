//! The daemon's lifecycle: config, metrics server, engine, readiness,
//! signals and an orderly stop.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result};
use nix::sys::signal::{SigSet, Signal};
use prometheus::{IntGaugeVec, Opts, Registry};
use sd_notify::NotifyState;

use crate::config::Config;
use crate::engine;
use crate::selfmetrics::SelfMetrics;

/// Signals handled by the main thread; blocked in every thread.
pub fn signal_set() -> SigSet {
    let mut s = SigSet::empty();
    s.add(Signal::SIGTERM);
    s.add(Signal::SIGINT);
    s.add(Signal::SIGHUP);
    s
}

/// Runs beed until SIGTERM/SIGINT.
pub fn run(config_path: &Path) -> Result<()> {
    let sigs = signal_set();
    sigs.thread_block().context("blocking signals")?;

    let cfg = Config::load(config_path, crate::builtins::BUILTINS)?;
    tracing::info!("beed {} starting with {} ({} probes)", env!("CARGO_PKG_VERSION"), cfg.path.display(), cfg.probes.len());
    match crate::tracefs::ensure_mounted() {
        Ok(Some(note)) => tracing::info!("{note}"),
        Ok(None) => {}
        Err(e) => tracing::warn!("{e}"),
    }

    let registry = Registry::new();
    let selfm = SelfMetrics::register(&registry).context("registering self-metrics")?;
    let info = IntGaugeVec::new(Opts::new("beed_build_info", "beed's version"), &["version"])?;
    info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
    registry.register(Box::new(info))?;

    if let Some(addr) = cfg.metrics_listen {
        let local = crate::http::serve(addr, registry.clone())
            .with_context(|| format!("metrics.listen: cannot listen on {addr} (in {})", cfg.path.display()))?;
        tracing::info!("serving metrics on http://{local}/metrics");
    }

    let mut usec = 0u64;
    let watchdog = sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec));
    let (handle, reports) = engine::spawn(cfg, registry, selfm, watchdog).context("starting the engine thread")?;
    let report = reports.recv().context("the engine thread died while loading probes")?;
    let status = format!(
        "{} probes up, {} failed{}",
        report.up.len(),
        report.failed.len(),
        if report.failed.is_empty() {
            String::new()
        } else {
            format!(" ({})", report.failed.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "))
        }
    );
    tracing::info!("ready: {status}; events go to {}", report.output);
    let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(&status)]);

    loop {
        match sigs.wait() {
            Ok(Signal::SIGHUP) => {
                tracing::warn!("SIGHUP: live reload is not implemented yet; restart beed to apply config changes");
            }
            Ok(sig) => {
                tracing::info!("{sig}: stopping");
                break;
            }
            Err(e) => {
                tracing::error!("waiting for signals: {e}");
                break;
            }
        }
    }
    let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
    let stats = handle.stats.clone();
    handle.stop();
    tracing::info!(
        "stopped: {} records read; every probe detached",
        stats.records.load(std::sync::atomic::Ordering::Relaxed)
    );
    Ok(())
}

/// Validates a config and every probe object it names, without loading
/// anything into the kernel.
pub fn check_config(path: &Path) -> Result<()> {
    let cfg = Config::load(path, crate::builtins::BUILTINS)?;
    for p in &cfg.probes {
        let (bytes, what) = match &p.source {
            crate::config::ProbeSource::Builtin(b) => (b.to_vec(), format!("built-in {}", p.name)),
            crate::config::ProbeSource::File(f) => (
                std::fs::read(f).with_context(|| format!("probe {}: reading {}", p.name, f.display()))?,
                f.display().to_string(),
            ),
        };
        let maps = crate::probe::inspect(&bytes, &what).with_context(|| format!("probe {}", p.name))?;
        println!(
            "probe {}: ok ({}), watched maps: {}",
            p.name,
            what,
            if maps.is_empty() {
                "none".into()
            } else {
                maps.iter().map(|m| format!("{} ({})", m.name, m.output)).collect::<Vec<_>>().join(", ")
            }
        );
    }
    println!("{}: ok", path.display());
    Ok(())
}
