//! The daemon's lifecycle: config, metrics server, engine, readiness,
//! signals and an orderly stop.

use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
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
    tracing::info!(
        "beed {} starting with {} ({} probes)",
        env!("CARGO_PKG_VERSION"),
        cfg.path.display(),
        cfg.probes.len()
    );
    match crate::tracefs::ensure_mounted() {
        Ok(Some(note)) => tracing::info!("{note}"),
        Ok(None) => {}
        Err(e) => tracing::warn!("{e}"),
    }
    crate::tc::cleanup_stale(&crate::rundir::runtime_dir());

    let registry = Registry::new();
    let text = crate::sinks::exposition::TextRegistry::default();
    let selfm = SelfMetrics::register(&registry).context("registering self-metrics")?;
    let info = IntGaugeVec::new(Opts::new("beed_build_info", "beed's version"), &["version"])?;
    info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
    registry.register(Box::new(info))?;

    if let Some(addr) = cfg.metrics_listen {
        let local = crate::http::serve(addr, registry.clone(), text.clone())
            .with_context(|| format!("metrics.listen: cannot listen on {addr} (in {})", cfg.path.display()))?;
        tracing::info!("serving metrics on http://{local}/metrics");
    }

    let mut usec = 0u64;
    let watchdog = sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec));
    let listen = cfg.metrics_listen;
    let handle = engine::spawn(cfg, registry, text, selfm, watchdog).context("starting the engine thread")?;
    let report = handle.report().context("the engine thread died while loading probes")?;
    let mut summary = report.summary();
    tracing::info!("ready: {summary}; events go to {}", report.output);
    let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(&summary)]);

    let sfd = SignalFd::with_flags(&sigs, SfdFlags::SFD_CLOEXEC).context("creating a signalfd")?;
    let mut last = (Instant::now(), 0u64);
    loop {
        let mut fds = [PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(STATUS_EVERY_MS)) {
            Ok(0) | Err(Errno::EINTR) => {
                // periodic STATUS= with the event rate
                let records = handle.stats.records.load(Ordering::Relaxed);
                let rate = (records - last.1) as f64 / last.0.elapsed().as_secs_f64().max(1e-3);
                last = (Instant::now(), records);
                let status = format!("{summary}; {rate:.0} events/s");
                let _ = sd_notify::notify(false, &[NotifyState::Status(&status)]);
                continue;
            }
            Ok(_) => {}
            Err(e) => return Err(e).context("waiting for signals"),
        }
        let sig = match sfd.read_signal() {
            Ok(Some(info)) => Signal::try_from(info.ssi_signo as i32).ok(),
            Ok(None) => continue,
            Err(e) => return Err(e).context("reading a signal"),
        };
        match sig {
            Some(Signal::SIGHUP) => {
                if let Some(s) = reload(config_path, &handle, listen) {
                    summary = s;
                }
            }
            Some(sig) => {
                tracing::info!("{sig}: stopping");
                break;
            }
            None => {}
        }
    }
    let _ = sd_notify::notify(false, &[NotifyState::Stopping, NotifyState::Status("stopping: draining ring buffers")]);
    let stats = handle.stats.clone();
    handle.stop();
    tracing::info!("stopped: {} records read; every probe detached", stats.records.load(Ordering::Relaxed));
    Ok(())
}

const STATUS_EVERY_MS: u16 = 10_000;

/// SIGHUP: re-reads the configuration and applies it; an invalid
/// configuration changes nothing. Returns the new summary when applied.
fn reload(config_path: &Path, handle: &engine::EngineHandle, listen: Option<std::net::SocketAddr>) -> Option<String> {
    let mut states = vec![NotifyState::Reloading];
    if let Ok(m) = NotifyState::monotonic_usec_now() {
        states.push(m);
    }
    let _ = sd_notify::notify(false, &states);
    tracing::info!("SIGHUP: reloading {}", config_path.display());
    let result = match Config::load(config_path, crate::builtins::BUILTINS) {
        Err(e) => {
            tracing::error!("reload failed, nothing changed: {e}");
            let status = format!("reload failed: {e}");
            let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(&status)]);
            return None;
        }
        Ok(cfg) => {
            if cfg.metrics_listen != listen {
                tracing::warn!("metrics.listen changed: restart beed to listen on the new address");
            }
            handle.reload(cfg)
        }
    };
    let report = result?;
    let summary = report.summary();
    tracing::info!("reloaded: {summary}; kept [{}], removed [{}]", report.kept.join(", "), report.removed.join(", "));
    let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(&summary)]);
    Some(summary)
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
