//! A small, fast, non-cryptographic hasher for the hot-path caches (label
//! sets keyed by a few raw bytes). The keys come from the kernel side of a
//! probe the operator configured, not from the network, so HashDoS
//! resistance is not needed there; SipHash cost a third of the counter path.

use std::hash::{BuildHasherDefault, Hasher};

/// FxHash-style word-at-a-time hasher.
#[derive(Default, Clone, Copy)]
pub struct FastHasher(u64);

const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FastHasher {
    #[inline]
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(K);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, mut bytes: &[u8]) {
        while bytes.len() >= 8 {
            let (w, rest) = bytes.split_at(8);
            let mut a = [0u8; 8];
            a.copy_from_slice(w);
            self.add(u64::from_le_bytes(a));
            bytes = rest;
        }
        if !bytes.is_empty() {
            let mut a = [0u8; 8];
            a[..bytes.len()].copy_from_slice(bytes);
            self.add(u64::from_le_bytes(a) ^ ((bytes.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    /// The word hash folded through one wide multiply: a multiply carries
    /// the high bytes of the last word only into the high bits, and hash
    /// tables index by the low ones (keys differing only there would share
    /// one bucket).
    #[inline]
    fn finish(&self) -> u64 {
        let m = u128::from(self.0).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (m as u64) ^ ((m >> 64) as u64)
    }
}

/// `HashMap` with [`FastHasher`].
pub type FastMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FastHasher>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Keys that differ only in the high bytes of their last word spread
    /// over the low bits (what a hash table indexes by): without the final
    /// fold, the last multiply carries those bytes into the high bits only.
    #[test]
    fn high_bytes_reach_the_low_bits() {
        let buckets: HashSet<u64> = (0..10_000u32)
            .map(|i| {
                let mut h = FastHasher::default();
                let mut key = [0u8; 40];
                key[36..40].copy_from_slice(&(i << 16).to_le_bytes());
                h.write(&key);
                h.finish() & 0x3fff
            })
            .collect();
        assert!(buckets.len() > 5_000, "only {} of 16384 buckets used", buckets.len());
    }
}
