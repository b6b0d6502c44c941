//! Ring buffer counters: +1 per event, the event's fields as labels.
//! Label sets are cached by their raw bytes, so a known label set costs one
//! hash lookup and an atomic add.

use std::collections::HashMap;

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

use crate::error::{Error, Result};
use crate::schema::{Field, Plan};
use crate::sinks::labels;

/// The counter of one ringbuf map.
pub struct RingCounter {
    vec: IntCounterVec,
    registry: Registry,
    fields: Vec<Field>,
    size: usize,
    cache: HashMap<Vec<u8>, IntCounter>,
    scratch: Vec<u8>,
    max_series: usize,
    dropped: IntCounter,
    decode_errors: IntCounter,
}

impl RingCounter {
    /// Registers `name` in `registry`, labelled by every labelable field of `plan`.
    pub fn new(
        registry: &Registry,
        name: &str,
        help: &str,
        plan: &Plan,
        max_series: usize,
        dropped: IntCounter,
        decode_errors: IntCounter,
    ) -> Result<Self> {
        let fields = labels::label_fields(plan);
        let names: Vec<String> = fields.iter().map(|f| labels::label_name(&f.name)).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let merr = |e: prometheus::Error| Error::Metric { name: name.to_string(), reason: e.to_string() };
        let vec = IntCounterVec::new(Opts::new(name, help), &names).map_err(merr)?;
        registry.register(Box::new(vec.clone())).map_err(merr)?;
        Ok(RingCounter {
            vec,
            registry: registry.clone(),
            fields,
            size: plan.size,
            cache: HashMap::new(),
            scratch: Vec::new(),
            max_series,
            dropped,
            decode_errors,
        })
    }

    /// Counts one event.
    pub fn on_event(&mut self, rec: &[u8]) {
        if rec.len() < self.size || !labels::label_key(&self.fields, rec, &mut self.scratch) {
            self.decode_errors.inc();
            return;
        }
        if let Some(c) = self.cache.get(self.scratch.as_slice()) {
            c.inc();
            return;
        }
        if self.cache.len() >= self.max_series {
            self.dropped.inc();
            return;
        }
        let values = labels::label_values(&self.fields, rec);
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        match self.vec.get_metric_with_label_values(&values) {
            Ok(c) => {
                c.inc();
                self.cache.insert(self.scratch.clone(), c);
            }
            Err(_) => self.decode_errors.inc(),
        }
    }
}

impl Drop for RingCounter {
    fn drop(&mut self) {
        let _ = self.registry.unregister(Box::new(self.vec.clone()));
    }
}
