//! `--decode MAP,FIELD,DECODER`: beed's per-field decoders
//! (`[probes.NAME.maps.MAP.fields.FIELD] decode = "…"`) for `bee run`, those
//! that need no parameters (every one but `static_map` and `regexp`).

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use bee_decoders::{Context, FieldSettings};
use bee_object::MapSpec;

/// The field settings of each map.
#[derive(Debug, Default, Clone)]
pub struct Decodes(BTreeMap<String, BTreeMap<String, FieldSettings>>);

impl Decodes {
    /// Parses every `MAP,FIELD,DECODER` and checks it against the probe's
    /// watched maps as beed's `--check-config` does.
    pub fn parse(specs: &[String], maps: &[MapSpec], ctx: &Context) -> Result<Self> {
        let mut out: BTreeMap<String, BTreeMap<String, FieldSettings>> = BTreeMap::new();
        for s in specs {
            let mut parts = s.splitn(3, ',');
            let (Some(map), Some(field), Some(decoder)) = (parts.next(), parts.next(), parts.next()) else {
                bail!("--decode {s:?}: expected MAP,FIELD,DECODER");
            };
            if !maps.iter().any(|m| m.name == map) {
                let names: Vec<&str> = maps.iter().map(|m| m.name.as_str()).collect();
                bail!("--decode {s:?}: the probe has no watched map `{map}` (watched maps: {})", names.join(", "));
            }
            if matches!(decoder, "static_map" | "regexp") {
                bail!("--decode {s:?}: `{decoder}` takes parameters: configure it in beed");
            }
            let settings = FieldSettings { decode: Some(decoder.to_string()), ..FieldSettings::default() };
            out.entry(map.to_string()).or_default().insert(field.to_string(), settings);
        }
        let decodes = Decodes(out);
        for m in maps {
            let Some(value) = m.value.as_ref() else { continue };
            let key = if m.is_event_map() { None } else { m.key.as_ref() };
            bee_decoders::decorate_map("run", &m.name, key, value, decodes.of(&m.name), ctx)
                .map_err(|e| anyhow::anyhow!("--decode: {}", e.to_string().replacen("probes.run.maps.", "", 1)))?;
        }
        Ok(decodes)
    }

    /// The field settings of `map`.
    pub fn of(&self, map: &str) -> &BTreeMap<String, FieldSettings> {
        static NONE: BTreeMap<String, FieldSettings> = BTreeMap::new();
        self.0.get(map).unwrap_or(&NONE)
    }
}
