//! The Prometheus side of the bee convention, shared by the front ends
//! (beed's `/metrics`, `bee run --prom-port`): bumblebee's family names
//! (`ebpf_solo_io_<map>`), labels from the fields of each record or key,
//! counters, gauges and histograms from ring buffers and from walked maps,
//! and the text exposition of it all.
//!
//! Sits beside the runtime: it builds families from the runtime's
//! `MapInfo` and feeds them from records and walks; it does no I/O.

pub mod error;
pub mod exposition;
pub mod families;
mod fasthash;
mod key_index;
pub mod labels;
pub mod map_hist;
pub mod map_series;
pub mod names;
pub mod ring_metric;
pub mod settings;
pub mod shaping;

pub use error::{Error, Result};
pub use families::{Families, MapMetric};
pub use settings::{MapSettings, Scheme};

use prometheus::{Registry, TextEncoder};

/// Renders every metric in the text exposition format: the prometheus
/// registry and the text families (walked maps), into a buffer of at least
/// `capacity` bytes.
pub fn render(
    registry: &Registry,
    text: &exposition::TextRegistry,
    capacity: usize,
) -> Result<Vec<u8>, prometheus::Error> {
    let mut buf = String::with_capacity(capacity.max(64 * 1024));
    TextEncoder::new().encode_utf8(&registry.gather(), &mut buf)?;
    text.render(&mut buf);
    buf.shrink_to_fit();
    Ok(buf.into_bytes())
}
