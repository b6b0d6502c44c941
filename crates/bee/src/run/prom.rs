//! `bee run --prom-port N`: the probe's metrics, bumblebee-compatible
//! (`ebpf_solo_io_<map>` families, one label per field), on
//! `http://127.0.0.1:N/metrics` while bee runs. A small blocking server on
//! its own thread: one connection at a time, bounded reads and a timeout,
//! `GET`/`HEAD /metrics` only.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result};
use bee_metrics::exposition::TextRegistry;
use bee_metrics::Families;
use prometheus::{IntCounterVec, Opts, Registry};

/// The registries `bee run` fills, with their `series_dropped` counter.
pub fn families() -> Result<Families> {
    let registry = Registry::new();
    let dropped = IntCounterVec::new(
        Opts::new("bee_series_dropped_total", "Label sets refused because the metric reached its max_series"),
        &["probe", "map"],
    )?;
    registry.register(Box::new(dropped.clone()))?;
    Ok(Families { registry, text: TextRegistry::default(), series_dropped: dropped, max_series: 10_000 })
}

/// Listens on 127.0.0.1:`port` and serves `families` from a thread.
pub fn serve(port: u16, families: &Families) -> Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))
        .with_context(|| format!("--prom-port {port}: cannot listen on 127.0.0.1:{port}"))?;
    let (registry, text) = (families.registry.clone(), families.text.clone());
    std::thread::Builder::new()
        .name("bee-prom".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                let _ = answer(conn, &registry, &text);
            }
        })
        .context("starting the metrics thread")?;
    Ok(())
}

fn answer(mut conn: TcpStream, registry: &Registry, text: &TextRegistry) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(2)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(head.split(|b| *b == b'\n').next().unwrap_or_default()).into_owned();
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => match bee_metrics::render(registry, text, 0) {
            Ok(b) => ("200 OK", b),
            Err(e) => ("500 Internal Server Error", e.to_string().into_bytes()),
        },
        ("GET" | "HEAD", _) => ("404 Not Found", b"metrics are at /metrics\n".to_vec()),
        _ => ("405 Method Not Allowed", Vec::new()),
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    conn.write_all(header.as_bytes())?;
    if method != "HEAD" {
        conn.write_all(&body)?;
    }
    conn.flush()
}
