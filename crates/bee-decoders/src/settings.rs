//! `[probes.NAME.maps.MAP.fields.FIELD]`: the decoder of one field and its
//! parameters.

use std::collections::BTreeMap;

use serde::Deserialize;

/// How one field of a watched map is rendered.
#[derive(Debug, Deserialize, Clone, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct FieldSettings {
    /// The decoder: `ksym`, `cgroup`, `errno`, `signal`, `exit_status`,
    /// `syscall`, `static_map`, `regexp`, `hex`, `uint`, `int`, `inet_ip`,
    /// `ktime`, `ktime_boot`.
    pub decode: Option<String>,
    /// `static_map`: value → label.
    pub table: Option<BTreeMap<String, String>>,
    /// `static_map`: the label of values the table does not name (default:
    /// the value itself).
    pub default: Option<String>,
    /// `regexp`: values that match are kept.
    pub regexp: Option<String>,
    /// `regexp`: what values that do not match become (default `other`).
    pub overflow: Option<String>,
    /// `cgroup`: what the field shows (the first part) and which derived
    /// fields `FIELD_PART` follow it: `path`, `container_id`, `container`,
    /// `pod`, `namespace` (default: all five).
    pub parts: Option<Vec<String>>,
}

impl FieldSettings {
    /// The parameters that are set, by name (to refuse those the decoder
    /// does not take).
    pub fn parameters(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.table.is_some() {
            out.push("table");
        }
        if self.default.is_some() {
            out.push("default");
        }
        if self.regexp.is_some() {
            out.push("regexp");
        }
        if self.overflow.is_some() {
            out.push("overflow");
        }
        if self.parts.is_some() {
            out.push("parts");
        }
        out
    }
}
