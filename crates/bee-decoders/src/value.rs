//! What decoders ask of a field's kind and value.

use bee_object::decode::Value;
use bee_object::schema::FieldKind;

/// The value as an integer, if it is one (enums, bools, pointers and
/// durations included).
pub fn int_of(v: &Value<'_>) -> Option<i128> {
    Some(match *v {
        Value::U(x) | Value::Ptr(x) | Value::Duration(x) => i128::from(x),
        Value::I(x) | Value::Enum(x, _) => i128::from(x),
        Value::Bool(b) => i128::from(b),
        _ => return None,
    })
}

/// Width in bits and signedness of an integer-like field.
pub fn int_bits(kind: &FieldKind) -> Option<(u32, bool)> {
    Some(match kind {
        FieldKind::Unsigned(n) | FieldKind::Bool(n) => (u32::from(*n) * 8, false),
        FieldKind::Signed(n) => (u32::from(*n) * 8, true),
        FieldKind::Enum { size, signed, .. } => (u32::from(*size) * 8, *signed),
        FieldKind::Pointer | FieldKind::Duration | FieldKind::Ktime { .. } => (64, false),
        FieldKind::Bits { bits, signed, .. } => (u32::from(*bits), *signed),
        _ => return None,
    })
}

/// A field kind in words, for messages.
pub fn describe(kind: &FieldKind) -> String {
    match kind {
        FieldKind::Unsigned(n) => format!("a {}-byte unsigned integer", n),
        FieldKind::Signed(n) => format!("a {}-byte signed integer", n),
        FieldKind::Bool(_) => "a bool".into(),
        FieldKind::Str(n) => format!("a string (char[{n}])"),
        FieldKind::Enum { size, .. } => format!("a {size}-byte enum"),
        FieldKind::Ipv4 => "an ipv4_addr".into(),
        FieldKind::Ipv6 => "an ipv6_addr".into(),
        FieldKind::Duration => "a duration".into(),
        FieldKind::Ktime { .. } => "a ktime".into(),
        FieldKind::F32 | FieldKind::F64 => "a float".into(),
        FieldKind::Pointer => "a pointer".into(),
        FieldKind::IntArray { elem, len, .. } => format!("an array of {len} {}-byte integers", elem),
        FieldKind::Bits { bits, .. } => format!("a {bits}-bit bitfield"),
    }
}

/// Ok for integer-like fields; else why not.
pub fn need_int(decoder: &str, kind: &FieldKind) -> Result<(u32, bool), String> {
    int_bits(kind).ok_or_else(|| format!("decoder `{decoder}` needs an integer field, not {}", describe(kind)))
}

/// The value's bits as an unsigned number of `bits` bits.
pub fn unsigned_bits(v: i128, bits: u32) -> u128 {
    let mask = if bits >= 128 { u128::MAX } else { (1u128 << bits) - 1 };
    (v as u128) & mask
}

/// Appends an integer in decimal.
pub fn push_int(out: &mut String, v: i128) {
    use std::fmt::Write as _;
    let _ = write!(out, "{v}");
}

/// JSON of a decoder that names some numbers and keeps the others: what
/// `text` writes, as a JSON string, unless it is the number itself (then
/// a JSON number, as without the decoder).
pub fn json_named(r: &dyn bee_object::decode::Render, v: Value<'_>, out: &mut String) {
    let start = out.len();
    r.text(v, out);
    let t = &out[start..];
    let digits = t.strip_prefix('-').unwrap_or(t);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && int_of(&v).is_some() {
        return;
    }
    let text = out.split_off(start);
    bee_object::decode::write_json_str(out, &text);
}

/// A decoder that writes integers in words with one function (`signal`,
/// `exit_status`), and other values as they are.
#[derive(Debug)]
pub struct Numbered(pub fn(&mut String, i128));

impl bee_object::decode::Render for Numbered {
    fn text(&self, v: Value<'_>, out: &mut String) {
        match int_of(&v) {
            Some(n) => (self.0)(out, n),
            None => v.write_text(out),
        }
    }

    fn json(&self, v: Value<'_>, out: &mut String) {
        json_named(self, v, out);
    }
}
