//! The engine thread: owns every loaded probe, polls all ring buffers from
//! one epoll loop, walks hash maps on their timers, applies reloads, and
//! pings the watchdog from the loop itself so a stuck poller gets the
//! service restarted.

use std::cell::RefCell;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
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
    _probe: Probe,
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
    let stats = Arc::new(Stats::default());
    let (report_tx, reports) = mpsc::channel();
    let (commands, command_rx) = mpsc::channel();
    let thread = {
        let wake = wake.clone();
        let stats = stats.clone();
        std::thread::Builder::new().name("beed-engine".into()).spawn(move || {
            let mut engine = match Engine::new(&cfg, registry, text, selfm, watchdog) {
                Some(e) => e,
                None => return,
            };
            let report = engine.apply(&cfg);
            let _ = report_tx.send(report);
            engine.run(&wake, &stats, &command_rx, &report_tx);
        })?
    };
    Ok(EngineHandle { wake, commands, reports, thread: Some(thread), stats })
}

/// Identity of a probe's object: the bytes of a file, the name of a built-in.
fn digest(pc: &ProbeConfig) -> u64 {
    let mut h = DefaultHasher::new();
    match &pc.source {
        ProbeSource::Builtin(b) => b.hash(&mut h),
        ProbeSource::File(f) => std::fs::read(f).unwrap_or_default().hash(&mut h),
    }
    h.finish()
}

struct Engine {
    ctx: Context,
    active: Vec<Active>,
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
        let events = match Events::open(cfg.events, cfg.journal_rate_limit, out_errors.clone(), suppressed.clone()) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!("opening the event output failed ({e}); events go to stdout");
                Events::open(EventOutput::Stdout, 0, out_errors, suppressed).ok()?
            }
        };
        let ctx = Context { registry, text, selfm, events: Rc::new(RefCell::new(events)), max_series: cfg.max_series };
        Some(Engine { ctx, active: Vec::new(), latency: cfg.poll_latency, watchdog })
    }

    fn load_one(&self, pc: &ProbeConfig) -> Result<Active, String> {
        let started = Instant::now();
        let probe = probe::load(pc).map_err(|e| e.to_string())?;
        let sources = ringbuf::build(&probe, &self.ctx).map_err(|e| e.to_string())?;
        let walks = mapwatch::build(&probe, &self.ctx).map_err(|e| e.to_string())?;
        tracing::info!(
            probe = %pc.name,
            "probe {} loaded ({}) in {:.0?}: programs [{}], watched maps [{}]",
            pc.name,
            probe::describe_source(pc),
            started.elapsed(),
            probe.programs.join(", "),
            probe.maps.iter().map(|m| format!("{} ({})", m.name, m.output)).collect::<Vec<_>>().join(", ")
        );
        Ok(Active { config: pc.clone(), digest: digest(pc), _probe: probe, sources, walks })
    }

    /// Brings the running probes in line with `cfg`.
    fn apply(&mut self, cfg: &Config) -> LoadReport {
        if let Err(e) = self.ctx.events.borrow_mut().reconfigure(cfg.events, cfg.journal_rate_limit) {
            tracing::error!("events.output: {e}; keeping the previous output");
        }
        let mut report = LoadReport { output: self.ctx.events.borrow().describe().to_string(), ..Default::default() };
        self.latency = cfg.poll_latency;
        self.ctx.max_series = cfg.max_series;
        // drain what removed or changed probes still hold before detaching them
        for a in &self.active {
            a.sources.consume();
        }
        let mut old: Vec<Active> = std::mem::take(&mut self.active);
        for pc in &cfg.probes {
            let d = digest(pc);
            if let Some(i) = old.iter().position(|a| a.config == *pc && a.digest == d) {
                let a = old.swap_remove(i);
                report.kept.push(pc.name.clone());
                report.up.push(pc.name.clone());
                self.active.push(a);
                continue;
            }
            // changed: detach the old version first (its metric names get reused)
            if let Some(i) = old.iter().position(|a| a.config.name == pc.name) {
                tracing::info!(probe = %pc.name, "probe {} changed: reloading it", pc.name);
                drop(old.swap_remove(i));
            }
            match self.load_one(pc) {
                Ok(a) => {
                    self.ctx.selfm.probe_up.with_label_values(&[&pc.name]).set(1);
                    report.up.push(pc.name.clone());
                    self.active.push(a);
                }
                Err(e) => {
                    tracing::error!(probe = %pc.name, "probe {} failed: {e}", pc.name);
                    self.ctx.selfm.probe_up.with_label_values(&[&pc.name]).set(0);
                    report.failed.push((pc.name.clone(), e));
                }
            }
        }
        for a in old {
            tracing::info!(probe = %a.config.name, "probe {} removed from the configuration: detaching it", a.config.name);
            let _ = self.ctx.selfm.probe_up.remove_label_values(&[&a.config.name]);
            report.removed.push(a.config.name.clone());
        }
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
        loop {
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
