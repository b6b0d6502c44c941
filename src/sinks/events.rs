//! Event output: one JSON line per record on stdout (bumblebee's shape plus
//! the probe), or one native journal entry per record.

use std::io::{self, BufWriter, Write};

use prometheus::IntCounter;

use crate::config::EventOutput;
use crate::decode;
use crate::schema::Plan;
use crate::sinks::journal::{self, Journal};

enum Target {
    Stdout(BufWriter<io::Stdout>),
    Journal(Journal),
    Discard,
}

/// The event writer shared by every print map on the engine thread.
pub struct Events {
    target: Target,
    line: String,
    errors: IntCounter,
}

/// Per-map constants of a print map, computed once.
pub struct PrintMap {
    pub probe: String,
    pub map: String,
    /// `{"probe":"…","mapName":"…","entry":`
    prefix: String,
    journal_names: Vec<String>,
}

impl PrintMap {
    /// Prepares the rendering of records of `map` decoded with `plan`.
    pub fn new(probe: &str, map: &str, plan: &Plan) -> Self {
        let mut prefix = String::from("{\"probe\":");
        decode::write_json_str(&mut prefix, probe);
        prefix.push_str(",\"mapName\":");
        decode::write_json_str(&mut prefix, map);
        prefix.push(',');
        PrintMap {
            probe: probe.to_string(),
            map: map.to_string(),
            prefix,
            journal_names: plan.fields.iter().map(|f| journal::field_name(&f.name)).collect(),
        }
    }
}

impl Events {
    /// Opens the configured output; `Auto` picks journald when stderr is
    /// connected to it.
    pub fn open(kind: EventOutput, errors: IntCounter) -> io::Result<Self> {
        let journal = match kind {
            EventOutput::Journal => true,
            EventOutput::Auto => crate::logging::stderr_is_journal(),
            _ => false,
        };
        let target = if journal {
            Target::Journal(Journal::connect(std::path::Path::new(journal::SOCKET))?)
        } else if kind == EventOutput::None {
            Target::Discard
        } else {
            Target::Stdout(BufWriter::with_capacity(1 << 16, io::stdout()))
        };
        Ok(Events { target, line: String::with_capacity(512), errors })
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
        let res = match &mut self.target {
            Target::Discard => Ok(()),
            Target::Journal(j) => j.send_record(&pm.probe, &pm.map, &pm.journal_names, plan, rec),
            Target::Stdout(w) => {
                self.line.clear();
                self.line.push_str(&pm.prefix);
                self.line.push_str("\"entry\":");
                decode::write_json_object(plan, rec, &mut self.line);
                self.line.push_str("}\n");
                w.write_all(self.line.as_bytes())
            }
        };
        if res.is_err() {
            self.errors.inc();
        }
        true
    }

    /// Writes the changed entries of a hash map walk as one record.
    pub fn entries<'a>(
        &mut self,
        pm: &PrintMap,
        key: &Plan,
        value: &Plan,
        changed: impl Iterator<Item = (&'a [u8], &'a [u8])>,
    ) {
        if matches!(self.target, Target::Discard) {
            return;
        }
        self.line.clear();
        self.line.push_str(&pm.prefix);
        self.line.push_str("\"entries\":[");
        for (i, (k, v)) in changed.enumerate() {
            if i > 0 {
                self.line.push(',');
            }
            self.line.push_str("{\"key\":");
            write_plan(key, k, &mut self.line);
            self.line.push_str(",\"value\":");
            write_plan(value, v, &mut self.line);
            self.line.push('}');
        }
        self.line.push_str("]}");
        let res = match &mut self.target {
            Target::Discard => Ok(()),
            Target::Journal(j) => j.send_message(&pm.probe, &pm.map, &self.line),
            Target::Stdout(w) => w.write_all(self.line.as_bytes()).and_then(|_| w.write_all(b"\n")),
        };
        if res.is_err() {
            self.errors.inc();
        }
    }

    /// Pushes buffered lines out (end of each poll batch).
    pub fn flush(&mut self) {
        if let Target::Stdout(w) = &mut self.target {
            if w.flush().is_err() {
                self.errors.inc();
            }
        }
    }
}

/// A scalar plan (`u64 value`) renders as a bare JSON value, a struct as an object.
fn write_plan(plan: &Plan, rec: &[u8], out: &mut String) {
    match plan.fields.as_slice() {
        [f] if f.offset == 0 && f.kind.width() == plan.size && (f.name == "key" || f.name == "value") => {
            match decode::read(f, rec) {
                Some(v) => v.write_json(out),
                None => out.push_str("null"),
            }
        }
        _ => {
            if !decode::write_json_object(plan, rec, out) {
                out.push_str("null");
            }
        }
    }
}
