//! The daemon as a consumer of the runtime: for every watched map it builds
//! the sink its convention asks for (journal/JSON events for print maps,
//! Prometheus families for counter, gauge and hist maps), with the map's
//! `[probes.NAME.maps.MAP]` settings; see `bee_runtime::consumer`.

mod check;
mod event_sink;
mod map_sink;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use bee_object::MapSpec;
use bee_runtime::{Consumers, MapInfo, Setup};
use prometheus::Registry;

pub use check::check;
pub use event_sink::EventSink;
pub use map_sink::MapSink;

use crate::config::{Config, EventOutput, MapConfig};
use crate::selfmetrics::SelfMetrics;
use crate::sinks::events::Events;
use bee_metrics::exposition::TextRegistry;
use bee_metrics::Families;

/// The daemon's settings of one (re)load.
#[derive(Debug, Clone)]
pub struct Settings {
    pub events: EventOutput,
    pub journal_rate_limit: u32,
    /// `[events] timestamp`: the `"time"` of JSON event lines.
    pub timestamp: bee_decoders::Timestamp,
    pub max_series: usize,
    /// `[probes.NAME.maps.MAP]`, by probe then map.
    pub maps: BTreeMap<String, BTreeMap<String, MapConfig>>,
}

impl Settings {
    /// What the engine runs for `cfg`: every probe's spec, and these settings.
    pub fn setup(cfg: &Config) -> Setup<Settings> {
        Setup {
            probes: cfg.probes.iter().map(|p| p.spec()).collect(),
            poll_latency: cfg.poll_latency,
            settings: Settings::of(cfg),
        }
    }

    /// The settings of `cfg`.
    pub fn of(cfg: &Config) -> Self {
        Settings {
            events: cfg.events,
            journal_rate_limit: cfg.journal_rate_limit,
            timestamp: cfg.timestamp,
            max_series: cfg.max_series,
            maps: cfg.probes.iter().map(|p| (p.name.clone(), p.maps.clone())).collect(),
        }
    }
}

/// The daemon's consumers, on the engine thread.
pub struct Outputs {
    families: Families,
    selfm: SelfMetrics,
    events: Rc<RefCell<Events>>,
    maps: BTreeMap<String, BTreeMap<String, MapConfig>>,
    /// The symbol table and cgroup cache every decoder shares.
    decoders: bee_decoders::Context,
}

impl Outputs {
    /// Opens the event output (falling back to stdout, then to counting
    /// only, when it cannot be opened); the rest of the settings come with
    /// the first load.
    pub fn open(
        registry: Registry,
        text: TextRegistry,
        selfm: SelfMetrics,
        events: EventOutput,
        rate: u32,
    ) -> Option<Self> {
        let out_errors = selfm.output_errors.with_label_values(&["events"]);
        let suppressed = selfm.events_suppressed.clone();
        let dropped = selfm.events_dropped.clone();
        let open = |kind, rate| Events::open(kind, rate, out_errors.clone(), dropped.clone(), suppressed.clone());
        let events = match open(events, rate) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!("opening the event output failed ({e}); events go to stdout");
                match open(EventOutput::Stdout, 0) {
                    Ok(ev) => ev,
                    Err(e) => {
                        tracing::error!("stdout is unusable too ({e}); events are counted, not written");
                        open(EventOutput::None, 0).ok()?
                    }
                }
            }
        };
        let families = Families { registry, text, series_dropped: selfm.series_dropped.clone(), max_series: 0 };
        Some(Outputs {
            families,
            selfm,
            events: Rc::new(RefCell::new(events)),
            maps: BTreeMap::new(),
            decoders: bee_decoders::Context::system(),
        })
    }

    /// The sampler of print map `m` (`None`: it keeps every event).
    fn sampler(&self, m: &MapInfo<'_>, cfg: &MapConfig) -> Option<crate::sinks::sampling::Sampler> {
        // checked by the configuration; an invalid rate here means none
        let rate = cfg.max_rate.as_deref().and_then(|r| crate::sinks::sampling::parse_rate(r).ok());
        if cfg.sample.unwrap_or(1) <= 1 && rate.is_none() {
            return None; // no series for maps that keep every event
        }
        let labels = [m.probe, m.map];
        crate::sinks::sampling::Sampler::new(
            cfg.sample,
            rate,
            self.selfm.events_sampled_out.with_label_values(&labels),
            self.selfm.events_rate_limited.with_label_values(&labels),
        )
    }

    /// The settings of a map (defaults when it has none).
    fn map_config(&self, map: &MapInfo<'_>) -> MapConfig {
        self.maps.get(map.probe).and_then(|m| m.get(map.map)).cloned().unwrap_or_default()
    }
}

impl Consumers for Outputs {
    type Settings = Settings;
    type Events = EventSink;
    type Walks = MapSink;

    fn configure(&mut self, s: Settings) -> String {
        if let Err(e) = self.events.borrow_mut().reconfigure(s.events, s.journal_rate_limit) {
            tracing::error!("events.output: {e}; keeping the previous output");
        }
        self.events.borrow_mut().set_timestamp(s.timestamp);
        self.families.max_series = s.max_series;
        self.maps = s.maps;
        self.events.borrow().describe().to_string()
    }

    fn accept(&mut self, probe: &str, maps: &[MapSpec]) -> bee_runtime::Result<()> {
        let none = BTreeMap::new();
        let const_labels = self.families.text.const_label_names();
        Ok(check(probe, self.maps.get(probe).unwrap_or(&none), maps, &const_labels, &self.decoders)?)
    }

    fn event_sink(&mut self, map: &MapInfo<'_>) -> bee_runtime::Result<EventSink> {
        let cfg = self.map_config(map);
        Ok(EventSink::new(self, map, &cfg)?)
    }

    fn map_sink(&mut self, map: &MapInfo<'_>) -> bee_runtime::Result<MapSink> {
        let cfg = self.map_config(map);
        Ok(MapSink::new(self, map, &cfg)?)
    }

    fn flush(&mut self) {
        self.events.borrow_mut().flush();
    }

    fn forget(&mut self, probe: &str) {
        self.selfm.forget_probe(probe);
        self.events.borrow_mut().forget(probe);
    }
}
