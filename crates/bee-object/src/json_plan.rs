//! A record's JSON object, with the per-field decisions taken once per
//! plan: every field becomes one step (its escaped key and how to write its
//! value), and the common kinds (integers, character arrays) are written
//! straight from the record's bytes instead of going through [`Value`].
//! The output is exactly [`decode::write_json_object`]'s.
//!
//! [`Value`]: crate::decode::Value
//! [`decode::write_json_object`]: crate::decode::write_json_object

use std::ops::Range;

use crate::decode;
use crate::schema::{Field, FieldKind, Plan};

/// How one field's value is written, and the bytes of the record it is in.
#[derive(Debug, Clone)]
enum Write {
    Unsigned(Range<usize>),
    Signed(Range<usize>),
    /// A NUL-padded character array.
    Str(Range<usize>),
    /// Anything else (and any field with a decoder), through `decode`.
    Field(Field),
}

#[derive(Debug, Clone)]
struct Step {
    /// `"name":`, or `,"name":` after the first field.
    key: String,
    write: Write,
}

/// The JSON writer of one plan.
#[derive(Debug, Clone)]
pub struct JsonPlan {
    size: usize,
    steps: Vec<Step>,
}

impl JsonPlan {
    /// The writer of records decoded with `plan`.
    pub fn new(plan: &Plan) -> Self {
        let steps = plan
            .fields
            .iter()
            .zip(decode::json_keys(plan))
            .map(|(f, key)| {
                // past the end of any record (`null`) if it overflows
                let at = f.offset..f.offset.checked_add(f.kind.width()).unwrap_or(0);
                let write = match (&f.kind, &f.render) {
                    (FieldKind::Unsigned(_), None) => Write::Unsigned(at),
                    (FieldKind::Signed(_), None) => Write::Signed(at),
                    (FieldKind::Str(_), None) => Write::Str(at),
                    _ => Write::Field(f.clone()),
                };
                Step { key, write }
            })
            .collect();
        JsonPlan { size: plan.size, steps }
    }

    /// Appends `{"field":value,…}` for `rec`; false (writing nothing) when
    /// the record is shorter than the plan.
    #[inline]
    pub fn write(&self, rec: &[u8], out: &mut String) -> bool {
        if rec.len() < self.size {
            return false;
        }
        out.push('{');
        for s in &self.steps {
            out.push_str(&s.key);
            match &s.write {
                Write::Unsigned(at) => match rec.get(at.clone()) {
                    Some(b) => decode::push_u64(out, decode::uint(b)),
                    None => out.push_str("null"),
                },
                Write::Signed(at) => match rec.get(at.clone()) {
                    Some(b) => decode::push_i64(out, decode::sint(b)),
                    None => out.push_str("null"),
                },
                Write::Str(at) => match rec.get(at.clone()) {
                    Some(b) => {
                        let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                        decode::Value::Str(&b[..end]).write_json(out);
                    }
                    None => out.push_str("null"),
                },
                Write::Field(f) => decode::write_field_json(f, rec, out),
            }
        }
        out.push('}');
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind the plan writes itself, and some it hands to `decode`,
    /// written exactly as `decode::write_json_object` writes them.
    #[test]
    fn same_output_as_the_generic_writer() {
        let fields = vec![
            Field::new("u8", 0, FieldKind::Unsigned(1)),
            Field::new("u16", 2, FieldKind::Unsigned(2)),
            Field::new("u32", 4, FieldKind::Unsigned(4)),
            Field::new("u64", 8, FieldKind::Unsigned(8)),
            Field::new("i8", 16, FieldKind::Signed(1)),
            Field::new("i16", 18, FieldKind::Signed(2)),
            Field::new("i32", 20, FieldKind::Signed(4)),
            Field::new("i64", 24, FieldKind::Signed(8)),
            Field::new("comm", 32, FieldKind::Str(8)),
            Field::new("quote\"d", 40, FieldKind::Str(8)),
            Field::new("ip", 48, FieldKind::Ipv4),
            Field::new("lat", 56, FieldKind::Duration),
            Field::new("odd", 64, FieldKind::Unsigned(3)),
        ];
        let plan = Plan { type_name: "struct t".into(), size: 72, fields };
        let mut rec = vec![0u8; 72];
        rec[0] = 255;
        rec[2..4].copy_from_slice(&65535u16.to_le_bytes());
        rec[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        rec[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        rec[16] = 0x80;
        rec[18..20].copy_from_slice(&(-2i16).to_le_bytes());
        rec[20..24].copy_from_slice(&i32::MIN.to_le_bytes());
        rec[24..32].copy_from_slice(&i64::MIN.to_le_bytes());
        rec[32..38].copy_from_slice(b"bash\0x");
        rec[40..48].copy_from_slice(b"a\"b\\\n\xffz!");
        rec[48..52].copy_from_slice(&[10, 0, 0, 1]);
        rec[56..64].copy_from_slice(&1_500_000u64.to_le_bytes());
        rec[64..67].copy_from_slice(&[1, 2, 3]);
        let jp = JsonPlan::new(&plan);
        let (mut a, mut b) = (String::new(), String::new());
        assert!(jp.write(&rec, &mut a));
        assert!(decode::write_json_object(&plan, &rec, &mut b));
        assert_eq!(a, b);
        assert!(a.contains("\"i8\":-128,\"i16\":-2,") && a.contains("\"comm\":\"bash\""), "{a}");
        assert!(!jp.write(&rec[..71], &mut a), "a short record is refused");
    }
}
