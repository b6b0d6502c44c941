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

use bee_runtime::engine;

use crate::config::Config;
use crate::outputs::{Outputs, Settings};
use crate::selfmetrics::{RuntimeMetrics, SelfMetrics};

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

    let mut cfg = Config::load(config_path, crate::builtins::BUILTINS)?;
    tracing::info!(
        "beed {} starting with {} ({} probes)",
        env!("CARGO_PKG_VERSION"),
        cfg.path.display(),
        cfg.probes.len()
    );
    let _ = crate::images::resolve(&mut cfg, crate::images::Network::Pull);
    match bee_runtime::tracefs::ensure_mounted() {
        Ok(Some(note)) => tracing::info!("{note}"),
        Ok(None) => {}
        Err(e) => tracing::warn!("{e}"),
    }
    let rundir = crate::rundir::runtime_dir();
    // tc filters a killed beed left behind (kernels without TCX)
    bee_runtime::tc::set_state_dir(rundir.clone());
    bee_runtime::tc::cleanup_stale(&rundir);

    // metrics.const_labels: the registry adds them to its families, the
    // text registry to the walked maps'
    let registry = if cfg.const_labels.is_empty() {
        Registry::new()
    } else {
        Registry::new_custom(None, Some(cfg.const_labels.iter().cloned().collect()))?
    };
    let text = bee_metrics::exposition::TextRegistry::with_const_labels(cfg.const_labels.clone());
    let const_labels = cfg.const_labels.clone();
    let selfm = SelfMetrics::register(&registry).context("registering self-metrics")?;
    registry
        .register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))
        .context("registering the process metrics")?;
    let info = IntGaugeVec::new(Opts::new("beed_build_info", "beed's version"), &["version"])?;
    info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
    registry.register(Box::new(info))?;

    let health = crate::http::Health::default();
    if let Some(addr) = cfg.metrics_listen {
        let local = crate::http::serve(addr, registry.clone(), text.clone(), health.clone())
            .with_context(|| format!("metrics.listen: cannot listen on {addr} (in {})", cfg.path.display()))?;
        tracing::info!("serving metrics on http://{local}/metrics");
    }

    let mut usec = 0u64;
    let watchdog = sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec));
    let listen = (cfg.metrics_listen, const_labels);
    let setup = Settings::setup(&cfg);
    let (events, rate) = (cfg.events, cfg.journal_rate_limit);
    let outputs = {
        let (registry, selfm) = (registry.clone(), selfm.clone());
        move || Outputs::open(registry, text, selfm, events, rate)
    };
    let handle = engine::spawn(setup, outputs, watchdog).context("starting the engine thread")?;
    health.set_running(true);
    let program_stats = crate::programstats::ProgramStatsSwitch::default();
    program_stats.set(cfg.program_stats);
    RuntimeMetrics::register(&registry, handle.status.clone(), program_stats.clone())
        .context("registering runtime metrics")?;
    let Some(report) = handle.report() else {
        health.set_running(false);
        let why = handle.died();
        let _ = sd_notify::notify(false, &[NotifyState::Status(&why)]);
        anyhow::bail!("{why} while loading probes");
    };
    let mut summary = report.summary();
    let mut generation = 0u64;
    record_reload(&rundir, &selfm, &mut generation, &report, None);
    health.set_ready(true);
    tracing::info!("ready: {summary}; events go to {}", report.note);
    let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(&summary)]);

    let sfd = SignalFd::with_flags(&sigs, SfdFlags::SFD_CLOEXEC).context("creating a signalfd")?;
    // SAFETY: the eventfd lives as long as `handle`, which outlives this loop.
    let exited = unsafe { std::os::fd::BorrowedFd::borrow_raw(handle.exited_fd()) };
    let mut last = (Instant::now(), 0u64);
    loop {
        let mut fds = [PollFd::new(sfd.as_fd(), PollFlags::POLLIN), PollFd::new(exited, PollFlags::POLLIN)];
        let polled = poll(&mut fds, PollTimeout::from(STATUS_EVERY_MS));
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            // the engine ended on its own: every probe is gone with it (its
            // status says so), and the watchdog it pinged stops; exit so the
            // service manager restarts us
            health.set_running(false);
            let why = handle.died();
            let _ = sd_notify::notify(false, &[NotifyState::Status(&format!("failed: {why}"))]);
            anyhow::bail!("{why}; every probe is down");
        }
        match polled {
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
                if let Some(s) = reload(config_path, &handle, &listen, &program_stats, &rundir, &selfm, &mut generation)
                {
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
    health.set_running(false);
    handle.stop();
    tracing::info!("stopped: {} records read; every probe detached", stats.records.load(Ordering::Relaxed));
    Ok(())
}

const STATUS_EVERY_MS: u16 = 10_000;

/// Publishes the outcome of a (re)load: the `beed_config_last_reload_*`
/// metrics and the status file `beed --reload` waits for. `error` is a
/// configuration that did not even parse.
fn record_reload(
    rundir: &Path,
    selfm: &SelfMetrics,
    generation: &mut u64,
    report: &engine::LoadReport,
    error: Option<&str>,
) {
    let ok = error.is_none() && report.failed.is_empty();
    selfm.reloaded(ok);
    *generation += 1;
    let message = match error {
        Some(e) => format!("reload failed, nothing changed: {e}"),
        None if ok => format!("reloaded: {}", report.summary()),
        None => {
            let mut m = format!("reload failed: {}", report.summary());
            for (name, reason) in &report.failed {
                let kept =
                    if report.kept_previous.contains(name) { " (its previous version keeps running)" } else { "" };
                m.push_str(&format!("\nprobe {name}{kept}: {reason}"));
            }
            m
        }
    };
    let st = crate::reloadstatus::Status { pid: std::process::id(), generation: *generation, ok, message };
    if let Err(e) = crate::reloadstatus::write(rundir, &st) {
        tracing::debug!("cannot record the reload status in {}: {e}", rundir.display());
    }
}

/// SIGHUP: re-reads the configuration and applies it; an invalid
/// configuration changes nothing, and a changed probe whose new version
/// fails keeps its previous version. Returns the new summary when applied.
fn reload(
    config_path: &Path,
    handle: &engine::EngineHandle<Settings>,
    // metrics.listen and metrics.const_labels, which take effect at start
    listen: &(Option<std::net::SocketAddr>, Vec<(String, String)>),
    program_stats: &crate::programstats::ProgramStatsSwitch,
    rundir: &Path,
    selfm: &SelfMetrics,
    generation: &mut u64,
) -> Option<String> {
    let mut states = vec![NotifyState::Reloading];
    if let Ok(m) = NotifyState::monotonic_usec_now() {
        states.push(m);
    }
    let _ = sd_notify::notify(false, &states);
    tracing::info!("SIGHUP: reloading {}", config_path.display());
    let mut cfg = match Config::load(config_path, crate::builtins::BUILTINS) {
        Err(e) => {
            tracing::error!("reload failed, nothing changed: {e}");
            record_reload(rundir, selfm, generation, &engine::LoadReport::default(), Some(&e.to_string()));
            let status = format!("reload failed: {e}");
            let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(&status)]);
            return None;
        }
        Ok(cfg) => cfg,
    };
    let _ = crate::images::resolve(&mut cfg, crate::images::Network::Pull);
    if cfg.metrics_listen != listen.0 {
        tracing::warn!("metrics.listen changed: restart beed to listen on the new address");
    }
    if cfg.const_labels != listen.1 {
        tracing::warn!("metrics.const_labels changed: restart beed to label its metrics with them");
    }
    program_stats.set(cfg.program_stats);
    // None: the engine is gone; the main loop notices and exits
    let report = handle.reload(Settings::setup(&cfg))?;
    record_reload(rundir, selfm, generation, &report, None);
    let summary = report.summary();
    tracing::info!("reloaded: {summary}; kept [{}], removed [{}]", report.kept.join(", "), report.removed.join(", "));
    let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(&summary)]);
    Some(summary)
}

/// `beed --reload PID`: asks the beed at PID to reload and reports the
/// outcome (the unit's `ExecReload=`, which needs nothing but beed).
pub fn request_reload(pid: i32) -> Result<()> {
    let dir = crate::rundir::runtime_dir();
    let st = crate::reloadstatus::request(pid, &dir, RELOAD_WAIT).map_err(anyhow::Error::msg)?;
    println!("{}", st.message);
    if st.ok {
        Ok(())
    } else {
        anyhow::bail!("the reload did not apply everything (see above)")
    }
}

/// How long `beed --reload` waits for the daemon (below systemd's default
/// TimeoutSec of 90s, so the reload's own message is what users see).
const RELOAD_WAIT: Duration = Duration::from_secs(80);

/// Validates a config and every probe object it names: everything that
/// can be checked without the kernel (object validation, watched maps, map
/// settings, label, value and slot fields, vars, attach targets); with
/// `load`, also loads each probe into the kernel to run the verifier,
/// attaching nothing. Every probe is checked; the first error is returned.
pub fn check_config(path: &Path, load: bool) -> Result<()> {
    let mut cfg = Config::load(path, crate::builtins::BUILTINS)?;
    let pending = crate::images::resolve(&mut cfg, crate::images::Network::Offline);
    let mut failed = Vec::new();
    let const_labels: Vec<String> = cfg.const_labels.iter().map(|(n, _)| n.clone()).collect();
    // every watched metric map's family name, configured or not
    let mut names = crate::metricnames::MetricNames::default();
    let decoders = bee_decoders::Context::system();
    for p in &cfg.probes {
        if pending.contains(&p.name) {
            println!(
                "probe {}: {}: not in the image store yet; beed pulls it when it starts",
                p.name,
                p.spec().describe_source()
            );
            continue;
        }
        let spec = p.spec();
        let res = bee_runtime::probe::read_object(&spec)
            .and_then(|object| bee_runtime::probe::check(&spec, &object))
            .map_err(crate::error::Error::from)
            .and_then(|c| {
                crate::outputs::check(&p.name, &p.maps, c.specs(), &const_labels, &decoders)?;
                let none = crate::config::MapConfig::default();
                for m in c.specs().iter().filter(|m| m.output != bee_object::convention::Output::Print) {
                    names
                        .add(&p.name, &m.name, p.maps.get(&m.name).unwrap_or(&none))
                        .map_err(|reason| bee_object::Error::Setting { what: "metric names".into(), reason })?;
                }
                if load {
                    bee_runtime::probe::verify(&spec, &c)?;
                }
                Ok(c)
            });
        match res {
            Ok(checked) => {
                let maps = checked.specs();
                println!(
                    "probe {}: ok ({}{}), watched maps: {}",
                    p.name,
                    checked.what(),
                    if load { ", loaded into the kernel and verified" } else { "" },
                    if maps.is_empty() {
                        "none".into()
                    } else {
                        maps.iter().map(|m| format!("{} ({})", m.name, m.output)).collect::<Vec<_>>().join(", ")
                    }
                );
            }
            Err(e) => {
                println!("probe {}: error: {e}", p.name);
                failed.push(format!("probe {}: {e}", p.name));
            }
        }
    }
    if let Some(first) = failed.first() {
        anyhow::bail!("{}: {} of {} probes invalid; first: {first}", path.display(), failed.len(), cfg.probes.len());
    }
    println!("{}: ok", path.display());
    Ok(())
}
