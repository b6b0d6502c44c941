//! Metrics mirrored from hash/array maps: after every walk the exported
//! series are exactly the map's entries (an entry the probe deleted stops
//! being exported; a recreated counter starts again, which Prometheus reads
//! as a counter reset). Rendered through [`exposition`]: each series' label
//! text is built once, when it first appears.

use std::collections::HashMap;
use std::sync::MutexGuard;

use bee_runtime::Count;
use prometheus::core::Desc;
use prometheus::{IntCounter, Registry};

use crate::error::{Error, Result};
use crate::exposition::{self, Registered, Samples, TextRegistry};
use crate::key_index::KeyIndex;
use crate::labels;
use bee_object::decode;
use bee_object::schema::{Field, Plan};

/// One series. Slots of series that left the map are reused.
#[derive(Clone, Copy)]
struct Slot {
    value: f64,
    /// The walk that last saw it; 0 for a free slot.
    generation: u64,
    /// `probe="x",saddr="…"` in `State::text`.
    text_start: u32,
    text_len: u32,
    /// Its position in the walk that last saw it.
    pos: u32,
}

/// The mutable state behind a [`MapSeries`]: updated by the walker.
///
/// A walk visits a map's entries in the same order as the walk before it
/// (the kernel's hash table order), so the entry at position `p` of a walk
/// is first compared with the series at position `p` of the previous walk:
/// a steady map costs a sequential pass over the series, with no hash
/// lookup. A miss (an entry came or went) looks the key up and resumes the
/// sequence after the series it found.
pub struct State {
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Series by the bytes of their label fields (not the whole key:
    /// padding and dropped fields must not split a label set).
    keys: KeyIndex,
    /// Every series' label text, one after another.
    text: String,
    /// Bytes of `text` that belong to removed series.
    text_waste: usize,
    /// A label value being rendered.
    value_text: String,
    /// The series of each entry of the last complete walk, in walk order.
    order: Vec<u32>,
    /// The same for the walk in progress.
    next_order: Vec<u32>,
    /// Where in `order` the next entry is expected.
    pos: usize,
    /// The lookup key of a label set (see labels::LabelKey).
    label_key: labels::LabelKey,
    probe: String,
    /// `metrics.const_labels`, after the fields' labels.
    const_labels: Vec<(String, String)>,
    generation: u64,
    fields: Vec<Field>,
    names: Vec<String>,
    key_size: usize,
    max_series: usize,
    dropped: IntCounter,
    refused: labels::Refused,
    decode_errors: Count,
}

impl State {
    /// Starts a walk.
    pub fn begin(&mut self) {
        self.generation += 1;
        self.next_order.clear();
        self.pos = 0;
        self.refused.begin();
    }

    /// Records one entry of the walk. Entries that render to the same label
    /// set (padding bytes differ, or fields were dropped) are summed.
    #[inline]
    pub fn set(&mut self, key: &[u8], value: f64) {
        if key.len() < self.key_size {
            self.decode_errors.inc();
            return;
        }
        let Some(k) = self.label_key.of(key) else {
            self.decode_errors.inc();
            return;
        };
        let next = match self.order.get(self.pos) {
            Some(&s) if labels::same_key(self.keys.key(s), k) => Some(s),
            _ => self.keys.find(k),
        };
        let s = match next {
            Some(s) => s,
            None => match self.add(key) {
                Some(s) => s,
                None => return,
            },
        };
        let Ok(pos) = u32::try_from(self.next_order.len()) else { return };
        let generation = self.generation;
        let Some(slot) = self.slots.get_mut(s as usize) else { return };
        if slot.generation == generation {
            slot.value += value;
        } else {
            slot.value = value;
            slot.generation = generation;
        }
        if slot.pos != u32::MAX {
            // the next entry is expected to be the one after it last time
            self.pos = slot.pos as usize + 1;
        }
        slot.pos = pos;
        self.next_order.push(s);
    }

    /// A new label set: its slot, unless `max_series` is reached.
    #[cold]
    fn add(&mut self, key: &[u8]) -> Option<u32> {
        if self.keys.len() >= self.max_series {
            let k = self.label_key.of(key)?;
            if self.refused.refuse(k) {
                self.dropped.inc();
            }
            return None;
        }
        let start = self.text.len();
        exposition::push_label_pair(&mut self.text, "probe", &self.probe);
        for (name, f) in self.names.iter().zip(&self.fields) {
            self.value_text.clear();
            decode::write_field_text(f, key, &mut self.value_text);
            self.text.push(',');
            exposition::push_label_pair(&mut self.text, name, &self.value_text);
        }
        for (name, v) in &self.const_labels {
            self.text.push(',');
            exposition::push_label_pair(&mut self.text, name, v);
        }
        let (Ok(text_start), Ok(text_len)) = (u32::try_from(start), u32::try_from(self.text.len() - start)) else {
            self.text.truncate(start);
            self.dropped.inc();
            return None;
        };
        let slot = Slot { value: 0.0, generation: 0, text_start, text_len, pos: u32::MAX };
        let s = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = slot;
                s
            }
            None => {
                self.slots.push(slot);
                u32::try_from(self.slots.len() - 1).ok()?
            }
        };
        let k = self.label_key.of(key)?;
        self.keys.insert(s, k);
        Some(s)
    }

    /// Ends a walk: entries not seen in it are removed.
    pub fn finish(&mut self) {
        let g = self.generation;
        for (i, slot) in self.slots.iter_mut().enumerate() {
            if slot.generation != g && slot.generation != 0 {
                slot.generation = 0;
                self.text_waste += slot.text_len as usize;
                self.keys.remove(i as u32);
                self.free.push(i as u32);
            }
        }
        if self.text_waste > self.text.len() / 2 && self.text_waste > 4096 {
            self.compact_text();
        }
        std::mem::swap(&mut self.order, &mut self.next_order);
        self.next_order.clear();
        self.refused.finish();
    }

    /// Drops the label text of removed series.
    fn compact_text(&mut self) {
        let mut text = String::with_capacity(self.text.len() - self.text_waste);
        for slot in self.slots.iter_mut().filter(|s| s.generation != 0) {
            let (a, n) = (slot.text_start as usize, slot.text_len as usize);
            let start = text.len();
            text.push_str(self.text.get(a..a + n).unwrap_or_default());
            slot.text_start = start as u32;
        }
        self.text = text;
        self.text_waste = 0;
    }

    /// Number of exported series.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no series are exported.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Bytes held for the series (the benchmark's memory per series).
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.free.capacity() * 4
            + self.keys.heap_bytes()
            + self.text.capacity()
            + (self.order.capacity() + self.next_order.capacity()) * 4
    }
}

impl Samples for State {
    fn write(&self, name: &str, out: &mut String) {
        out.reserve(self.keys.len() * (name.len() + 32));
        for s in self.slots.iter().filter(|s| s.generation != 0) {
            let (a, n) = (s.text_start as usize, s.text_len as usize);
            out.push_str(name);
            out.push('{');
            out.push_str(self.text.get(a..a + n).unwrap_or_default());
            out.push_str("} ");
            exposition::push_value(out, s.value);
            out.push('\n');
        }
    }
}

/// A counter or gauge whose series mirror a map's entries; unregistered
/// when dropped.
pub struct MapSeries {
    family: Registered<State>,
}

/// Everything needed to build a [`MapSeries`].
pub struct Spec<'a> {
    pub name: &'a str,
    pub help: &'a str,
    /// A counter (else a gauge).
    pub counter: bool,
    pub probe: &'a str,
    /// The map's key type.
    pub key: &'a Plan,
    /// The key fields that become labels (plus `probe`).
    pub label_fields: Vec<Field>,
    /// Their label names (`labels::label_name` of each, or renamed).
    pub label_names: Vec<String>,
    pub max_series: usize,
    pub dropped: IntCounter,
    pub decode_errors: Count,
}

impl MapSeries {
    /// Registers the metric.
    pub fn new(registry: &Registry, text: &TextRegistry, spec: Spec<'_>) -> Result<Self> {
        let Spec {
            name,
            help,
            counter,
            probe,
            key,
            label_fields: fields,
            label_names,
            max_series,
            dropped,
            decode_errors,
        } = spec;
        let names = label_names;
        let merr = |e: prometheus::Error| Error::Metric { name: name.to_string(), reason: e.to_string() };
        let mut const_labels: HashMap<String, String> = labels::probe_label(probe);
        const_labels.extend(text.const_labels().iter().cloned());
        let desc = Desc::new(name.to_string(), help.to_string(), names.clone(), const_labels).map_err(merr)?;
        let label_key = labels::LabelKey::new(&fields);
        let state = State {
            slots: Vec::new(),
            free: Vec::new(),
            keys: KeyIndex::new(label_key.width()),
            text: String::new(),
            text_waste: 0,
            value_text: String::new(),
            order: Vec::new(),
            next_order: Vec::new(),
            pos: 0,
            label_key,
            probe: probe.to_string(),
            const_labels: text.const_labels().to_vec(),
            generation: 0,
            fields,
            names,
            key_size: key.size,
            max_series,
            dropped,
            refused: labels::Refused::default(),
            decode_errors,
        };
        let kind = if counter { "counter" } else { "gauge" };
        Ok(MapSeries { family: Registered::new(registry, text, desc, kind, state).map_err(merr)? })
    }

    /// Locks the state for a walk.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.family.lock()
    }
}
