//! `uint` / `int`: an integer field re-read with the other signedness, at
//! its own width (`-1` in an s32 as `uint` → `4294967295`; `0xffff` in a u16
//! as `int` → `-1`). Rendered as JSON numbers.

use bee_object::decode::{Render, Value};

use crate::value::{int_of, push_int, unsigned_bits};

/// Re-interprets integers `bits` wide as `signed` or unsigned.
#[derive(Debug)]
pub struct Int {
    pub bits: u32,
    pub signed: bool,
}

impl Int {
    /// The value re-read.
    pub fn convert(&self, n: i128) -> i128 {
        let u = unsigned_bits(n, self.bits);
        if self.signed && self.bits > 0 && self.bits < 128 && (u >> (self.bits - 1)) & 1 == 1 {
            (u as i128) - (1i128 << self.bits)
        } else {
            u as i128
        }
    }
}

impl Render for Int {
    fn text(&self, v: Value<'_>, out: &mut String) {
        match int_of(&v) {
            Some(n) => push_int(out, self.convert(n)),
            None => v.write_text(out),
        }
    }

    fn json(&self, v: Value<'_>, out: &mut String) {
        match int_of(&v) {
            Some(n) => push_int(out, self.convert(n)),
            None => v.write_json(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reinterpretation() {
        for (bits, signed, v, want) in [
            (32, false, Value::I(-1), "4294967295"),
            (64, false, Value::I(-1), "18446744073709551615"),
            (16, true, Value::U(0xffff), "-1"),
            (8, true, Value::U(0x80), "-128"),
            (8, true, Value::U(0x7f), "127"),
            (64, true, Value::U(u64::MAX), "-1"),
            (32, false, Value::U(7), "7"),
        ] {
            let d = Int { bits, signed };
            let mut s = String::new();
            d.text(v, &mut s);
            assert_eq!(s, want, "{bits} {signed} {v:?}");
            let mut j = String::new();
            d.json(v, &mut j);
            assert_eq!(j, want, "a JSON number");
        }
    }
}
