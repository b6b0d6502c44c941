//! Pure decoding: record bytes + plan → values, rendered as JSON, label text
//! or metric numbers. Allocates nothing: callers pass reusable buffers.

use std::fmt::Write as _;
use std::net::Ipv6Addr;
use std::sync::Arc;

use crate::schema::{Field, FieldKind, Plan};

/// One decoded value, borrowing the record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    U(u64),
    I(i64),
    Bool(bool),
    Str(&'a [u8]),
    Enum(i64, Option<&'a str>),
    Ipv4([u8; 4]),
    Ipv6([u8; 16]),
    /// Nanoseconds.
    Duration(u64),
    F(f64),
    Ptr(u64),
    Array {
        bytes: &'a [u8],
        elem: u8,
        signed: bool,
    },
}

#[inline]
pub(crate) fn uint(b: &[u8]) -> u64 {
    // the usual widths without a variable-length copy
    if let Ok(a) = <[u8; 8]>::try_from(b) {
        return u64::from_le_bytes(a);
    }
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        return u64::from(u32::from_le_bytes(a));
    }
    if let Ok(a) = <[u8; 2]>::try_from(b) {
        return u64::from(u16::from_le_bytes(a));
    }
    if let [x] = b {
        return u64::from(*x);
    }
    let mut v = [0u8; 8];
    let n = b.len().min(8);
    v[..n].copy_from_slice(&b[..n]);
    u64::from_le_bytes(v)
}

pub(crate) fn sint(b: &[u8]) -> i64 {
    let n = b.len().min(8);
    if n == 0 {
        return 0;
    }
    let shift = 64 - 8 * n as u32;
    ((uint(b) << shift) as i64) >> shift
}

/// Reads `field` out of `rec`; `None` when the record is too short.
pub fn read<'a>(field: &'a Field, rec: &'a [u8]) -> Option<Value<'a>> {
    let b = rec.get(field.offset..field.offset.checked_add(field.kind.width())?)?;
    Some(match &field.kind {
        FieldKind::Unsigned(_) => Value::U(uint(b)),
        FieldKind::Signed(_) => Value::I(sint(b)),
        FieldKind::Bool(_) => Value::Bool(uint(b) != 0),
        FieldKind::Str(_) => {
            let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
            Value::Str(&b[..end])
        }
        FieldKind::Enum { signed, values, .. } => {
            let v = if *signed { sint(b) } else { uint(b) as i64 };
            Value::Enum(v, values.iter().find(|(k, _)| *k == v).map(|(_, n)| n.as_str()))
        }
        FieldKind::Ipv4 => Value::Ipv4([b[0], b[1], b[2], b[3]]),
        FieldKind::Ipv6 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            Value::Ipv6(a)
        }
        FieldKind::Duration => Value::Duration(uint(b)),
        FieldKind::Ktime { .. } => Value::U(uint(b)),
        FieldKind::F32 => Value::F(f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64),
        FieldKind::F64 => Value::F(f64::from_bits(uint(b))),
        FieldKind::Pointer => Value::Ptr(uint(b)),
        FieldKind::IntArray { elem, signed, .. } => Value::Array { bytes: b, elem: *elem, signed: *signed },
        FieldKind::Bits { shift, bits, signed } => {
            let raw = uint(b) >> shift;
            let bits = *bits as u32;
            let mask = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
            let v = raw & mask;
            if *signed && bits > 0 && bits < 64 && v >> (bits - 1) & 1 == 1 {
                Value::I((v | !mask) as i64)
            } else if *signed {
                Value::I(v as i64)
            } else {
                Value::U(v)
            }
        }
    })
}

/// How a decoder renders a field's value (implemented by the front ends'
/// decoders, crates/bee-decoders). Called for every event of a print map and
/// for every new label set, so it must be cheap and must not panic.
pub trait Render: Send + Sync + std::fmt::Debug {
    /// Appends the value as plain text (labels, journal fields).
    fn text(&self, v: Value<'_>, out: &mut String);
    /// Appends the value as JSON (default: the text as a JSON string).
    fn json(&self, v: Value<'_>, out: &mut String) {
        out.push('"');
        let start = out.len();
        self.text(v, out);
        escape_json_tail(out, start);
        out.push('"');
    }
}

/// A shared [`Render`]; two are equal when they are the same decoder.
#[derive(Clone)]
pub struct Renderer(pub Arc<dyn Render>);

impl PartialEq for Renderer {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Appends `field`'s value in `rec` as text, through its decoder if it has
/// one; false (writing nothing) when the record is too short.
pub fn write_field_text(field: &Field, rec: &[u8], out: &mut String) -> bool {
    let Some(v) = read(field, rec) else { return false };
    match &field.render {
        Some(r) => r.0.text(v, out),
        None => v.write_text(out),
    }
    true
}

/// Appends `field`'s value in `rec` as JSON, through its decoder if it has
/// one; `null` when the record is too short.
pub fn write_field_json(field: &Field, rec: &[u8], out: &mut String) {
    match (read(field, rec), &field.render) {
        (Some(v), Some(r)) => r.0.json(v, out),
        (Some(v), None) => v.write_json(out),
        (None, _) => out.push_str("null"),
    }
}

impl Value<'_> {
    /// The value as a metric sample (durations in seconds); `None` for
    /// non-numeric values.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::U(v) => Some(v as f64),
            Value::I(v) => Some(v as f64),
            Value::Bool(b) => Some(if b { 1.0 } else { 0.0 }),
            Value::Duration(ns) => Some(ns as f64 / 1e9),
            Value::F(f) => Some(f),
            Value::Enum(v, _) => Some(v as f64),
            _ => None,
        }
    }

    /// Appends the value as JSON.
    pub fn write_json(&self, out: &mut String) {
        match *self {
            Value::U(v) => push_u64(out, v),
            Value::I(v) => push_i64(out, v),
            Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
            Value::F(f) if f.is_finite() => {
                let _ = write!(out, "{f}");
            }
            Value::F(_) => out.push_str("null"),
            Value::Enum(v, None) => {
                let _ = write!(out, "{v}");
            }
            Value::Str(s) if s.iter().all(|&b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\') => {
                // printable ASCII without quotes or backslashes: nothing to escape
                out.push('"');
                out.push_str(std::str::from_utf8(s).unwrap_or_default());
                out.push('"');
            }
            Value::Ipv4(_) | Value::Ipv6(_) | Value::Duration(_) | Value::Ptr(_) => {
                // addresses, durations and hex numbers never need escaping
                out.push('"');
                self.write_text(out);
                out.push('"');
            }
            Value::Array { bytes, elem, signed } => {
                out.push('[');
                for (i, c) in bytes.chunks_exact(elem as usize).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = if signed { write!(out, "{}", sint(c)) } else { write!(out, "{}", uint(c)) };
                }
                out.push(']');
            }
            _ => {
                out.push('"');
                let start = out.len();
                self.write_text(out);
                escape_json_tail(out, start);
                out.push('"');
            }
        }
    }

    /// Appends the value as plain text (labels, journal fields).
    pub fn write_text(&self, out: &mut String) {
        let _ = match *self {
            Value::U(v) => {
                push_u64(out, v);
                Ok(())
            }
            Value::I(v) => {
                push_i64(out, v);
                Ok(())
            }
            Value::Bool(b) => write!(out, "{b}"),
            Value::Str(s) => {
                push_lossy(out, s);
                Ok(())
            }
            Value::Enum(_, Some(n)) => write!(out, "{n}"),
            Value::Enum(v, None) => write!(out, "{v}"),
            Value::Ipv4(a) => {
                for (i, b) in a.iter().enumerate() {
                    if i > 0 {
                        out.push('.');
                    }
                    push_u64(out, u64::from(*b));
                }
                Ok(())
            }
            Value::Ipv6(a) => {
                write_ipv6(out, a);
                Ok(())
            }
            Value::Duration(ns) => {
                write_duration(out, ns);
                Ok(())
            }
            Value::F(f) => write!(out, "{f}"),
            Value::Ptr(p) => write!(out, "{p:#x}"),
            Value::Array { .. } => {
                self.write_json(out);
                Ok(())
            }
        };
    }
}

/// Appends an IPv6 address as `Ipv6Addr`'s `Display` does (RFC 5952: lower
/// case, no leading zeros, the longest run of two or more zero groups as
/// `::`), without the `fmt` machinery; IPv4-mapped addresses
/// (`::ffff:a.b.c.d`) go through `Display`.
pub fn write_ipv6(out: &mut String, a: [u8; 16]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let g: [u16; 8] = std::array::from_fn(|i| u16::from_be_bytes([a[2 * i], a[2 * i + 1]]));
    if g[..5] == [0; 5] && g[5] == 0xffff {
        let _ = write!(out, "{}", Ipv6Addr::from(a));
        return;
    }
    // the first longest run of zero groups, if two or more long
    let (mut best, mut best_len, mut run) = (0, 0, 0);
    for (i, &x) in g.iter().enumerate() {
        run = if x == 0 { run + 1 } else { 0 };
        if run > best_len {
            best_len = run;
            best = i + 1 - run;
        }
    }
    out.reserve(39);
    let mut i = 0;
    while i < 8 {
        if best_len >= 2 && i == best {
            out.push_str(if i == 0 { "::" } else { ":" });
            i += best_len;
            continue;
        }
        let x = g[i];
        let digits = (16 - x.leading_zeros().min(12) as usize).div_ceil(4);
        for d in (0..digits).rev() {
            out.push(char::from(HEX[usize::from((x >> (4 * d)) & 0xf)]));
        }
        if i < 7 {
            out.push(':');
        }
        i += 1;
    }
}

/// Appends the decimal digits of `v` (no `fmt` machinery: this runs per field of every event).
#[inline]
pub fn push_u64(out: &mut String, v: u64) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// Appends the decimal digits of `v`, with a sign when negative.
#[inline]
pub fn push_i64(out: &mut String, v: i64) {
    out.push_str(itoa::Buffer::new().format(v));
}

fn push_lossy(out: &mut String, s: &[u8]) {
    match std::str::from_utf8(s) {
        Ok(s) => out.push_str(s),
        Err(_) => out.push_str(&String::from_utf8_lossy(s)),
    }
}

/// JSON-escapes `out[start..]` in place (only allocates when escaping is needed).
fn escape_json_tail(out: &mut String, start: usize) {
    if !out[start..].bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        return;
    }
    let raw = out.split_off(start);
    for c in raw.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Appends a JSON string literal.
pub fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    let start = out.len();
    out.push_str(s);
    escape_json_tail(out, start);
    out.push('"');
}

/// The JSON key prefixes of a plan's fields: `"name":` (`,"name":` after
/// the first), escaped once, for [`crate::json_plan::JsonPlan`].
pub fn json_keys(plan: &Plan) -> Vec<String> {
    plan.fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut k = String::new();
            if i > 0 {
                k.push(',');
            }
            write_json_str(&mut k, &f.name);
            k.push(':');
            k
        })
        .collect()
}

/// The start of a JSON line of beed's stdout shape:
/// `{"probe":"…","mapName":"…",` (an `"entry"` or `"entries"` follows).
pub fn json_line_prefix(probe: &str, map: &str) -> String {
    let mut p = String::from("{\"probe\":");
    write_json_str(&mut p, probe);
    p.push_str(",\"mapName\":");
    write_json_str(&mut p, map);
    p.push(',');
    p
}

/// Appends `"entries":[{"key":…,"value":…},…]}` for the entries of a walk
/// (the end of a line begun by [`json_line_prefix`]).
pub fn write_json_entries<'a>(
    key: &Plan,
    value: &Plan,
    entries: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    out: &mut String,
) {
    out.push_str("\"entries\":[");
    for (i, (k, v)) in entries.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"key\":");
        write_json_plan(key, k, out);
        out.push_str(",\"value\":");
        write_json_plan(value, v, out);
        out.push('}');
    }
    out.push_str("]}");
}

/// A whole key or value: a scalar plan (`u64 value`, or a field named
/// `key`) renders as a bare JSON value, a struct as an object, bytes that do
/// not match the plan as `null`.
pub fn write_json_plan(plan: &Plan, rec: &[u8], out: &mut String) {
    match plan.fields.as_slice() {
        [f] if f.offset == 0 && f.kind.width() == plan.size && (f.name == "key" || f.name == "value") => {
            write_field_json(f, rec, out)
        }
        _ => {
            if !write_json_object(plan, rec, out) {
                out.push_str("null");
            }
        }
    }
}

/// Appends `{"field":value,...}` for a whole record; returns false (writing
/// nothing) when the record is shorter than the plan.
pub fn write_json_object(plan: &Plan, rec: &[u8], out: &mut String) -> bool {
    if rec.len() < plan.size {
        return false;
    }
    out.push('{');
    for (i, f) in plan.fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(out, &f.name);
        out.push(':');
        write_field_json(f, rec, out);
    }
    out.push('}');
    true
}

/// Formats nanoseconds the way Go's `time.Duration` prints (bumblebee's
/// format): `0s`, `850ns`, `1.5µs`, `12.3ms`, `359h58m30.242761006s`.
pub fn write_duration(out: &mut String, ns: u64) {
    const US: u64 = 1_000;
    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;
    let frac = |out: &mut String, whole: u64, rem: u64, digits: usize| {
        push_u64(out, whole);
        if rem > 0 {
            // `rem` zero-padded to `digits`, trailing zeros dropped
            let mut buf = itoa::Buffer::new();
            let r = buf.format(rem);
            out.push('.');
            for _ in r.len()..digits {
                out.push('0');
            }
            out.push_str(r.trim_end_matches('0'));
        }
    };
    if ns == 0 {
        out.push_str("0s");
    } else if ns < US {
        push_u64(out, ns);
        out.push_str("ns");
    } else if ns < MS {
        frac(out, ns / US, ns % US, 3);
        out.push_str("µs");
    } else if ns < S {
        frac(out, ns / MS, ns % MS, 6);
        out.push_str("ms");
    } else {
        let h = ns / (3600 * S);
        let m = ns / (60 * S) % 60;
        if h > 0 {
            push_u64(out, h);
            out.push('h');
        }
        if h > 0 || m > 0 {
            push_u64(out, m);
            out.push('m');
        }
        let s = ns % (60 * S);
        frac(out, s / S, s % S, 9);
        out.push('s');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dur(ns: u64) -> String {
        let mut s = String::new();
        write_duration(&mut s, ns);
        s
    }

    /// Every pattern of zero and non-zero groups (256), with group values
    /// of every digit count, the IPv4-mapped form and a pseudo-random sweep:
    /// exactly `Ipv6Addr`'s `Display`.
    #[test]
    fn ipv6_text_is_std_display() {
        let check = |a: [u8; 16]| {
            let mut s = String::new();
            write_ipv6(&mut s, a);
            assert_eq!(s, Ipv6Addr::from(a).to_string(), "{a:?}");
        };
        for vals in [[0x1u16, 0xab, 0xfff, 0xffff], [0x10, 0x100, 0x1000, 0xabcd]] {
            for mask in 0u32..256 {
                let mut a = [0u8; 16];
                for i in 0..8 {
                    if mask & (1 << i) != 0 {
                        a[2 * i..2 * i + 2].copy_from_slice(&vals[i % 4].to_be_bytes());
                    }
                }
                check(a);
            }
        }
        check(Ipv6Addr::from([0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001]).octets());
        check(Ipv6Addr::from([0, 0, 0, 0, 0, 0, 0x0a00, 0x0001]).octets());
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..10_000 {
            let mut a = [0u8; 16];
            for b in a.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // mostly zero bytes, so zero groups and runs are common
                *b = if x % 3 == 0 { x as u8 } else { 0 };
            }
            check(a);
        }
    }

    #[test]
    fn durations_print_like_go() {
        assert_eq!(dur(0), "0s");
        assert_eq!(dur(999), "999ns");
        assert_eq!(dur(1_500), "1.5µs");
        assert_eq!(dur(12_300_000), "12.3ms");
        assert_eq!(dur(1_000_000_000), "1s");
        assert_eq!(dur(61_500_000_000), "1m1.5s");
        assert_eq!(dur(1_295_910_242_761_006), "359h58m30.242761006s");
        assert_eq!(dur(3_600_000_000_000), "1h0m0s");
    }

    #[test]
    fn json_strings_are_escaped() {
        let mut s = String::new();
        write_json_str(&mut s, "a\"b\\c\n\u{1}");
        assert_eq!(s, r#""a\"b\\c\n\u0001""#);
    }

    #[test]
    fn integers() {
        for v in [0u64, 7, 10, 99, 12345, u64::MAX] {
            let mut s = String::new();
            push_u64(&mut s, v);
            assert_eq!(s, v.to_string());
        }
        for v in [0i64, -1, -10, i64::MIN, i64::MAX] {
            let mut s = String::new();
            push_i64(&mut s, v);
            assert_eq!(s, v.to_string());
        }
    }

    #[test]
    fn sign_extension() {
        assert_eq!(sint(&[0xff]), -1);
        assert_eq!(sint(&[0xfe, 0xff]), -2);
        assert_eq!(sint(&[0, 0, 0, 0x80]), i32::MIN as i64);
        assert_eq!(sint(&0x8000_0000_0000_0000u64.to_le_bytes()), i64::MIN);
    }
}
