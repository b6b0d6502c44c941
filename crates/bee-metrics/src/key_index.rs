//! Label keys of a map's series, by slot number: the keys stored flat (one
//! run of bytes when every key has the same width, as raw label bytes do)
//! and an open-addressing table of slot numbers over them, so a series
//! costs its key bytes and a few bytes of table, not a heap allocation.
//!
//! The table is one `u64` per bucket, the hash's high half beside the slot
//! number, probed linearly: a lookup usually touches one cache line of the
//! table, whose address is known from the hash alone, so a caller with
//! many keys to look up can [`KeyIndex::prefetch`] them all first.

use std::hash::Hasher;

use bee_runtime::prefetch::prefetch;

use crate::fasthash::FastHasher;

/// An empty bucket (slot `u32::MAX` is never given).
const EMPTY: u64 = u64::MAX;

/// Slot numbers by label key.
pub struct KeyIndex {
    /// `Some(w)`: the key of slot `i` is `flat[i * w..(i + 1) * w]`.
    width: Option<usize>,
    flat: Vec<u8>,
    /// Keys of varying width (labels rendered by decoders).
    boxed: Vec<Box<[u8]>>,
    /// `tag << 32 | slot`, or [`EMPTY`]; the length is a power of two (or 0).
    table: Vec<u64>,
    len: usize,
}

/// The hash of a key.
#[inline]
pub fn hash(key: &[u8]) -> u64 {
    let mut h = FastHasher::default();
    h.write(key);
    h.finish()
}

/// The high half of a hash: kept in the bucket, and its low bits pick the
/// first bucket to probe.
#[inline]
fn tag(h: u64) -> u32 {
    (h >> 32) as u32
}

#[inline]
fn key_at<'a>(width: Option<usize>, flat: &'a [u8], boxed: &'a [Box<[u8]>], slot: u32) -> &'a [u8] {
    let i = slot as usize;
    match width {
        Some(w) => flat.get(i * w..(i + 1) * w).unwrap_or_default(),
        None => boxed.get(i).map(|b| &b[..]).unwrap_or_default(),
    }
}

impl KeyIndex {
    /// An empty index for keys of `width` bytes (`None`: any width).
    pub fn new(width: Option<usize>) -> Self {
        KeyIndex { width, flat: Vec::new(), boxed: Vec::new(), table: Vec::new(), len: 0 }
    }

    /// The key of `slot` (empty for a slot never set).
    #[inline]
    pub fn key(&self, slot: u32) -> &[u8] {
        key_at(self.width, &self.flat, &self.boxed, slot)
    }

    /// The slot of `key`.
    #[inline]
    pub fn find(&self, key: &[u8]) -> Option<u32> {
        self.find_hashed(hash(key), key)
    }

    /// The slot of `key`, whose [`hash`] is `h`.
    #[inline]
    pub fn find_hashed(&self, h: u64, key: &[u8]) -> Option<u32> {
        let mask = self.table.len().checked_sub(1)?;
        let t = tag(h);
        let mut i = t as usize & mask;
        loop {
            let e = *self.table.get(i)?;
            if e == EMPTY {
                return None;
            }
            if (e >> 32) as u32 == t && crate::labels::same_key(self.key(e as u32), key) {
                return Some(e as u32);
            }
            i = (i + 1) & mask;
        }
    }

    /// Starts loading the table bucket where the key of hash `h` is looked
    /// up first.
    #[inline]
    pub fn prefetch(&self, h: u64) {
        if let Some(mask) = self.table.len().checked_sub(1) {
            prefetch(self.table.as_ptr().wrapping_add(tag(h) as usize & mask));
        }
    }

    /// Gives `key` slot `slot`: a slot number up to the highest set so far
    /// plus one (freed slots are reused). The key must not be indexed yet.
    pub fn insert(&mut self, slot: u32, key: &[u8]) {
        if slot == u32::MAX {
            return; // the empty mark: never a series (max_series stops far before)
        }
        let i = slot as usize;
        match self.width {
            Some(w) if key.len() == w => {
                let end = (i + 1) * w;
                if self.flat.len() < end {
                    self.flat.resize(end, 0);
                }
                self.flat[i * w..end].copy_from_slice(key);
            }
            Some(_) => return, // a key of another width is not a key of this map
            None => {
                if self.boxed.len() <= i {
                    self.boxed.resize_with(i + 1, Box::default);
                }
                self.boxed[i] = key.into();
            }
        }
        // at most half full: a key is then in its home bucket far more
        // often, and the probe loop's branches are predicted (a lookup of
        // 10,000 label sets in turn took 2-3 ns less than at 3/4); at 100 k
        // and 1 M keys the table is the same size either way, at 10 k it
        // costs 13 more bytes per key
        if (self.len + 1) * 2 > self.table.len() {
            self.grow();
        }
        self.place(u64::from(tag(hash(key))) << 32 | u64::from(slot));
        self.len += 1;
    }

    /// Puts bucket value `e` in the first free bucket from its home.
    fn place(&mut self, e: u64) {
        let mask = self.table.len() - 1;
        let mut i = (e >> 32) as usize & mask;
        while self.table[i] != EMPTY {
            i = (i + 1) & mask;
        }
        self.table[i] = e;
    }

    fn grow(&mut self) {
        let n = (self.table.len() * 2).max(16);
        let old = std::mem::replace(&mut self.table, vec![EMPTY; n]);
        for e in old.into_iter().filter(|&e| e != EMPTY) {
            self.place(e);
        }
    }

    /// Removes `slot`'s key (its slot number may then be given to another).
    pub fn remove(&mut self, slot: u32) {
        let Some(mask) = self.table.len().checked_sub(1) else { return };
        let mut i = tag(hash(self.key(slot))) as usize & mask;
        loop {
            match self.table[i] {
                EMPTY => return,
                e if e as u32 == slot => break,
                _ => i = (i + 1) & mask,
            }
        }
        // backward shift: move later entries of the probe run into the
        // hole unless their home lies cyclically after it
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let e = self.table[j];
            if e == EMPTY {
                break;
            }
            let home = (e >> 32) as usize & mask;
            let stays = if i <= j { i < home && home <= j } else { i < home || home <= j };
            if !stays {
                self.table[i] = e;
                i = j;
            }
        }
        self.table[i] = EMPTY;
        self.len -= 1;
        if let Some(b) = self.boxed.get_mut(slot as usize) {
            *b = Box::default();
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held (for the memory per series the benchmark reports).
    pub fn heap_bytes(&self) -> usize {
        self.flat.capacity()
            + self.boxed.capacity() * std::mem::size_of::<Box<[u8]>>()
            + self.boxed.iter().map(|b| b.len()).sum::<usize>()
            + self.table.capacity() * std::mem::size_of::<u64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_and_varying_widths() {
        for width in [Some(3), None] {
            let mut ix = KeyIndex::new(width);
            for i in 0..1000u32 {
                let k = [(i >> 8) as u8, i as u8, 7];
                ix.insert(i, &k);
            }
            assert_eq!(ix.len(), 1000);
            assert_eq!(ix.find(&[1, 2, 7]), Some(258));
            assert_eq!(ix.key(258), &[1, 2, 7]);
            assert_eq!(ix.find(&[9, 9, 9]), None);
            ix.remove(258);
            assert_eq!(ix.find(&[1, 2, 7]), None);
            assert_eq!(ix.len(), 999);
            // the freed slot takes another key
            ix.insert(258, &[9, 9, 9]);
            assert_eq!(ix.find(&[9, 9, 9]), Some(258));
            assert_eq!(ix.find(&[0, 3, 7]), Some(3));
        }
        // a key of the wrong width is not indexed
        let mut ix = KeyIndex::new(Some(2));
        ix.insert(0, &[1, 2, 3]);
        assert!(ix.is_empty());
    }

    /// Inserts and removals in a pseudo-random order, checked against a
    /// `HashMap` after each step: the backward shift on removal keeps every
    /// remaining key reachable from its home bucket, through growth too.
    #[test]
    fn random_inserts_and_removals_match_a_hash_map() {
        let mut ix = KeyIndex::new(Some(4));
        let mut model = std::collections::HashMap::new();
        let mut free: Vec<u32> = Vec::new();
        let mut next = 0u32;
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for step in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // few distinct keys, so that removals hit keys that exist
            let key = ((x >> 20) as u32 % 3000).to_le_bytes();
            match model.get(&key).copied() {
                Some(slot) if x % 3 == 0 => {
                    ix.remove(slot);
                    model.remove(&key);
                    free.push(slot);
                }
                Some(_) => {}
                None => {
                    let slot = free.pop().unwrap_or_else(|| {
                        next += 1;
                        next - 1
                    });
                    ix.insert(slot, &key);
                    model.insert(key, slot);
                }
            }
            if step % 997 == 0 || step == 19_999 {
                assert_eq!(ix.len(), model.len());
                for (k, s) in &model {
                    assert_eq!(ix.find(k), Some(*s), "step {step}");
                }
            }
        }
        for k in 3000..3100u32 {
            assert_eq!(ix.find(&k.to_le_bytes()), None);
        }
    }
}
