//! The `/metrics` endpoint: hyper on a small tokio runtime of its own thread.

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus::{Registry, TextEncoder};

use crate::sinks::exposition::TextRegistry;

/// Renders every metric in the text exposition format: the prometheus
/// registry (self-metrics, event maps) and the text families (hash maps).
pub fn render(registry: &Registry, text: &TextRegistry) -> Result<Vec<u8>, prometheus::Error> {
    let mut buf = String::with_capacity(64 * 1024);
    TextEncoder::new().encode_utf8(&registry.gather(), &mut buf)?;
    text.render(&mut buf);
    Ok(buf.into_bytes())
}

fn respond(registry: &Registry, text: &TextRegistry, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, ctype, body): (StatusCode, &str, Vec<u8>) = match (req.method(), req.uri().path()) {
        (&Method::GET | &Method::HEAD, "/metrics") => match render(registry, text) {
            Ok(b) => (StatusCode::OK, prometheus::TEXT_FORMAT, b),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, "text/plain", format!("rendering metrics: {e}\n").into()),
        },
        (&Method::GET | &Method::HEAD, "/") => (
            StatusCode::OK,
            "text/html",
            b"<html><head><title>beed</title></head><body><h1>beed</h1><p><a href=\"/metrics\">Metrics</a></p></body></html>\n".to_vec(),
        ),
        (&Method::GET | &Method::HEAD, _) => (StatusCode::NOT_FOUND, "text/plain", b"not found; try /metrics\n".to_vec()),
        _ => (StatusCode::METHOD_NOT_ALLOWED, "text/plain", b"only GET and HEAD\n".to_vec()),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(ctype) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

/// Binds `addr` now (so a taken port is reported at start-up) and serves
/// `/metrics` on a background thread.
pub fn serve(addr: SocketAddr, registry: Registry, text: TextRegistry) -> std::io::Result<SocketAddr> {
    let std_listener = std::net::TcpListener::bind(addr)?;
    std_listener.set_nonblocking(true)?;
    let local = std_listener.local_addr()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    std::thread::Builder::new().name("beed-http".into()).spawn(move || {
        rt.block_on(async move {
            let listener = match tokio::net::TcpListener::from_std(std_listener) {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!("metrics listener: {e}");
                    return;
                }
            };
            loop {
                let (stream, _) = match listener.accept().await {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!("accepting a metrics connection: {e}");
                        continue;
                    }
                };
                let registry = registry.clone();
                let text = text.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let r = respond(&registry, &text, &req);
                        async move { Ok::<_, Infallible>(r) }
                    });
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        });
    })?;
    Ok(local)
}
