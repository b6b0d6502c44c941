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

/// The 8 bytes of `b` at `at`.
#[inline]
fn word(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

impl Hasher for FastHasher {
    /// A word at a time; the last word of a key of 8 bytes or more is
    /// its last 8 bytes (overlapping the word before when the length is
    /// not a multiple of 8), so that only a key shorter than a word needs
    /// a copy. The length (its low byte) is mixed into the last word:
    /// keys that overlap differently, or a zero key and a longer one, do
    /// not hash alike for that.
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        if n >= 8 {
            let mut at = 0;
            while at + 8 < n {
                self.add(word(bytes, at));
                at += 8;
            }
            self.add(word(bytes, n - 8) ^ ((n as u64) << 56));
        } else if n > 0 {
            let mut a = [0u8; 8];
            a[..n].copy_from_slice(bytes);
            self.add(u64::from_le_bytes(a) ^ ((n as u64) << 56));
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

    /// Keys of every width spread (the last word overlaps the one before
    /// it unless the width is a multiple of 8), and zero keys of different
    /// widths hash apart.
    #[test]
    fn every_width_spreads() {
        let hash = |key: &[u8]| {
            let mut h = FastHasher::default();
            h.write(key);
            h.finish()
        };
        for w in 1..=48usize {
            let buckets: HashSet<u64> = (0..4_000u32)
                .map(|i| {
                    let mut key = vec![0u8; w];
                    let b = i.to_le_bytes();
                    let at = w.saturating_sub(4); // the counting bytes last
                    let n = (w - at).min(4);
                    key[at..at + n].copy_from_slice(&b[..n]);
                    (hash(&key) >> 32) & 0x3fff // the bits a table of 16384 indexes by
                })
                .collect();
            let keys = 4_000.min(256usize.pow(w.min(4) as u32));
            assert!(buckets.len() >= keys * 5 / 8, "width {w}: {keys} keys in {} of 16384 buckets", buckets.len());
        }
        let zeros: HashSet<u64> = (0..=48).map(|w| hash(&vec![0u8; w])).collect();
        assert_eq!(zeros.len(), 49);
    }
}
