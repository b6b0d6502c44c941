//! What `--check-config` checks of a probe's output settings, once the
//! runtime checked the probe itself: every `[probes.NAME.maps.MAP]` names a
//! watched map, its field decoders fit their fields, its label, value and
//! slot fields fit the map's types, its shaping keys (name, unit, scales,
//! renames) its kind.

use bee_object::convention::Output;
use bee_object::MapSpec;

use std::collections::BTreeMap;

use crate::config::MapConfig;
use crate::error::Result;
use bee_metrics::{labels, shaping};

/// Checks probe `probe`'s map settings against the watched maps of its
/// object.
/// `const_labels`: the names of `metrics.const_labels`, which no label of a
/// map may take; `decoders`: what field decoders look things up in.
pub fn check(
    probe: &str,
    maps: &BTreeMap<String, MapConfig>,
    specs: &[MapSpec],
    const_labels: &[String],
    decoders: &bee_decoders::Context,
) -> Result<()> {
    for (name, mc) in maps {
        // a table with only max_entries may name any map (the runtime checks it)
        let only_size = MapConfig { max_entries: None, ..mc.clone() } == MapConfig::default();
        let size_only = only_size && mc.max_entries.is_some();
        if !size_only && !specs.iter().any(|s| s.name == *name) {
            let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            return Err(bee_object::Error::Setting {
                what: format!("probes.{probe}.maps.{name}"),
                reason: format!(
                    "the object has no watched map `{name}` (watched maps: {}{})",
                    known.join(", "),
                    if only_size { "; max_entries may name any map" } else { "" }
                ),
            }
            .into());
        }
    }
    let default_cfg = MapConfig::default();
    for spec in specs {
        check_map(probe, spec, maps.get(&spec.name).unwrap_or(&default_cfg), const_labels, decoders)?;
    }
    Ok(())
}

/// The decoders, label, value and slot fields and shaping of one watched map.
fn check_map(
    probe: &str,
    spec: &MapSpec,
    cfg: &MapConfig,
    const_labels: &[String],
    decoders: &bee_decoders::Context,
) -> Result<()> {
    let Ok(value) = spec.check_watchable() else { return Ok(()) }; // the runtime's check says why
    shaping::check(&spec.name, spec.output, spec.is_event_map(), cfg)?;
    // decoders fit their fields; labels may name the fields they derive
    let key = if spec.is_event_map() { None } else { spec.key.as_ref() };
    if !spec.is_event_map() && spec.output != Output::Print {
        // a walked metric map's value is the sample: decoders render labels (key fields)
        let key_has = |f: &str| key.is_some_and(|k| k.field(f).is_some());
        if let Some((f, s)) = cfg.fields.iter().find(|(f, s)| s.decode.is_some() && !key_has(f)) {
            return Err(bee_object::Error::Setting {
                what: format!("probes.{probe}.maps.{}.fields.{f}", spec.name),
                reason: format!(
                    "`{f}` is in the map's value, the metric's sample: decoder `{}` applies to key fields (labels)",
                    s.decode.as_deref().unwrap_or("")
                ),
            }
            .into());
        }
    }
    let (key, value) = bee_decoders::decorate_map(probe, &spec.name, key, value, &cfg.fields, decoders)?;
    let value = &value;
    let fields = match (spec.is_event_map(), spec.output, &key) {
        (true, Output::Print, _) | (false, Output::Print, _) => return Ok(()),
        (true, Output::Counter, _) => labels::select(&spec.name, value, cfg, &[])?,
        (true, output, _) => {
            let v = labels::value_field(&spec.name, value, cfg, output)?;
            labels::select(&spec.name, value, cfg, &[v.name.as_str()])?
        }
        (false, Output::Hist, Some(key)) => {
            let slot = labels::slot_field(probe, &spec.name, key, cfg)?;
            labels::select(&spec.name, key, cfg, &[slot.name.as_str()])?
        }
        (false, _, Some(key)) => labels::select(&spec.name, key, cfg, &[])?,
        (false, _, None) => return Ok(()),
    };
    shaping::label_names(&spec.name, &fields, cfg, const_labels)?;
    Ok(())
}
