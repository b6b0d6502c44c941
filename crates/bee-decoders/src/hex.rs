//! `hex`: an integer in hexadecimal (`0x1f`); a negative one as the
//! two's complement of the field's width (`-1` in an s16 → `0xffff`).

use bee_object::decode::{Render, Value};

use crate::value::{int_of, unsigned_bits};

/// The `hex` decoder of a field `bits` wide.
#[derive(Debug)]
pub struct Hex {
    pub bits: u32,
}

impl Render for Hex {
    fn text(&self, v: Value<'_>, out: &mut String) {
        use std::fmt::Write as _;
        match int_of(&v) {
            Some(n) => {
                let _ = write!(out, "{:#x}", unsigned_bits(n, self.bits));
            }
            None => v.write_text(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_of_width() {
        for (bits, v, want) in [
            (32, Value::U(31), "0x1f"),
            (64, Value::U(0), "0x0"),
            (16, Value::I(-1), "0xffff"),
            (64, Value::I(-2), "0xfffffffffffffffe"),
            (64, Value::Ptr(0xffff_ffff_8100_0000), "0xffffffff81000000"),
            (8, Value::Bool(true), "0x1"),
        ] {
            let mut s = String::new();
            Hex { bits }.text(v, &mut s);
            assert_eq!(s, want, "{v:?}");
        }
    }
}
