//! The engine thread: owns every loaded probe, polls all ring buffers from
//! one epoll loop, walks hash maps on their timers, and pings the watchdog
//! from the loop itself so a stuck poller gets the service restarted.

use std::cell::RefCell;
use std::os::fd::{AsFd, BorrowedFd};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use libbpf_rs::RingBuffer;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use prometheus::Registry;

use crate::config::{Config, EventOutput, ProbeConfig};
use crate::mapwatch::{self, MapWatch};
use crate::probe::{self, Probe};
use crate::ringbuf;
use crate::selfmetrics::SelfMetrics;
use crate::sinks::events::Events;
use crate::sinks::Context;

/// Outcome of loading the configured probes.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    pub up: Vec<String>,
    pub failed: Vec<(String, String)>,
    pub output: String,
}

/// Counters the main thread reads for status lines.
#[derive(Debug, Default)]
pub struct Stats {
    pub records: AtomicU64,
    pub loops: AtomicU64,
}

/// Handle to the running engine thread.
pub struct EngineHandle {
    stop: Arc<EventFd>,
    thread: Option<JoinHandle<()>>,
    pub stats: Arc<Stats>,
}

impl EngineHandle {
    /// Asks the engine to drain its ring buffers, detach everything and exit; waits for it.
    pub fn stop(mut self) {
        let _ = self.stop.write(1);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Active {
    probe: Probe,
    ring: Option<RingBuffer<'static>>,
    walks: Vec<MapWatch>,
}

/// Starts the engine: it loads every probe of `cfg`, sends one report on
/// the returned channel, then polls until stopped.
pub fn spawn(
    cfg: Config,
    registry: Registry,
    selfm: SelfMetrics,
    watchdog: Option<Duration>,
) -> std::io::Result<(EngineHandle, mpsc::Receiver<LoadReport>)> {
    let stop = Arc::new(EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK).map_err(std::io::Error::from)?);
    let stats = Arc::new(Stats::default());
    let (tx, rx) = mpsc::channel();
    let thread = {
        let stop = stop.clone();
        let stats = stats.clone();
        std::thread::Builder::new()
            .name("beed-engine".into())
            .spawn(move || run(cfg, registry, selfm, watchdog, &stop, &stats, tx))?
    };
    Ok((EngineHandle { stop, thread: Some(thread), stats }, rx))
}

fn load_one(pc: &ProbeConfig, ctx: &Context) -> Result<Active, String> {
    let probe = probe::load(pc).map_err(|e| e.to_string())?;
    let ring = ringbuf::build(&probe, ctx).map_err(|e| e.to_string())?;
    let walks = mapwatch::build(&probe, ctx).map_err(|e| e.to_string())?;
    Ok(Active { probe, ring, walks })
}

fn run(
    cfg: Config,
    registry: Registry,
    selfm: SelfMetrics,
    watchdog: Option<Duration>,
    stop: &EventFd,
    stats: &Stats,
    tx: mpsc::Sender<LoadReport>,
) {
    let mut report = LoadReport::default();
    let out_errors = selfm.output_errors.with_label_values(&["events"]);
    let events = match Events::open(cfg.events, out_errors.clone()) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!("opening the event output failed ({e}); events go to stdout");
            match Events::open(EventOutput::Stdout, out_errors) {
                Ok(e) => e,
                Err(_) => return,
            }
        }
    };
    report.output = events.describe().to_string();
    let ctx = Context { registry, selfm, events: Rc::new(RefCell::new(events)), max_series: cfg.max_series };

    let mut active = Vec::new();
    for pc in &cfg.probes {
        let started = Instant::now();
        match load_one(pc, &ctx) {
            Ok(a) => {
                tracing::info!(
                    probe = %pc.name,
                    "probe {} loaded ({}) in {:.0?}: programs [{}], watched maps [{}]",
                    pc.name,
                    probe::describe_source(pc),
                    started.elapsed(),
                    a.probe.programs.join(", "),
                    a.probe.maps.iter().map(|m| format!("{} ({})", m.name, m.output)).collect::<Vec<_>>().join(", ")
                );
                ctx.selfm.probe_up.with_label_values(&[&pc.name]).set(1);
                report.up.push(pc.name.clone());
                active.push(a);
            }
            Err(e) => {
                tracing::error!(probe = %pc.name, "probe {} failed: {e}", pc.name);
                ctx.selfm.probe_up.with_label_values(&[&pc.name]).set(0);
                report.failed.push((pc.name.clone(), e));
            }
        }
    }
    let _ = tx.send(report);
    if let Err(e) = poll_loop(&mut active, &ctx, cfg.poll_latency, watchdog, stop, stats) {
        tracing::error!("poll loop failed: {e}");
    }
    // final drain so nothing collected is lost, then detach
    for a in &active {
        if let Some(r) = &a.ring {
            let _ = r.consume();
        }
    }
    ctx.events.borrow_mut().flush();
    drop(active);
}

fn poll_loop(
    active: &mut [Active],
    ctx: &Context,
    latency: Duration,
    watchdog: Option<Duration>,
    stop: &EventFd,
    stats: &Stats,
) -> nix::Result<()> {
    const STOP: u64 = u64::MAX;
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
    epoll.add(stop.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, STOP))?;
    for (i, a) in active.iter().enumerate() {
        if let Some(r) = &a.ring {
            // SAFETY: the ring buffer's epoll fd stays open while `a.ring` lives,
            // and `active` outlives this function's epoll instance.
            let fd = unsafe { BorrowedFd::borrow_raw(r.epoll_fd()) };
            epoll.add(fd, EpollEvent::new(EpollFlags::EPOLLIN, i as u64))?;
        }
    }
    let mut evs = [EpollEvent::empty(); 64];
    let ping_every = watchdog.map(|w| w / 3);
    let mut last_ping = Instant::now();
    loop {
        let now = Instant::now();
        let next_walk = active.iter().flat_map(|a| a.walks.iter().map(|w| w.next_due)).min();
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
        if evs[..n].iter().any(|e| e.data() == STOP) {
            return Ok(());
        }
        let mut consumed = 0u64;
        for a in active.iter() {
            if let Some(r) = &a.ring {
                let c = r.consume_raw();
                if c > 0 {
                    consumed += c as u64;
                }
            }
        }
        let now = Instant::now();
        for a in active.iter_mut() {
            for w in a.walks.iter_mut().filter(|w| w.next_due <= now) {
                w.walk(ctx);
            }
        }
        ctx.events.borrow_mut().flush();
        stats.records.fetch_add(consumed, Ordering::Relaxed);
        stats.loops.fetch_add(1, Ordering::Relaxed);
        if let Some(p) = ping_every {
            if last_ping.elapsed() >= p {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
                last_ping = Instant::now();
            }
        }
        if consumed > 0 {
            // let records accumulate: the kernel skips wakeups while we are not
            // waiting, which is most of the cost on the traced side
            std::thread::sleep(latency);
        }
    }
}
