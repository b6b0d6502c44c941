//! `inet_ip`: an address held in a plain integer or byte array, in the byte
//! order the kernel stores it (network order in memory): a 4-byte integer
//! → `10.0.0.1`, a 16-byte array (`u8[16]`, `u32[4]`) → `fe80::1`.

use bee_object::decode::{Render, Value};
use bee_object::schema::FieldKind;

use crate::value::describe;

/// The `inet_ip` decoder.
#[derive(Debug)]
pub struct InetIp;

impl InetIp {
    /// Whether a field of `kind` can hold an address.
    pub fn check(kind: &FieldKind) -> Result<(), String> {
        match kind {
            FieldKind::Unsigned(4) | FieldKind::Signed(4) | FieldKind::Ipv4 | FieldKind::Ipv6 => Ok(()),
            FieldKind::IntArray { .. } if matches!(kind.width(), 4 | 16) => Ok(()),
            other => Err(format!(
                "decoder `inet_ip` needs a 4-byte integer or a 4- or 16-byte array, not {}",
                describe(other)
            )),
        }
    }
}

impl Render for InetIp {
    fn text(&self, v: Value<'_>, out: &mut String) {
        // the addresses as the plain ipv4/ipv6 kinds write them
        let addr = match v {
            // read little-endian: the bytes in memory are the address
            Value::U(n) => Value::Ipv4((n as u32).to_le_bytes()),
            Value::I(n) => Value::Ipv4((n as u32).to_le_bytes()),
            Value::Array { bytes, .. } => match (<[u8; 4]>::try_from(bytes), <[u8; 16]>::try_from(bytes)) {
                (Ok(a), _) => Value::Ipv4(a),
                (_, Ok(a)) => Value::Ipv6(a),
                _ => v,
            },
            other => other,
        };
        addr.write_text(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_memory_order() {
        let v6 = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        for (v, want) in [
            // 10.0.0.1 as the kernel stores it (__be32), read as a little-endian u32
            (Value::U(u64::from(u32::from_le_bytes([10, 0, 0, 1]))), "10.0.0.1"),
            (Value::I(i64::from(i32::from_le_bytes([192, 168, 1, 255]))), "192.168.1.255"),
            (Value::Array { bytes: &[127, 0, 0, 1], elem: 1, signed: false }, "127.0.0.1"),
            (Value::Array { bytes: &v6, elem: 4, signed: false }, "fe80::1"),
            (Value::Ipv4([1, 2, 3, 4]), "1.2.3.4"),
        ] {
            let mut s = String::new();
            InetIp.text(v, &mut s);
            assert_eq!(s, want, "{v:?}");
        }
        assert!(InetIp::check(&FieldKind::Unsigned(4)).is_ok());
        assert!(InetIp::check(&FieldKind::IntArray { elem: 1, signed: false, len: 16 }).is_ok());
        assert_eq!(
            InetIp::check(&FieldKind::Unsigned(2)),
            Err("decoder `inet_ip` needs a 4-byte integer or a 4- or 16-byte array, not a 2-byte unsigned integer"
                .into())
        );
    }
}
