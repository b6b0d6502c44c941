//! The engine thread: owns every loaded probe, polls all ring buffers from
//! one epoll loop, walks hash maps on their timers, applies reloads, and
//! pings the watchdog from the loop itself so a stuck poller gets the
//! service restarted.

use std::cell::RefCell;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::os::fd::AsRawFd;
use std::os::fd::{AsFd, BorrowedFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use prometheus::Registry;

use crate::config::{Config, EventOutput, ProbeConfig, ProbeSource};
use crate::mapwatch::{self, MapWatch};
use crate::probe::{self, Probe};
use crate::ringbuf;
use crate::selfmetrics::SelfMetrics;
use crate::sinks::events::Events;
use crate::sinks::exposition::TextRegistry;
use crate::sinks::Context;

/// Outcome of loading (or reloading) the configured probes.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    /// Probes running after the operation.
    pub up: Vec<String>,
    pub failed: Vec<(String, String)>,
    /// Probes left untouched by a reload.
    pub kept: Vec<String>,
    /// Changed probes whose new version failed: their previous version
    /// keeps running (also listed in `failed` and `up`).
    pub kept_previous: Vec<String>,
    pub removed: Vec<String>,
    pub output: String,
}

impl LoadReport {
    /// `2 probes up, 1 failed (x)`.
    pub fn summary(&self) -> String {
        let mut s = format!("{} probes up, {} failed", self.up.len(), self.failed.len());
        if !self.failed.is_empty() {
            let names: Vec<&str> = self.failed.iter().map(|(n, _)| n.as_str()).collect();
            s.push_str(&format!(" ({})", names.join(", ")));
        }
        s
    }
}

/// Counters the main thread reads for status lines.
#[derive(Debug, Default)]
pub struct Stats {
    pub records: AtomicU64,
}

enum Command {
    Reload(Box<Config>),
    Stop,
}

/// Handle to the running engine thread.
pub struct EngineHandle {
    wake: Arc<EventFd>,
    /// Readable once the engine thread has ended, however it ended.
    exited: Arc<EventFd>,
    commands: mpsc::Sender<Command>,
    reports: mpsc::Receiver<LoadReport>,
    thread: Option<JoinHandle<()>>,
    pub stats: Arc<Stats>,
}

impl EngineHandle {
    /// Waits for the report of the initial load (or of the last reload).
    pub fn report(&self) -> Option<LoadReport> {
        self.reports.recv().ok()
    }

    /// Applies a new configuration: probes that did not change keep running
    /// untouched; added ones are loaded, removed ones detached, changed ones
    /// reloaded. Returns the report.
    pub fn reload(&self, cfg: Config) -> Option<LoadReport> {
        self.commands.send(Command::Reload(Box::new(cfg))).ok()?;
        let _ = self.wake.write(1);
        self.report()
    }

    /// A descriptor that becomes readable when the engine thread ends (it
    /// should only end when asked to stop).
    pub fn exited_fd(&self) -> std::os::fd::RawFd {
        self.exited.as_raw_fd()
    }

    /// Waits for an engine thread that ended on its own and returns why.
    pub fn died(mut self) -> String {
        match self.thread.take().map(|t| t.join()) {
            Some(Err(panic)) => {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown cause".into());
                format!("the engine thread panicked: {msg}")
            }
            _ => "the engine thread stopped".into(),
        }
    }

    /// Asks the engine to drain its ring buffers, detach everything and exit; waits for it.
    pub fn stop(mut self) {
        let _ = self.commands.send(Command::Stop);
        let _ = self.wake.write(1);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Active {
    config: ProbeConfig,
    digest: u64,
    /// Keeps the object loaded and its programs attached.
    probe: Probe,
    sources: ringbuf::Sources,
    walks: Vec<MapWatch>,
}

/// Starts the engine: it loads every probe of `cfg`, sends one report
/// (read it with [`EngineHandle::report`]), then polls until stopped.
pub fn spawn(
    cfg: Config,
    registry: Registry,
    text: TextRegistry,
    selfm: SelfMetrics,
    watchdog: Option<Duration>,
) -> std::io::Result<EngineHandle> {
    let wake =
        Arc::new(EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK).map_err(std::io::Error::from)?);
    let exited =
        Arc::new(EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK).map_err(std::io::Error::from)?);
    let stats = Arc::new(Stats::default());
    let (report_tx, reports) = mpsc::channel();
    let (commands, command_rx) = mpsc::channel();
    let thread = {
        let wake = wake.clone();
        let stats = stats.clone();
        let exited = exited.clone();
        std::thread::Builder::new().name("beed-engine".into()).spawn(move || {
            // tells the main thread when this thread ends, even by a panic
            let _exit = ExitSignal(exited);
            let mut engine = match Engine::new(&cfg, registry, text, selfm, watchdog) {
                Some(e) => e,
                None => return,
            };
            let report = engine.apply(&cfg);
            let _ = report_tx.send(report);
            engine.run(&wake, &stats, &command_rx, &report_tx);
        })?
    };
    Ok(EngineHandle { wake, exited, commands, reports, thread: Some(thread), stats })
}

/// Fault injection for tests (`BEED_TEST_FAULT=engine-panic`): the engine
/// thread dies the way a bug would make it, so that the daemon's handling of
/// a dead engine (probes down, non-zero exit) is tested for real.
#[allow(clippy::panic)]
fn injected_panic() -> ! {
    panic!("injected fault (BEED_TEST_FAULT=engine-panic)")
}

/// Signals an eventfd when dropped (when the engine thread ends).
struct ExitSignal(Arc<EventFd>);

impl Drop for ExitSignal {
    fn drop(&mut self) {
        let _ = self.0.write(1);
    }
}

/// Identity of a probe's object: the bytes of a file, the name of a
/// built-in. An unreadable file is an error for that probe.
fn digest(pc: &ProbeConfig) -> Result<u64, String> {
    let mut h = DefaultHasher::new();
    match &pc.source {
        ProbeSource::Builtin(b) => b.hash(&mut h),
        ProbeSource::File(f) => crate::fsread::read_regular(f, probe::MAX_OBJECT_BYTES)
            .map_err(|e| format!("{}: {e}", f.display()))?
            .hash(&mut h),
    }
    Ok(h.finish())
}

/// Why a probe could not be (re)loaded, with its previous version when
/// that one keeps running.
struct Failure {
    reason: String,
    prev: Option<Box<Active>>,
}

struct Engine {
    ctx: Context,
    active: Vec<Active>,
    /// Probes whose last load failed (their `beed_probe_up 0` goes when
    /// they leave the configuration).
    failed_before: Vec<String>,
    latency: Duration,
    watchdog: Option<Duration>,
}

impl Engine {
    fn new(
        cfg: &Config,
        registry: Registry,
        text: TextRegistry,
        selfm: SelfMetrics,
        watchdog: Option<Duration>,
    ) -> Option<Self> {
        let out_errors = selfm.output_errors.with_label_values(&["events"]);
        let suppressed = selfm.events_suppressed.clone();
        let dropped = selfm.events_dropped.clone();
        let events = match Events::open(
            cfg.events,
            cfg.journal_rate_limit,
            out_errors.clone(),
            dropped.clone(),
            suppressed.clone(),
        ) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!("opening the event output failed ({e}); events go to stdout");
                match Events::open(EventOutput::Stdout, 0, out_errors.clone(), dropped.clone(), suppressed.clone()) {
                    Ok(ev) => ev,
                    Err(e) => {
                        tracing::error!("stdout is unusable too ({e}); events are counted, not written");
                        Events::open(EventOutput::None, 0, out_errors, dropped, suppressed).ok()?
                    }
                }
            }
        };
        let ctx = Context { registry, text, selfm, events: Rc::new(RefCell::new(events)), max_series: cfg.max_series };
        Some(Engine { ctx, active: Vec::new(), failed_before: Vec::new(), latency: cfg.poll_latency, watchdog })
    }

    /// Loads (and, unless told not to, attaches) one probe with its sinks.
    fn load_one(&self, pc: &ProbeConfig, digest: u64, prev: Option<Active>) -> Result<Active, Failure> {
        let started = Instant::now();
        // the new version is loaded (verifier included) while the old runs
        let mut probe = match probe::open(pc) {
            Ok(p) => p,
            Err(e) => return Err(Failure { reason: e.to_string(), prev: prev.map(Box::new) }),
        };
        let prev = match prev {
            None => {
                probe.attach(&pc.attach).map_err(|e| Failure { reason: e.to_string(), prev: None })?;
                None
            }
            Some(mut old) => {
                // swap: detach the old version, attach the new; if that fails,
                // the old one attaches again and keeps its maps and counters
                old.probe.detach();
                if let Err(e) = probe.attach(&pc.attach) {
                    let reason = e.to_string();
                    return Err(match old.probe.attach(&old.config.attach) {
                        Ok(()) => Failure { reason, prev: Some(Box::new(old)) },
                        Err(e2) => Failure {
                            reason: format!("{reason}; re-attaching the previous version failed too: {e2}"),
                            prev: None,
                        },
                    });
                }
                Some(old)
            }
        };
        if let Some(old) = prev {
            // what the old version still holds is read before it goes
            old.sources.consume();
            drop(old);
            self.forget(&pc.name);
        }
        let sources = ringbuf::build(&probe, &self.ctx).map_err(|e| Failure { reason: e.to_string(), prev: None })?;
        let walks = mapwatch::build(&probe, &self.ctx).map_err(|e| Failure { reason: e.to_string(), prev: None })?;
        tracing::info!(
            probe = %pc.name,
            "probe {} loaded ({}) in {:.0?}: programs [{}], watched maps [{}]",
            pc.name,
            probe::describe_source(pc),
            started.elapsed(),
            probe.programs.join(", "),
            probe.maps.iter().map(|m| format!("{} ({})", m.name, m.output)).collect::<Vec<_>>().join(", ")
        );
        Ok(Active { config: pc.clone(), digest, probe, sources, walks })
    }

    /// Removes every series of a probe that is gone.
    fn forget(&self, probe: &str) {
        self.ctx.selfm.forget_probe(probe);
        self.ctx.events.borrow_mut().forget(probe);
    }

    /// Brings the running probes in line with `cfg`: unchanged probes keep
    /// running untouched, added ones load, removed ones go, and a changed
    /// one is replaced only once its new version loaded and attached.
    fn apply(&mut self, cfg: &Config) -> LoadReport {
        if let Err(e) = self.ctx.events.borrow_mut().reconfigure(cfg.events, cfg.journal_rate_limit) {
            tracing::error!("events.output: {e}; keeping the previous output");
        }
        let mut report = LoadReport { output: self.ctx.events.borrow().describe().to_string(), ..Default::default() };
        self.latency = cfg.poll_latency;
        self.ctx.max_series = cfg.max_series;
        let mut old: Vec<Active> = std::mem::take(&mut self.active);
        for pc in &cfg.probes {
            let prev = old.iter().position(|a| a.config.name == pc.name).map(|i| old.swap_remove(i));
            let result = match digest(pc) {
                Ok(d) => match prev {
                    Some(a) if a.config == *pc && a.digest == d => {
                        report.kept.push(pc.name.clone());
                        report.up.push(pc.name.clone());
                        self.active.push(a);
                        continue;
                    }
                    Some(a) => {
                        tracing::info!(probe = %pc.name, "probe {} changed: loading its new version", pc.name);
                        self.load_one(pc, d, Some(a))
                    }
                    None => self.load_one(pc, d, None),
                },
                Err(reason) => Err(Failure { reason, prev: prev.map(Box::new) }),
            };
            match result {
                Ok(a) => {
                    self.ctx.selfm.probe_up.with_label_values(&[&pc.name]).set(1);
                    report.up.push(pc.name.clone());
                    self.active.push(a);
                }
                Err(Failure { reason, prev: Some(a) }) => {
                    tracing::error!(
                        probe = %pc.name,
                        "probe {}: the new version failed, the previous one keeps running: {reason}",
                        pc.name
                    );
                    report.up.push(pc.name.clone());
                    report.kept_previous.push(pc.name.clone());
                    report.failed.push((pc.name.clone(), reason));
                    self.active.push(*a);
                }
                Err(Failure { reason, prev: None }) => {
                    tracing::error!(probe = %pc.name, "probe {} failed: {reason}", pc.name);
                    self.forget(&pc.name);
                    self.ctx.selfm.probe_up.with_label_values(&[&pc.name]).set(0);
                    report.failed.push((pc.name.clone(), reason));
                }
            }
        }
        for a in old {
            tracing::info!(probe = %a.config.name, "probe {} removed from the configuration: detaching it", a.config.name);
            a.sources.consume();
            let name = a.config.name.clone();
            drop(a);
            self.forget(&name);
            report.removed.push(name);
        }
        // probes that failed before and are no longer configured
        for name in self.failed_before.drain(..) {
            if !cfg.probes.iter().any(|p| p.name == name) {
                self.ctx.selfm.forget_probe(&name);
            }
        }
        self.failed_before = report.failed.iter().map(|(n, _)| n.clone()).filter(|n| !report.up.contains(n)).collect();
        self.ctx.events.borrow_mut().flush();
        report
    }

    fn run(
        &mut self,
        wake: &EventFd,
        stats: &Stats,
        commands: &mpsc::Receiver<Command>,
        reports: &mpsc::Sender<LoadReport>,
    ) {
        let fault = std::env::var("BEED_TEST_FAULT").unwrap_or_default();
        loop {
            if fault == "engine-panic" {
                injected_panic();
            }
            if let Err(e) = self.poll(wake, stats) {
                tracing::error!("poll loop failed: {e}");
                break;
            }
            let _ = wake.read();
            let mut stop = false;
            while let Ok(cmd) = commands.try_recv() {
                match cmd {
                    Command::Stop => stop = true,
                    Command::Reload(cfg) => {
                        let report = self.apply(&cfg);
                        let _ = reports.send(report);
                    }
                }
            }
            if stop {
                break;
            }
        }
        // final drain so nothing collected is lost, then detach
        for a in &self.active {
            a.sources.consume();
        }
        self.ctx.events.borrow_mut().flush();
        self.active.clear();
    }

    /// Polls until the wake fd fires (a command is waiting).
    fn poll(&mut self, wake: &EventFd, stats: &Stats) -> nix::Result<()> {
        const WAKE: u64 = u64::MAX;
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        epoll.add(wake.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, WAKE))?;
        for (i, a) in self.active.iter().enumerate() {
            for raw in a.sources.fds() {
                // SAFETY: the buffers' epoll fds stay open while `a.sources`
                // lives, and probes are only changed after this epoll is dropped.
                let fd = unsafe { BorrowedFd::borrow_raw(raw) };
                epoll.add(fd, EpollEvent::new(EpollFlags::EPOLLIN, i as u64))?;
            }
        }
        let mut evs = [EpollEvent::empty(); 64];
        let ping_every = self.watchdog.map(|w| w / 3);
        let mut last_ping: Option<Instant> = None;
        loop {
            let now = Instant::now();
            let next_walk = self.active.iter().flat_map(|a| a.walks.iter().map(|w| w.next_due)).min();
            let mut wait = Duration::from_millis(1000);
            if let Some(due) = next_walk {
                wait = wait.min(due.saturating_duration_since(now));
            }
            if let Some(p) = ping_every {
                wait = wait.min(p);
            }
            let ms = wait.as_millis().min(u16::MAX as u128) as u16;
            let n = match epoll.wait(&mut evs, EpollTimeout::from(ms)) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => 0,
                Err(e) => return Err(e),
            };
            if evs[..n].iter().any(|e| e.data() == WAKE) {
                return Ok(());
            }
            let consumed: u64 = self.active.iter().map(|a| a.sources.consume()).sum();
            let now = Instant::now();
            for a in self.active.iter_mut() {
                for w in a.walks.iter_mut().filter(|w| w.next_due <= now) {
                    w.walk(&self.ctx);
                }
            }
            self.ctx.events.borrow_mut().flush();
            stats.records.fetch_add(consumed, Ordering::Relaxed);
            if let Some(p) = ping_every {
                if last_ping.is_none_or(|t| t.elapsed() >= p) {
                    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
                    last_ping = Some(Instant::now());
                }
            }
            if consumed > 0 {
                // let records accumulate: the kernel skips wakeups while we are
                // not waiting, which is most of the cost on the traced side
                std::thread::sleep(self.latency);
            }
        }
    }
}
