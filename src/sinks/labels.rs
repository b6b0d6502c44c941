//! Turning decoded fields into Prometheus label names and values.

use prometheus::proto::LabelPair;

use crate::decode;
use crate::schema::{Field, Plan};

/// A valid Prometheus label name for a struct field.
pub fn label_name(field: &str) -> String {
    let mut s: String = field
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) || s.starts_with("__") {
        s.insert_str(0, "field_");
    }
    s
}

/// The fields of `plan` that become labels.
pub fn label_fields(plan: &Plan) -> Vec<Field> {
    plan.fields.iter().filter(|f| f.kind.is_labelable()).cloned().collect()
}

/// Appends the raw bytes of each label field to `key` (the cache key of a
/// label set); false if the record is too short.
pub fn label_key(fields: &[Field], rec: &[u8], key: &mut Vec<u8>) -> bool {
    key.clear();
    for f in fields {
        match rec.get(f.offset..f.offset + f.kind.width()) {
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
