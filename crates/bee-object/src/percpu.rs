//! Values of per-CPU maps: one slot per possible CPU, each rounded up to 8
//! bytes, as the kernel returns them from a lookup.

use crate::decode;
use crate::schema::{Field, FieldKind, Plan};

/// Bytes per CPU slot of a per-CPU map whose value is `value_size` bytes.
pub fn slot_size(value_size: u32) -> usize {
    (value_size as usize).div_ceil(8) * 8
}

/// A numeric field as a number: summed over every CPU slot when `slot` is
/// given, else read from the single value.
pub fn numeric(field: &Field, value: &[u8], slot: Option<usize>) -> Option<f64> {
    match slot {
        None => decode::read(field, value)?.as_f64(),
        Some(n) if n > 0 => value.chunks_exact(n).map(|c| decode::read(field, c).and_then(|v| v.as_f64())).sum(),
        Some(_) => None,
    }
}

/// Sums the integer fields of every CPU's slot into `out`; other fields are
/// taken from the first CPU.
pub fn sum(plan: &Plan, value: &[u8], slot: usize, out: &mut [u8]) {
    let n = plan.size.min(out.len()).min(slot).min(value.len());
    out.fill(0);
    out[..n].copy_from_slice(&value[..n]);
    if slot == 0 {
        return;
    }
    for f in &plan.fields {
        let w = f.kind.width();
        let summable = matches!(f.kind, FieldKind::Unsigned(_) | FieldKind::Signed(_) | FieldKind::Duration);
        if !summable || w > 8 || f.offset + w > n {
            continue;
        }
        let mut acc = 0u64;
        for cpu in value.chunks_exact(slot) {
            let mut b = [0u8; 8];
            b[..w].copy_from_slice(&cpu[f.offset..f.offset + w]);
            acc = acc.wrapping_add(u64::from_le_bytes(b));
        }
        out[f.offset..f.offset + w].copy_from_slice(&acc.to_le_bytes()[..w]);
    }
}
