//! Which entries of a walked map changed since the previous walk: what a
//! print map shows (beed's journal and stdout, `bee run`). Per-CPU values
//! are summed first (integer fields over every CPU), so one entry is one
//! value whatever the map type.

use std::collections::HashMap;

use bee_object::percpu;
use bee_object::schema::Plan;

/// The entries seen at the previous complete walk of one map.
#[derive(Debug)]
pub struct Changes {
    value: Plan,
    /// Per-CPU maps: bytes per CPU slot of a walked value.
    slot: Option<usize>,
    summed: Vec<u8>,
    /// Value and walk generation of every key seen.
    prev: HashMap<Vec<u8>, (Vec<u8>, u64)>,
    generation: u64,
    /// Entries that changed in the current walk, remembered when it completes.
    changed: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Changes {
    /// For a map whose values decode with `value` (`percpu_slot` as in
    /// `MapInfo`).
    pub fn new(value: &Plan, percpu_slot: Option<usize>) -> Self {
        Changes {
            value: value.clone(),
            slot: percpu_slot,
            summed: vec![0; value.size],
            prev: HashMap::new(),
            generation: 0,
            changed: Vec::new(),
        }
    }

    /// One walk: `read` reads the map, calling the closure it is given with
    /// every entry (e.g. `|f| entries.read(f)`); `each` gets every entry,
    /// per-CPU values summed, and whether it is new or changed. Returns the
    /// entry count, `None` if the walk failed part way (then nothing is
    /// remembered, and the next walk reports the same changes).
    pub fn walk(
        &mut self,
        read: impl FnOnce(&mut dyn FnMut(&[u8], &[u8])) -> Option<usize>,
        mut each: impl FnMut(&[u8], &[u8], bool),
    ) -> Option<usize> {
        self.changed.clear();
        self.generation += 1;
        let g = self.generation;
        let Changes { value, slot, summed, prev, changed, .. } = self;
        let total = read(&mut |k, v| {
            let v = match *slot {
                Some(n) => {
                    percpu::sum(value, v, n, summed);
                    summed.as_slice()
                }
                None => v,
            };
            let is_changed = match prev.get_mut(k) {
                Some((old, seen)) => {
                    *seen = g;
                    old.as_slice() != v
                }
                None => true,
            };
            if is_changed {
                changed.push((k.to_vec(), v.to_vec()));
            }
            each(k, v, is_changed);
        })?;
        for (k, v) in self.changed.drain(..) {
            self.prev.insert(k, (v, g));
        }
        if self.prev.len() > total {
            // entries were deleted: forget them so a re-created key shows again
            self.prev.retain(|_, (_, seen)| *seen == g);
        }
        Some(total)
    }
}
