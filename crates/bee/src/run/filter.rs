//! `--filter MAP,FIELD,REGEX`: only records whose field matches are shown.

use std::collections::HashMap;

use anyhow::{anyhow, bail, Result};
use bee_object::MapSpec;
use regex::Regex;

/// The filter of each map (the last one given for a map wins).
#[derive(Debug, Default, Clone)]
pub struct Filters(HashMap<String, (String, Regex)>);

impl Filters {
    /// Parses every `MAP,FIELD,REGEX`, checking map and field against the
    /// probe's watched maps.
    pub fn parse(specs: &[String], maps: &[MapSpec]) -> Result<Self> {
        let mut out = HashMap::new();
        for s in specs {
            let mut parts = s.splitn(3, ',');
            let (Some(map), Some(field), Some(re)) = (parts.next(), parts.next(), parts.next()) else {
                bail!("--filter {s:?}: expected MAP,FIELD,REGEX");
            };
            let Some(m) = maps.iter().find(|m| m.name == map) else {
                let names: Vec<&str> = maps.iter().map(|m| m.name.as_str()).collect();
                bail!("--filter {s:?}: the probe has no watched map `{map}` (watched maps: {})", names.join(", "));
            };
            let has = |p: &Option<bee_object::schema::Plan>| p.as_ref().is_some_and(|p| p.field(field).is_some());
            if !has(&m.value) && !has(&m.key) {
                let fields: Vec<&str> =
                    m.key.iter().chain(m.value.iter()).flat_map(|p| p.fields.iter().map(|f| f.name.as_str())).collect();
                bail!("--filter {s:?}: map {map} has no field `{field}` (fields: {})", fields.join(", "));
            }
            let re = regex(re).map_err(|e| anyhow!("--filter {s:?}: {e}"))?;
            out.insert(map.to_string(), (field.to_string(), re));
        }
        Ok(Filters(out))
    }

    /// The filter of `map`, if any: (field, regex).
    pub fn of(&self, map: &str) -> Option<&(String, Regex)> {
        self.0.get(map)
    }
}

/// Compiles `re`; the error is one line (the regex crate's spans several,
/// pointing at the mistake with a caret).
pub fn regex(re: &str) -> std::result::Result<Regex, String> {
    Regex::new(re).map_err(|e| {
        let msg = e.to_string();
        let last = msg.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("");
        format!("`{re}` is not a valid regular expression: {}", last.trim_start_matches("error: "))
    })
}
