//! Label keys of a walked map's series, by slot number: the keys stored
//! flat (one run of bytes when every key has the same width, as raw label
//! bytes do) and a hash table of slot numbers over them, so a series costs
//! its key bytes and a few bytes of table, not a heap allocation.

use std::hash::Hasher;

use hashbrown::HashTable;

use crate::fasthash::FastHasher;

/// Slot numbers by label key.
pub struct KeyIndex {
    /// `Some(w)`: the key of slot `i` is `flat[i * w..(i + 1) * w]`.
    width: Option<usize>,
    flat: Vec<u8>,
    /// Keys of varying width (labels rendered by decoders).
    boxed: Vec<Box<[u8]>>,
    table: HashTable<u32>,
}

/// The hash of a key.
#[inline]
pub fn hash(key: &[u8]) -> u64 {
    let mut h = FastHasher::default();
    h.write(key);
    h.finish()
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
        KeyIndex { width, flat: Vec::new(), boxed: Vec::new(), table: HashTable::new() }
    }

    /// The key of `slot` (empty for a slot never set).
    #[inline]
    pub fn key(&self, slot: u32) -> &[u8] {
        key_at(self.width, &self.flat, &self.boxed, slot)
    }

    /// The slot of `key`.
    #[inline]
    pub fn find(&self, key: &[u8]) -> Option<u32> {
        self.table.find(hash(key), |&s| crate::labels::same_key(self.key(s), key)).copied()
    }

    /// Gives `key` slot `slot`: a slot number up to the highest set so far
    /// plus one (freed slots are reused). The key must not be indexed yet.
    pub fn insert(&mut self, slot: u32, key: &[u8]) {
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
        let (width, flat, boxed) = (self.width, &self.flat, &self.boxed);
        self.table.insert_unique(hash(key), slot, |&s| hash(key_at(width, flat, boxed, s)));
    }

    /// Removes `slot`'s key (its slot number may then be given to another).
    pub fn remove(&mut self, slot: u32) {
        let h = hash(self.key(slot));
        if let Ok(e) = self.table.find_entry(h, |&s| s == slot) {
            e.remove();
        }
        if let Some(b) = self.boxed.get_mut(slot as usize) {
            *b = Box::default();
        }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Bytes held (for the memory per series the benchmark reports).
    pub fn heap_bytes(&self) -> usize {
        self.flat.capacity()
            + self.boxed.capacity() * std::mem::size_of::<Box<[u8]>>()
            + self.boxed.iter().map(|b| b.len()).sum::<usize>()
            + self.table.capacity() * (std::mem::size_of::<u32>() + 1)
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
}
