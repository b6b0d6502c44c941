//! `static_map`: a value → label table from configuration
//! (`table = { 1 = "read", 2 = "write" }`); values the table does not name
//! keep their own rendering, or become `default` when it is set. Keys are
//! numbers (decimal, `0x…`, negative) for integer fields, enumerator names
//! or numbers for enums, `true`/`false` for bools, the text for strings.

use std::collections::{BTreeMap, HashMap};

use bee_object::decode::{Render, Value};
use bee_object::schema::FieldKind;

use crate::value::{describe, int_bits, int_of};

/// The `static_map` decoder of one field.
#[derive(Debug)]
pub struct StaticMap {
    ints: HashMap<i128, String>,
    strings: HashMap<Vec<u8>, String>,
    default: Option<String>,
}

fn parse_int(key: &str) -> Option<i128> {
    let (neg, digits) = match key.trim().strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, key.trim()),
    };
    // one sign at most (`parse` takes another, and -i128::MIN overflows)
    if digits.starts_with(['+', '-']) {
        return None;
    }
    let n = match digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
        Some(h) => i128::from_str_radix(h, 16).ok()?,
        None => digits.parse::<i128>().ok()?,
    };
    if neg {
        n.checked_neg()
    } else {
        Some(n)
    }
}

impl StaticMap {
    /// The table for a field of `kind`; an error names a key that does not
    /// fit the field.
    pub fn new(kind: &FieldKind, table: &BTreeMap<String, String>, default: Option<String>) -> Result<Self, String> {
        let mut m = StaticMap { ints: HashMap::new(), strings: HashMap::new(), default };
        for (k, label) in table {
            match kind {
                FieldKind::Str(_) => {
                    m.strings.insert(k.as_bytes().to_vec(), label.clone());
                }
                FieldKind::Bool(_) => {
                    let b = match k.as_str() {
                        "true" | "1" => 1,
                        "false" | "0" => 0,
                        _ => return Err(format!("table key `{k}` is not true, false, 1 or 0 (the field is a bool)")),
                    };
                    m.ints.insert(b, label.clone());
                }
                FieldKind::Enum { values, .. } => {
                    let n = parse_int(k)
                        .or_else(|| values.iter().find(|(_, n)| n == k).map(|(v, _)| i128::from(*v)))
                        .ok_or_else(|| {
                        format!("table key `{k}` is neither a number nor an enumerator of the field")
                    })?;
                    m.ints.insert(n, label.clone());
                }
                other if int_bits(other).is_some() => {
                    let n = parse_int(k)
                        .ok_or_else(|| format!("table key `{k}` is not a number (the field is {})", describe(other)))?;
                    m.ints.insert(n, label.clone());
                }
                other => return Err(format!("decoder `static_map` cannot map {}", describe(other))),
            }
        }
        Ok(m)
    }
}

impl Render for StaticMap {
    fn json(&self, v: Value<'_>, out: &mut String) {
        crate::value::json_named(self, v, out);
    }

    fn text(&self, v: Value<'_>, out: &mut String) {
        let hit = match v {
            Value::Str(s) => self.strings.get(s),
            other => int_of(&other).and_then(|n| self.ints.get(&n)),
        };
        match (hit, &self.default) {
            (Some(label), _) => out.push_str(label),
            (None, Some(d)) => out.push_str(d),
            (None, None) => v.write_text(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn text(m: &StaticMap, v: Value<'_>) -> String {
        let mut s = String::new();
        m.text(v, &mut s);
        s
    }

    #[test]
    fn integers_enums_bools_and_strings() -> Result<(), String> {
        let ops = StaticMap::new(&FieldKind::Unsigned(4), &table(&[("1", "read"), ("0x2", "write")]), None)?;
        assert_eq!(text(&ops, Value::U(1)), "read");
        assert_eq!(text(&ops, Value::U(2)), "write");
        assert_eq!(text(&ops, Value::U(3)), "3", "unknown values keep the number");
        let signed = StaticMap::new(&FieldKind::Signed(4), &table(&[("-1", "fail")]), Some("ok".into()))?;
        assert_eq!(text(&signed, Value::I(-1)), "fail");
        assert_eq!(text(&signed, Value::I(5)), "ok", "or become the default");
        let e = FieldKind::Enum { size: 4, signed: false, values: vec![(1, "UP".into()), (2, "DOWN".into())] };
        let en = StaticMap::new(&e, &table(&[("UP", "up"), ("2", "down")]), None)?;
        assert_eq!(text(&en, Value::Enum(1, Some("UP"))), "up");
        assert_eq!(text(&en, Value::Enum(2, Some("DOWN"))), "down");
        assert_eq!(text(&en, Value::Enum(3, None)), "3");
        let b = StaticMap::new(&FieldKind::Bool(1), &table(&[("true", "yes"), ("0", "no")]), None)?;
        assert_eq!((text(&b, Value::Bool(true)), text(&b, Value::Bool(false))), ("yes".into(), "no".into()));
        let s = StaticMap::new(&FieldKind::Str(16), &table(&[("bash", "shell")]), None)?;
        assert_eq!(text(&s, Value::Str(b"bash")), "shell");
        assert_eq!(text(&s, Value::Str(b"vim")), "vim");
        Ok(())
    }

    #[test]
    fn keys_that_do_not_fit_are_errors() {
        let err = |k: &FieldKind, key: &str| StaticMap::new(k, &table(&[(key, "x")]), None).err().unwrap_or_default();
        assert_eq!(
            err(&FieldKind::Unsigned(4), "read"),
            "table key `read` is not a number (the field is a 4-byte unsigned integer)"
        );
        assert_eq!(err(&FieldKind::Bool(1), "yes"), "table key `yes` is not true, false, 1 or 0 (the field is a bool)");
        assert_eq!(err(&FieldKind::Ipv4, "1"), "decoder `static_map` cannot map an ipv4_addr");
        let e = FieldKind::Enum { size: 4, signed: false, values: vec![(1, "UP".into())] };
        assert_eq!(err(&e, "LEFT"), "table key `LEFT` is neither a number nor an enumerator of the field");
    }
}
