//! Turning decoded fields into Prometheus label names and values.

use prometheus::proto::LabelPair;

use crate::config::MapConfig;
use crate::error::{Error, Result};
use bee_object::convention::Output;
use bee_object::decode;
use bee_object::schema::{Field, Plan};

pub use bee_object::convention::label_name;

/// The const label every bee metric carries.
pub fn probe_label(probe: &str) -> std::collections::HashMap<String, String> {
    std::iter::once(("probe".to_string(), probe.to_string())).collect()
}

/// One label pair.
pub fn pair(name: &str, value: &str) -> LabelPair {
    let mut p = LabelPair::default();
    p.set_name(name.to_string());
    p.set_value(value.to_string());
    p
}

/// The fields of `plan` that become labels.
pub fn label_fields(plan: &Plan) -> Vec<Field> {
    plan.fields.iter().filter(|f| f.kind.is_labelable()).cloned().collect()
}

/// Byte ranges covering `fields`, adjacent ones merged: copying a label
/// key is then one `memcpy` per range instead of one per field.
pub fn key_ranges(fields: &[Field]) -> Vec<std::ops::Range<usize>> {
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    for f in fields {
        let r = f.offset..f.offset + f.kind.width();
        match out.last_mut() {
            Some(last) if last.end == r.start => last.end = r.end,
            _ => out.push(r),
        }
    }
    out
}

/// Copies the bytes of `ranges` of `rec` into `key`; false if the record is
/// too short.
#[inline]
pub fn key_from_ranges(ranges: &[std::ops::Range<usize>], rec: &[u8], key: &mut Vec<u8>) -> bool {
    key.clear();
    for r in ranges {
        match rec.get(r.clone()) {
            Some(b) => key.extend_from_slice(b),
            None => return false,
        }
    }
    true
}

/// Label values of a record as text.
pub fn label_values(fields: &[Field], rec: &[u8]) -> Vec<String> {
    fields
        .iter()
        .map(|f| {
            let mut s = String::new();
            if let Some(v) = decode::read(f, rec) {
                v.write_text(&mut s);
            }
            s
        })
        .collect()
}

/// Label pairs of a record, for hand-built metric families.
pub fn label_pairs(names: &[String], fields: &[Field], rec: &[u8]) -> Vec<LabelPair> {
    names
        .iter()
        .zip(label_values(fields, rec))
        .map(|(n, v)| {
            let mut p = LabelPair::default();
            p.set_name(n.clone());
            p.set_value(v);
            p
        })
        .collect()
}

/// The label fields of `plan` for map `map`: every labelable field except
/// `exclude` (the value or slot field), narrowed by the map's `labels` and
/// `drop` settings. Unknown names in the settings are errors.
pub fn select(map: &str, plan: &Plan, cfg: &MapConfig, exclude: &[&str]) -> Result<Vec<Field>> {
    let err = |reason: String| Error::map(map, reason);
    for name in cfg.labels.iter().flatten().chain(cfg.drop.iter()) {
        match plan.field(name) {
            None => {
                let names: Vec<&str> = plan.fields.iter().map(|f| f.name.as_str()).collect();
                return Err(err(format!(
                    "label setting names `{name}`, which is not a field (fields: {})",
                    names.join(", ")
                )));
            }
            Some(f) if !f.kind.is_labelable() => {
                return Err(err(format!("field `{name}` is an array and cannot be a label")));
            }
            Some(_) => {}
        }
    }
    Ok(plan
        .fields
        .iter()
        .filter(|f| f.kind.is_labelable() && !exclude.contains(&f.name.as_str()))
        .filter(|f| cfg.labels.as_ref().is_none_or(|l| l.contains(&f.name)))
        .filter(|f| !cfg.drop.contains(&f.name))
        .cloned()
        .collect())
}

/// The field whose value an event gauge or histogram uses: the configured
/// one, else `le` (hist only), else `value`.
pub fn value_field(map: &str, plan: &Plan, cfg: &MapConfig, output: Output) -> Result<Field> {
    let err = |reason: String| Error::map(map, reason);
    let candidates: Vec<&str> = match (&cfg.value, output) {
        (Some(v), _) => vec![v.as_str()],
        (None, output) => bee_object::convention::default_value_fields(output).to_vec(),
    };
    let numeric: Vec<&str> = plan.fields.iter().filter(|f| f.kind.is_numeric()).map(|f| f.name.as_str()).collect();
    for c in &candidates {
        if let Some(f) = plan.field(c) {
            if !f.kind.is_numeric() {
                return Err(err(format!("value field `{c}` is not a number")));
            }
            return Ok(f.clone());
        }
    }
    Err(err(format!(
        "no value field for {output} output: name a field `{}` or set `value = \"FIELD\"` in [probes.NAME.maps.{map}] (numeric fields: {})",
        candidates.join("` or `"),
        if numeric.is_empty() { "none".to_string() } else { numeric.join(", ") }
    )))
}

/// The slot (bucket index) field of a hash histogram's key: the configured
/// one, else `slot`, else `bucket`; it must be an integer.
pub fn slot_field(probe: &str, map: &str, key: &Plan, cfg: &MapConfig) -> Result<Field> {
    let err = |reason: String| Error::map(map, reason);
    let names: Vec<&str> = match &cfg.slot {
        Some(s) => vec![s.as_str()],
        None => bee_object::convention::DEFAULT_SLOT_FIELDS.to_vec(),
    };
    let slot = names.iter().find_map(|n| key.field(n)).cloned().ok_or_else(|| {
        err(format!(
            "hist key {} has no slot field `{}`: set `slot = \"FIELD\"` in [probes.{probe}.maps.{map}]",
            key.type_name,
            names.join("` or `"),
        ))
    })?;
    if !matches!(slot.kind, bee_object::schema::FieldKind::Unsigned(_) | bee_object::schema::FieldKind::Signed(_)) {
        return Err(err(format!("slot field `{}` must be an integer", slot.name)));
    }
    Ok(slot)
}

/// Label sets a hash map walk could not export because its metric reached
/// `max_series`, remembered while they stay in the map, so that
/// `beed_series_dropped_total` counts each refused label set once (and again
/// only if it left the map and came back), not once per walk. Bounded by the
/// map's own size.
#[derive(Default)]
pub struct Refused {
    seen: crate::fasthash::FastMap<Vec<u8>, u64>,
    generation: u64,
}

impl Refused {
    /// Starts a walk.
    pub fn begin(&mut self) {
        self.generation += 1;
    }

    /// A label set (its key bytes) was refused in this walk; true the first
    /// time it is.
    pub fn refuse(&mut self, key: &[u8]) -> bool {
        if let Some(g) = self.seen.get_mut(key) {
            *g = self.generation;
            return false;
        }
        self.seen.insert(key.to_vec(), self.generation);
        true
    }

    /// Ends a complete walk: label sets no longer in the map are forgotten.
    pub fn finish(&mut self) {
        let g = self.generation;
        self.seen.retain(|_, s| *s == g);
    }
}

#[cfg(test)]
mod tests {
    use super::Refused;

    #[test]
    fn refused_label_sets_count_once_while_they_stay() {
        let mut r = Refused::default();
        r.begin();
        assert!(r.refuse(b"a"));
        assert!(r.refuse(b"b"));
        assert!(!r.refuse(b"a"), "the same set twice in one walk");
        r.finish();
        // next walk: `a` is still refused (not counted again), `b` left the map
        r.begin();
        assert!(!r.refuse(b"a"));
        r.finish();
        r.begin();
        assert!(r.refuse(b"b"), "a set that left and came back counts again");
        r.finish();
    }
}
