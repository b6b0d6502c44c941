//! The `/metrics` endpoint: hyper on a small tokio runtime of its own thread.
//!
//! Any local user can connect, so the server bounds what a client can hold:
//! connections (`MAX_CONNECTIONS`; more wait in the listen backlog), time
//! (headers within `HEADER_READ_TIMEOUT`, a response that stops moving for
//! `WRITE_STALL_TIMEOUT`, a connection's whole life), memory (scrapes in a
//! burst share one rendered body, and at most `MAX_LIVE_BODIES` renders are
//! alive at once) and rendering time (`REUSE_FACTOR`). `HEAD` is answered
//! without rendering. Accept errors (EMFILE when descriptors run out) pause
//! the accept loop instead of spinning, and are logged once, then summarized.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus::Registry;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use bee_metrics::exposition::TextRegistry;

/// Connections served at once. Further clients wait in the kernel's listen
/// backlog (not accepted: no descriptor, no memory of ours) until one ends.
const MAX_CONNECTIONS: usize = 64;

/// A client must send a request's headers within this time, counted from the
/// connection (or the previous response: it is also the keep-alive idle
/// timeout), else the connection is closed.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The header timeout of connections accepted while more than three
/// quarters of the slots are taken: clients that connect and send nothing (or
/// a byte at a time) then hold a slot for a second, not ten, so they cannot
/// keep a scraper waiting in the backlog for long.
const BUSY_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(1);

/// A response of which no byte could be written for this long (a client that
/// stopped reading) fails, closing the connection and freeing what it held.
const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest life of a connection (keep-alive or a client reading very
/// slowly): it is then closed after its response in progress, and dropped if
/// that takes more than `CLOSE_GRACE`.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(30);
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Largest request head read (hyper's minimum is 8 KiB): a scrape's is a few
/// hundred bytes.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// A render is kept, and served to every scrape, for this many times as long
/// as it took to make: scrapes in a burst share one body, and however many
/// arrive, rendering takes at most a sixth of the HTTP thread's time. The
/// values a scrape sees are at most that old: about 0.1 s at 100k series
/// (BENCHMARKS.md: a 20 ms render in a release build), far less for a small
/// registry.
const REUSE_FACTOR: u32 = 5;

/// Renders alive at once (kept, or held by responses not yet fully sent).
/// Beyond it, scrapes share the newest one however old: memory stays bounded
/// by this many bodies whatever clients do (at the price of stale values
/// while they do).
const MAX_LIVE_BODIES: usize = 4;

/// Pause after a failed accept: doubles from the first to the last.
const ACCEPT_PAUSE: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(1));

/// While accept keeps failing, a summary is logged at most this often.
const ACCEPT_LOG_EVERY: Duration = Duration::from_secs(60);

/// Renders every metric in the text exposition format: the prometheus
/// registry (self-metrics, event maps) and the text families (hash maps).
pub fn render(registry: &Registry, text: &TextRegistry) -> Result<Vec<u8>, prometheus::Error> {
    bee_metrics::render(registry, text, 0)
}

/// A rendered body, owned by every `Bytes` that sends it.
struct Body(Arc<Vec<u8>>);

impl AsRef<[u8]> for Body {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// The renders still alive (weakly: a body is freed when the last response
/// sending it is, or its reuse time ends), so that scrapes share one.
#[derive(Default)]
struct Bodies {
    /// Each render, oldest first, with when it was made and how long it took.
    live: Vec<(Instant, Duration, Weak<Vec<u8>>)>,
    /// Size of the last render.
    last_len: usize,
}

impl Bodies {
    fn get(&mut self, registry: &Registry, text: &TextRegistry) -> Result<Bytes, prometheus::Error> {
        self.live.retain(|(_, _, body)| body.strong_count() > 0);
        if let Some((at, took, body)) = self.live.last() {
            if at.elapsed() < *took * REUSE_FACTOR || self.live.len() >= MAX_LIVE_BODIES {
                if let Some(body) = body.upgrade() {
                    return Ok(Bytes::from_owner(Body(body)));
                }
            }
        }
        let start = Instant::now();
        let body = Arc::new(bee_metrics::render(registry, text, self.last_len + self.last_len / 8)?);
        let took = start.elapsed();
        self.last_len = body.len();
        self.live.push((Instant::now(), took, Arc::downgrade(&body)));
        // keep it for its reuse time even if every response sending it ends
        let keep = body.clone();
        tokio::spawn(async move {
            tokio::time::sleep(took * REUSE_FACTOR).await;
            drop(keep);
        });
        Ok(Bytes::from_owner(Body(body)))
    }
}

/// What `/healthz` and `/readyz` answer, set by the daemon as the engine
/// starts, loads and stops (a liveness and a readiness probe for container
/// orchestrators).
#[derive(Clone, Debug, Default)]
pub struct Health(Arc<HealthFlags>);

#[derive(Debug, Default)]
struct HealthFlags {
    running: AtomicBool,
    ready: AtomicBool,
}

impl Health {
    /// The engine thread runs (`/healthz` 200) or not (503).
    pub fn set_running(&self, running: bool) {
        self.0.running.store(running, Ordering::Relaxed);
    }

    /// Every configured probe was tried (the first load report came, each
    /// probe up or failed): `/readyz` 200 while the engine runs.
    pub fn set_ready(&self, ready: bool) {
        self.0.ready.store(ready, Ordering::Relaxed);
    }

    fn running(&self) -> bool {
        self.0.running.load(Ordering::Relaxed)
    }

    fn ready(&self) -> bool {
        self.running() && self.0.ready.load(Ordering::Relaxed)
    }
}

/// What every connection's service reads.
struct Shared {
    registry: Registry,
    text: TextRegistry,
    bodies: Mutex<Bodies>,
    health: Health,
}

const INDEX: &[u8] = b"<html><head><title>beed</title></head><body><h1>beed</h1><p><a href=\"/metrics\">Metrics</a> \
    <a href=\"/healthz\">/healthz</a> <a href=\"/readyz\">/readyz</a></p></body></html>\n";

const NOT_RUNNING: &[u8] = b"the engine is not running\n";

fn respond(shared: &Shared, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, ctype, body) = route(shared, req.method(), req.uri().path());
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(ctype) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

/// The status, content type and body of a request for `path`.
fn route(shared: &Shared, method: &Method, path: &str) -> (StatusCode, &'static str, Bytes) {
    match (method, path) {
        // the headers a GET would have, without rendering (no Content-Length)
        (&Method::HEAD, "/metrics") => (StatusCode::OK, prometheus::TEXT_FORMAT, Bytes::new()),
        (&Method::GET, "/metrics") => {
            let mut bodies = shared.bodies.lock().unwrap_or_else(PoisonError::into_inner);
            match bodies.get(&shared.registry, &shared.text) {
                Ok(b) => (StatusCode::OK, prometheus::TEXT_FORMAT, b),
                Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, "text/plain", format!("rendering metrics: {e}\n").into()),
            }
        }
        (&Method::GET | &Method::HEAD, "/") => (StatusCode::OK, "text/html", Bytes::from_static(INDEX)),
        (&Method::GET | &Method::HEAD, "/healthz") => {
            if shared.health.running() {
                (StatusCode::OK, "text/plain", Bytes::from_static(b"ok\n"))
            } else {
                (StatusCode::SERVICE_UNAVAILABLE, "text/plain", Bytes::from_static(NOT_RUNNING))
            }
        }
        (&Method::GET | &Method::HEAD, "/readyz") => match (shared.health.running(), shared.health.ready()) {
            (_, true) => (StatusCode::OK, "text/plain", Bytes::from_static(b"ready\n")),
            (true, false) => {
                (StatusCode::SERVICE_UNAVAILABLE, "text/plain", Bytes::from_static(b"not ready: loading probes\n"))
            }
            (false, false) => (StatusCode::SERVICE_UNAVAILABLE, "text/plain", Bytes::from_static(NOT_RUNNING)),
        },
        (&Method::GET | &Method::HEAD, _) => {
            (StatusCode::NOT_FOUND, "text/plain", Bytes::from_static(b"not found; try /metrics\n"))
        }
        _ => (StatusCode::METHOD_NOT_ALLOWED, "text/plain", Bytes::from_static(b"only GET and HEAD\n")),
    }
}

/// A stream whose writes fail with `TimedOut` once none could make progress
/// for `WRITE_STALL_TIMEOUT`. Reads and vectored writes pass through (hyper
/// queues the shared body without copying it only on a vectored stream).
struct StallGuard<S> {
    io: S,
    /// Started by the first write that could not proceed; cleared by progress.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> StallGuard<S> {
    fn check<T>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if r.is_ready() {
            self.stalled = None;
            return r;
        }
        let timer = self.stalled.get_or_insert_with(|| Box::pin(tokio::time::sleep(WRITE_STALL_TIMEOUT)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "client stopped reading"))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for StallGuard<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for StallGuard<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        this.check(cx, r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.check(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_flush(cx);
        this.check(cx, r)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.io).poll_shutdown(cx);
        this.check(cx, r)
    }
}

/// Serves one connection within its time limits; the permit is its slot.
async fn connection(
    stream: tokio::net::TcpStream,
    shared: Arc<Shared>,
    _slot: OwnedSemaphorePermit,
    header_timeout: Duration,
) {
    let svc = service_fn(move |req| {
        let r = respond(&shared, &req);
        async move { Ok::<_, Infallible>(r) }
    });
    let io = TokioIo::new(StallGuard { io: stream, stalled: None });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_REQUEST_HEAD)
        .serve_connection(io, svc);
    let mut conn = std::pin::pin!(conn);
    if tokio::time::timeout(CONNECTION_LIFETIME, conn.as_mut()).await.is_ok() {
        return;
    }
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(CLOSE_GRACE, conn).await;
}

/// Accept failures: a growing pause, one warning, then summaries.
#[derive(Default)]
struct AcceptErrors {
    pause: Duration,
    /// Failures not yet logged.
    unlogged: u64,
    /// When the last warning was logged (None: accepting works).
    logged: Option<Instant>,
}

impl AcceptErrors {
    /// Records a failure; returns how long to pause before the next accept.
    fn failed(&mut self, e: &io::Error) -> Duration {
        self.pause = (self.pause * 2).clamp(ACCEPT_PAUSE.0, ACCEPT_PAUSE.1);
        self.unlogged += 1;
        match self.logged {
            None => {
                tracing::warn!(
                    "accepting a metrics connection: {e}; retrying with pauses of up to {:?}",
                    ACCEPT_PAUSE.1
                );
            }
            Some(at) if at.elapsed() >= ACCEPT_LOG_EVERY => {
                tracing::warn!(
                    "accepting a metrics connection still fails: {e} ({} times since the last warning)",
                    self.unlogged
                );
            }
            Some(_) => return self.pause,
        }
        self.logged = Some(Instant::now());
        self.unlogged = 0;
        self.pause
    }

    fn succeeded(&mut self) {
        if self.logged.is_some() {
            tracing::info!(
                "accepting metrics connections again ({} more failures since the last warning)",
                self.unlogged
            );
        }
        *self = AcceptErrors::default();
    }
}

/// Binds `addr` now (so a taken port is reported at start-up) and serves
/// `/metrics`, `/healthz` and `/readyz` (from `health`) on a background
/// thread.
pub fn serve(addr: SocketAddr, registry: Registry, text: TextRegistry, health: Health) -> std::io::Result<SocketAddr> {
    let std_listener = std::net::TcpListener::bind(addr)?;
    std_listener.set_nonblocking(true)?;
    let local = std_listener.local_addr()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
    let shared = Arc::new(Shared { registry, text, bodies: Mutex::new(Bodies::default()), health });
    std::thread::Builder::new().name("beed-http".into()).spawn(move || {
        rt.block_on(async move {
            let listener = match tokio::net::TcpListener::from_std(std_listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!("metrics listener: {e}");
                    return;
                }
            };
            let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
            let mut errors = AcceptErrors::default();
            loop {
                // a free slot first: at the cap, clients queue in the backlog
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return; // never closed
                };
                let stream = loop {
                    match listener.accept().await {
                        Ok((s, _)) => break s,
                        Err(e) => tokio::time::sleep(errors.failed(&e)).await,
                    }
                };
                errors.succeeded();
                let busy = slots.available_permits() < MAX_CONNECTIONS / 4;
                let header_timeout = if busy { BUSY_HEADER_READ_TIMEOUT } else { HEADER_READ_TIMEOUT };
                tokio::spawn(connection(stream, shared.clone(), slot, header_timeout));
            }
        });
    })?;
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(health: Health) -> Shared {
        Shared { registry: Registry::new(), text: TextRegistry::default(), bodies: Mutex::default(), health }
    }

    fn get(shared: &Shared, path: &str) -> (u16, String) {
        let (status, _, body) = route(shared, &Method::GET, path);
        (status.as_u16(), String::from_utf8_lossy(&body).into_owned())
    }

    #[test]
    fn health_follows_the_engine_and_readiness_the_first_load() {
        let health = Health::default();
        let s = shared(health.clone());
        // before the engine started
        assert_eq!(get(&s, "/healthz"), (503, "the engine is not running\n".into()));
        assert_eq!(get(&s, "/readyz"), (503, "the engine is not running\n".into()));
        // loading probes
        health.set_running(true);
        assert_eq!(get(&s, "/healthz"), (200, "ok\n".into()));
        assert_eq!(get(&s, "/readyz"), (503, "not ready: loading probes\n".into()));
        // every probe tried
        health.set_ready(true);
        assert_eq!(get(&s, "/healthz"), (200, "ok\n".into()));
        assert_eq!(get(&s, "/readyz"), (200, "ready\n".into()));
        // HEAD answers the same status
        assert_eq!(route(&s, &Method::HEAD, "/readyz").0, StatusCode::OK);
        // the engine stopped (SIGTERM, or died): neither live nor ready
        health.set_running(false);
        assert_eq!(get(&s, "/healthz"), (503, "the engine is not running\n".into()));
        assert_eq!(get(&s, "/readyz"), (503, "the engine is not running\n".into()));
    }

    #[test]
    fn other_paths_and_methods() {
        // (/metrics renders on the server's runtime: tests/kernel/ scrape it)
        let s = shared(Health::default());
        assert_eq!(get(&s, "/").0, 200);
        assert_eq!(get(&s, "/healthz/x").0, 404);
        assert_eq!(route(&s, &Method::POST, "/readyz").0, StatusCode::METHOD_NOT_ALLOWED);
    }
}
