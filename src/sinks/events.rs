//! Event output: one JSON line per record on stdout (bumblebee's shape plus
//! the probe), or one native journal entry per record.

use std::io;
use std::time::Instant;

use prometheus::{IntCounter, IntCounterVec};

use crate::config::EventOutput;
use crate::sinks::journal::{self, Journal};
use crate::sinks::queue::LineQueue;
use crate::sinks::token_bucket::TokenBucket;
use bee_decoders::{Stamper, Timestamp};
use bee_object::decode;
use bee_object::json_plan::JsonPlan;
use bee_object::schema::Plan;

enum Target {
    Stdout(LineQueue),
    Journal(Journal),
    Discard,
}

/// The event writer shared by every print map on the engine thread.
pub struct Events {
    target: Target,
    /// The configured output (for reloads).
    kind: EventOutput,
    line: String,
    errors: IntCounter,
    /// Events refused because the output could not keep up.
    dropped: IntCounterVec,
    /// `dropped{output="journal"}`, looked up at the first drop.
    journal_dropped: Option<IntCounter>,
    /// Whether a failure of the current output was logged already.
    warned: bool,
    /// Journal entries per second per probe; 0 = unlimited.
    rate: u32,
    buckets: Vec<Bucket>,
    suppressed: IntCounterVec,
    /// The `"time"` of JSON lines (journal entries carry journald's own).
    timestamp: Stamper,
}

/// Token bucket of one probe: `rate` entries per second, bursts up to one
/// second's worth.
struct Bucket {
    probe: String,
    limit: TokenBucket,
    /// Created when first needed, so a forgotten probe leaves no series.
    suppressed: Option<IntCounter>,
}

fn target(kind: EventOutput, errors: &IntCounter, dropped: &IntCounterVec) -> io::Result<Target> {
    let journal = match kind {
        EventOutput::Journal => true,
        EventOutput::Auto => crate::logging::stderr_is_journal(),
        _ => false,
    };
    Ok(if journal {
        Target::Journal(Journal::connect(&journal::socket_path())?)
    } else if kind == EventOutput::None {
        Target::Discard
    } else {
        Target::Stdout(LineQueue::stdout(dropped.with_label_values(&["stdout"]), errors.clone())?)
    })
}

/// Per-map constants of a print map, computed once.
pub struct PrintMap {
    pub probe: String,
    pub map: String,
    /// `{"probe":"…","mapName":"…","entry":`
    prefix: String,
    journal_names: Vec<String>,
    /// The JSON object of a record, prepared once.
    json: JsonPlan,
    bucket: usize,
}

impl PrintMap {
    /// Prepares the rendering of records of `map` decoded with `plan`.
    pub fn new(events: &mut Events, probe: &str, map: &str, plan: &Plan) -> Self {
        let prefix = decode::json_line_prefix(probe, map);
        PrintMap {
            probe: probe.to_string(),
            map: map.to_string(),
            prefix,
            journal_names: plan.fields.iter().map(|f| journal::field_name(&f.name)).collect(),
            json: JsonPlan::new(plan),
            bucket: events.bucket(probe),
        }
    }
}

impl Events {
    /// Opens the configured output; `Auto` picks journald when stderr is
    /// connected to it.
    pub fn open(
        kind: EventOutput,
        rate: u32,
        errors: IntCounter,
        dropped: IntCounterVec,
        suppressed: IntCounterVec,
    ) -> io::Result<Self> {
        Ok(Events {
            target: target(kind, &errors, &dropped)?,
            kind,
            line: String::with_capacity(512),
            errors,
            dropped,
            journal_dropped: None,
            warned: false,
            rate,
            buckets: Vec::new(),
            suppressed,
            timestamp: Stamper::new(Timestamp::default()),
        })
    }

    /// Sets the timestamp of JSON lines (`[events] timestamp`).
    pub fn set_timestamp(&mut self, t: Timestamp) {
        if self.timestamp.kind() != t {
            self.timestamp = Stamper::new(t);
        }
    }

    /// Applies a reloaded `[events]` section; the output is reopened only
    /// when it changed.
    pub fn reconfigure(&mut self, kind: EventOutput, rate: u32) -> io::Result<()> {
        if kind != self.kind {
            self.flush();
            self.target = target(kind, &self.errors, &self.dropped)?;
            self.kind = kind;
            self.warned = false;
        }
        if rate != self.rate {
            self.rate = rate;
            let r = f64::from(rate);
            for b in &mut self.buckets {
                b.limit.set_limit(r, r);
            }
        }
        Ok(())
    }

    /// A full journal budget: `rate` entries a second, bursts of one second's worth.
    fn limit(&self, now: Instant) -> TokenBucket {
        let r = f64::from(self.rate);
        TokenBucket::new(r, r, now)
    }

    fn bucket(&mut self, probe: &str) -> usize {
        if let Some(i) = self.buckets.iter().position(|b| b.probe == probe) {
            return i;
        }
        let fresh = Bucket { probe: probe.to_string(), limit: self.limit(Instant::now()), suppressed: None };
        // the slot of a probe that is gone (no print map refers to it any more)
        if let Some((i, slot)) = self.buckets.iter_mut().enumerate().find(|(_, b)| b.probe.is_empty()) {
            *slot = fresh;
            return i;
        }
        self.buckets.push(fresh);
        self.buckets.len() - 1
    }

    /// Takes a token from the probe's journal budget; false (and counted) when exhausted.
    fn admit(&mut self, bucket: usize) -> bool {
        if self.rate == 0 || !matches!(self.target, Target::Journal(_)) {
            return true;
        }
        let Some(b) = self.buckets.get_mut(bucket) else { return true };
        if b.limit.take(Instant::now()) {
            true
        } else {
            b.suppressed.get_or_insert_with(|| self.suppressed.with_label_values(&[b.probe.as_str()])).inc();
            false
        }
    }

    /// Forgets the counters of a probe that is gone (its series were removed).
    /// Its slot is reused by the next new probe, so renaming probes does not
    /// grow the list.
    pub fn forget(&mut self, probe: &str) {
        for b in self.buckets.iter_mut().filter(|b| b.probe == probe) {
            b.suppressed = None;
            b.probe.clear();
        }
    }

    /// Name of the output, for logs.
    pub fn describe(&self) -> &'static str {
        match self.target {
            Target::Stdout(_) => "stdout (JSON lines)",
            Target::Journal(_) => "journald",
            Target::Discard => "none",
        }
    }

    /// Writes one ring buffer record; false if it does not match the plan.
    pub fn record(&mut self, pm: &PrintMap, plan: &Plan, rec: &[u8]) -> bool {
        if rec.len() < plan.size {
            return false;
        }
        if !self.admit(pm.bucket) {
            return true;
        }
        let res = match &mut self.target {
            Target::Discard => Ok(()),
            Target::Journal(j) => j.send_record(&pm.probe, &pm.map, &pm.journal_names, plan, rec),
            Target::Stdout(w) => {
                // straight into the output chunk: the record was checked
                // against the plan above, so the line is always whole
                let line = w.line_buf();
                line.push_str(&pm.prefix);
                self.timestamp.write_member(line);
                line.push_str("\"entry\":");
                pm.json.write(rec, line);
                line.push_str("}\n");
                w.end_line();
                Ok(())
            }
        };
        if let Err(e) = res {
            self.failed(&e);
        }
        true
    }

    /// Counts an event the output refused; the first failure is logged with
    /// its cause. A journal that cannot take more right now (its socket
    /// buffer is full) drops the event rather than stalling the engine.
    fn failed(&mut self, e: &io::Error) {
        if e.kind() == io::ErrorKind::WouldBlock {
            self.journal_dropped.get_or_insert_with(|| self.dropped.with_label_values(&["journal"])).inc();
            return;
        }
        self.errors.inc();
        if !self.warned {
            self.warned = true;
            tracing::error!(
                "writing events to {} failed ({e}); failed events are counted in beed_output_errors_total",
                self.describe()
            );
        }
    }

    /// Writes the changed entries of a hash map walk as one record.
    pub fn entries<'a>(
        &mut self,
        pm: &PrintMap,
        key: &Plan,
        value: &Plan,
        changed: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    ) {
        if matches!(self.target, Target::Discard) || !self.admit(pm.bucket) {
            return;
        }
        self.line.clear();
        self.line.push_str(&pm.prefix);
        if let Target::Stdout(_) = self.target {
            self.timestamp.write_member(&mut self.line);
        }
        decode::write_json_entries(key, value, changed, &mut self.line);
        let res = match &mut self.target {
            Target::Discard => Ok(()),
            Target::Journal(j) => j.send_message(&pm.probe, &pm.map, &self.line),
            Target::Stdout(w) => {
                self.line.push('\n');
                w.push(&self.line);
                Ok(())
            }
        };
        if let Err(e) = res {
            self.failed(&e);
        }
        if self.line.capacity() > 1 << 20 {
            // a walk of a big map: do not keep its line's memory
            self.line = String::with_capacity(512);
        }
    }

    /// Pushes buffered lines out (end of each poll batch).
    pub fn flush(&mut self) {
        if let Target::Stdout(w) = &mut self.target {
            w.flush();
        }
    }
}
