//! The engine thread: owns every loaded probe, polls all ring buffers from
//! one epoll loop, walks hash maps on their timers, applies reloads, and
//! pings the watchdog from the loop itself so a stuck poller gets the
//! service restarted.

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::os::fd::AsRawFd;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};

use crate::consumer::Consumers;
use crate::error::Error;
use crate::mapwatch::{self, MapWatch};
use crate::probe::{self, Probe};
use crate::ringbuf;
use crate::spec::ProbeSpec;
use crate::stats::{Count, ProbeState, ProbeStats, Status};

/// What the engine is asked to run: every probe, how long records may
/// wait, and the front end's own settings (see [`Consumers::configure`]).
#[derive(Debug, Clone)]
pub struct Setup<S> {
    pub probes: Vec<ProbeSpec>,
    /// How long the engine lets records accumulate after a busy round
    /// (fewer wakeups on the traced side).
    pub poll_latency: Duration,
    pub settings: S,
}

/// Outcome of loading (or reloading) the configured probes.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Probes running after the operation.
    pub up: Vec<String>,
    /// Probes whose (new version) failed, with why.
    pub failed: Vec<(String, Arc<Error>)>,
    /// Probes left untouched by a reload.
    pub kept: Vec<String>,
    /// Changed probes whose new version failed: their previous version
    /// keeps running (also listed in `failed` and `up`).
    pub kept_previous: Vec<String>,
    pub removed: Vec<String>,
    /// What the front end's `configure` said.
    pub note: String,
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

enum Command<S> {
    Reload(Box<Setup<S>>),
    Stop,
}

/// Handle to the running engine thread.
pub struct EngineHandle<S> {
    wake: Arc<EventFd>,
    /// Readable once the engine thread has ended, however it ended.
    exited: Arc<EventFd>,
    commands: mpsc::Sender<Command<S>>,
    reports: mpsc::Receiver<LoadReport>,
    thread: Option<JoinHandle<()>>,
    pub stats: Arc<Stats>,
    /// Every configured probe's state and counters.
    pub status: Status,
}

impl<S> EngineHandle<S> {
    /// Waits for the report of the initial load (or of the last reload).
    pub fn report(&self) -> Option<LoadReport> {
        self.reports.recv().ok()
    }

    /// Applies a new configuration: probes that did not change keep running
    /// untouched; added ones are loaded, removed ones detached, changed ones
    /// reloaded. Returns the report.
    pub fn reload(&self, setup: Setup<S>) -> Option<LoadReport> {
        self.commands.send(Command::Reload(Box::new(setup))).ok()?;
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

struct Active<W, E> {
    spec: ProbeSpec,
    identity: u64,
    /// Keeps the object loaded and its programs attached.
    probe: Probe,
    sources: ringbuf::Sources<E>,
    walks: Vec<MapWatch<W>>,
    stats: ProbeStats,
}

/// Starts the engine thread: it builds its consumers with `make` (on the
/// engine thread, so they need not be `Send`), loads every probe of
/// `setup`, sends one report (read it with [`EngineHandle::report`]), then
/// polls until stopped. With `watchdog`, the poll loop pings systemd's
/// watchdog every third of it, so a stuck poller gets the service restarted.
pub fn spawn<C, F>(
    setup: Setup<C::Settings>,
    make: F,
    watchdog: Option<Duration>,
) -> std::io::Result<EngineHandle<C::Settings>>
where
    C: Consumers,
    F: FnOnce() -> Option<C> + Send + 'static,
{
    let wake =
        Arc::new(EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK).map_err(std::io::Error::from)?);
    let exited =
        Arc::new(EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK).map_err(std::io::Error::from)?);
    let stats = Arc::new(Stats::default());
    let status = Status::default();
    let (report_tx, reports) = mpsc::channel();
    let (commands, command_rx) = mpsc::channel();
    let thread = {
        let wake = wake.clone();
        let stats = stats.clone();
        let exited = exited.clone();
        let status = status.clone();
        std::thread::Builder::new().name("beed-engine".into()).spawn(move || {
            // tells the main thread when this thread ends, even by a panic
            let _exit = ExitSignal { fd: exited, status: status.clone() };
            if std::env::var("BEED_TEST_FAULT").is_ok_and(|f| f == "slow-load") {
                // fault injection for tests: the first load takes 3 s longer
                std::thread::sleep(Duration::from_secs(3));
            }
            let Some(consumers) = make() else { return };
            let mut engine = Engine { consumers, active: Vec::new(), status, latency: setup.poll_latency, watchdog };
            let report = engine.apply(setup);
            let _ = report_tx.send(report);
            engine.run(&wake, &stats, &command_rx, &report_tx);
        })?
    };
    Ok(EngineHandle { wake, exited, commands, reports, thread: Some(thread), stats, status })
}

/// Fault injection for tests (`BEED_TEST_FAULT=engine-panic`; `slow-load`
/// delays the first load instead, see [`spawn`]): the engine
/// thread dies the way a bug would make it, so that the daemon's handling of
/// a dead engine (probes down, non-zero exit) is tested for real.
#[allow(clippy::panic)]
fn injected_panic() -> ! {
    panic!("injected fault (BEED_TEST_FAULT=engine-panic)")
}

/// When the engine thread ends, however it ends: every probe is down (its
/// programs were detached with it), and the eventfd tells the main thread.
struct ExitSignal {
    fd: Arc<EventFd>,
    status: Status,
}

impl Drop for ExitSignal {
    fn drop(&mut self) {
        let stopped = Arc::new(Error::Stopped);
        let states = self.status.lock().keys().map(|k| (k.clone(), ProbeState::Failed(stopped.clone()))).collect();
        self.status.replace(states);
        let _ = self.fd.write(1);
    }
}

/// A probe's identity for reload: a digest of its specification and of
/// its object's bytes as read (and then loaded).
fn identity(spec: &ProbeSpec, object: &probe::ObjectBytes) -> u64 {
    let mut h = DefaultHasher::new();
    spec.hash_settings(&mut h);
    object.bytes().hash(&mut h);
    h.finish()
}

/// Why a probe could not be (re)loaded, with its previous version when
/// that one keeps running.
/// The probe state of consumers `C`.
type ActiveOf<C> = Active<<C as Consumers>::Walks, <C as Consumers>::Events>;
type FailureOf<C> = Failure<<C as Consumers>::Walks, <C as Consumers>::Events>;

struct Failure<W, E> {
    reason: Error,
    prev: Option<Box<Active<W, E>>>,
}

struct Engine<C: Consumers> {
    consumers: C,
    active: Vec<ActiveOf<C>>,
    /// What front ends read: every configured probe's state.
    status: Status,
    latency: Duration,
    watchdog: Option<Duration>,
}

impl<C: Consumers> Engine<C> {
    /// Loads and attaches one probe with its sinks; a changed probe's
    /// previous version (`prev`) is swapped out only once the new one loaded.
    fn load_one(
        &mut self,
        spec: &ProbeSpec,
        checked: probe::Checked,
        identity: u64,
        prev: Option<ActiveOf<C>>,
    ) -> Result<ActiveOf<C>, FailureOf<C>> {
        let started = Instant::now();
        // the new version is loaded (verifier included) while the old runs
        let mut probe = match probe::open(spec, checked) {
            Ok(p) => p,
            Err(e) => return Err(Failure { reason: e, prev: prev.map(Box::new) }),
        };
        let prev = match prev {
            None => {
                probe.attach(&spec.attach).map_err(|e| Failure { reason: e, prev: None })?;
                None
            }
            Some(mut old) => {
                // swap: detach the old version, attach the new; if that fails,
                // the old one attaches again and keeps its maps and counters
                old.probe.detach();
                if let Err(new) = probe.attach(&spec.attach) {
                    return Err(match old.probe.attach(&old.spec.attach) {
                        Ok(()) => Failure { reason: new, prev: Some(Box::new(old)) },
                        Err(e2) => {
                            Failure { reason: Error::Swap { new: Box::new(new), old: Box::new(e2) }, prev: None }
                        }
                    });
                }
                Some(old)
            }
        };
        if let Some(mut old) = prev {
            // what the old version still holds is read before it goes
            old.sources.consume();
            drop(old);
            self.consumers.forget(&spec.name);
        }
        let fail = |reason| Failure { reason, prev: None };
        let mut stats = ProbeStats { lost: None, maps: Vec::new(), programs: probe.program_stats() };
        let lost = Count::default();
        let sources = ringbuf::build(&probe, &mut self.consumers, &mut stats.maps, &lost).map_err(fail)?;
        let walks = mapwatch::build(&probe, &mut self.consumers, &mut stats.maps, &lost).map_err(fail)?;
        let has_perf = probe.maps.iter().any(|m| m.map_type == libbpf_rs::MapType::PerfEventArray);
        if has_perf || probe.lost.is_some() {
            stats.lost = Some(lost);
        }
        tracing::info!(
            probe = %spec.name,
            "probe {} loaded ({}) in {:.0?}: programs [{}], watched maps [{}]",
            spec.name,
            spec.describe_source(),
            started.elapsed(),
            probe.programs.join(", "),
            probe.maps.iter().map(|m| format!("{} ({})", m.name, m.output)).collect::<Vec<_>>().join(", ")
        );
        Ok(Active { spec: spec.clone(), identity, probe, sources, walks, stats })
    }

    /// Brings the running probes in line with `setup`: unchanged probes
    /// keep running untouched, added ones load, removed ones go, and a
    /// changed one is replaced only once its new version loaded and attached.
    fn apply(&mut self, setup: Setup<C::Settings>) -> LoadReport {
        let mut report = LoadReport { note: self.consumers.configure(setup.settings), ..Default::default() };
        self.latency = setup.poll_latency;
        let mut states = BTreeMap::new();
        let mut old: Vec<ActiveOf<C>> = std::mem::take(&mut self.active);
        for spec in &setup.probes {
            let prev = old.iter().position(|a| a.spec.name == spec.name).map(|i| old.swap_remove(i));
            let object = probe::read_object(spec);
            let result = match object.map(|o| (identity(spec, &o), o)) {
                Ok((id, _)) if prev.as_ref().is_some_and(|a| a.identity == id) => {
                    if let Some(a) = prev {
                        report.kept.push(spec.name.clone());
                        report.up.push(spec.name.clone());
                        states.insert(spec.name.clone(), ProbeState::Up(a.stats.clone()));
                        self.active.push(a);
                    }
                    continue;
                }
                Ok((id, object)) => match probe::check(spec, &object)
                    .and_then(|c| self.consumers.accept(&spec.name, c.specs()).map(|()| c))
                {
                    Ok(checked) => {
                        if prev.is_some() {
                            tracing::info!(probe = %spec.name, "probe {} changed: loading its new version", spec.name);
                        }
                        self.load_one(spec, checked, id, prev)
                    }
                    Err(reason) => Err(Failure { reason, prev: prev.map(Box::new) }),
                },
                Err(reason) => Err(Failure { reason, prev: prev.map(Box::new) }),
            };
            match result {
                Ok(a) => {
                    report.up.push(spec.name.clone());
                    states.insert(spec.name.clone(), ProbeState::Up(a.stats.clone()));
                    self.active.push(a);
                }
                Err(Failure { reason, prev: Some(a) }) => {
                    tracing::error!(
                        probe = %spec.name,
                        "probe {}: the new version failed, the previous one keeps running: {reason}",
                        spec.name
                    );
                    report.up.push(spec.name.clone());
                    report.kept_previous.push(spec.name.clone());
                    report.failed.push((spec.name.clone(), Arc::new(reason)));
                    states.insert(spec.name.clone(), ProbeState::Up(a.stats.clone()));
                    self.active.push(*a);
                }
                Err(Failure { reason, prev: None }) => {
                    tracing::error!(probe = %spec.name, "probe {} failed: {reason}", spec.name);
                    self.consumers.forget(&spec.name);
                    let reason = Arc::new(reason);
                    states.insert(spec.name.clone(), ProbeState::Failed(reason.clone()));
                    report.failed.push((spec.name.clone(), reason));
                }
            }
        }
        for mut a in old {
            tracing::info!(probe = %a.spec.name, "probe {} removed from the configuration: detaching it", a.spec.name);
            a.sources.consume();
            let name = a.spec.name.clone();
            drop(a);
            self.consumers.forget(&name);
            report.removed.push(name);
        }
        self.status.replace(states);
        self.consumers.flush();
        report
    }

    fn run(
        &mut self,
        wake: &EventFd,
        stats: &Stats,
        commands: &mpsc::Receiver<Command<C::Settings>>,
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
                    Command::Reload(setup) => {
                        let report = self.apply(*setup);
                        let _ = reports.send(report);
                    }
                }
            }
            if stop {
                break;
            }
        }
        // final drain so nothing collected is lost, then detach
        for a in &mut self.active {
            a.sources.consume();
        }
        self.consumers.flush();
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
            let consumed: u64 = self.active.iter_mut().map(|a| a.sources.consume()).sum();
            let now = Instant::now();
            for a in self.active.iter_mut() {
                for w in a.walks.iter_mut().filter(|w| w.next_due <= now) {
                    w.walk();
                }
            }
            self.consumers.flush();
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
