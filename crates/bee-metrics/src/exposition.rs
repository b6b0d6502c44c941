//! Text exposition of the big families. Metrics mirrored from hash maps can
//! have 100k series; going through the prometheus crate's gather (clone every
//! label pair, sort) and encoder cost ~0.6 s per scrape at 100k series. These
//! families keep each series' label text rendered once, when the series
//! appears, and write their samples straight into the scrape body. They also
//! register an empty collector with the prometheus registry, so name, help and
//! label-name clashes are still refused at registration.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use prometheus::core::{Collector, Desc};
use prometheus::proto::{LabelPair, MetricFamily};
use prometheus::Registry;

/// A family that renders its own samples.
pub trait TextFamily: Send + Sync {
    fn name(&self) -> &str;
    fn help(&self) -> &str;
    /// `counter`, `gauge` or `histogram`.
    fn kind(&self) -> &'static str;
    /// Appends every sample line (`name{labels} value\n`).
    fn write_samples(&self, out: &mut String);
}

/// Every live [`TextFamily`]; cloned handles share one list.
#[derive(Clone, Default)]
pub struct TextRegistry {
    families: Arc<Mutex<Vec<Weak<dyn TextFamily>>>>,
    /// Labels every family's series carry (beed's `metrics.const_labels`;
    /// the prometheus registry adds them to its own families).
    const_labels: Arc<Vec<(String, String)>>,
}

impl TextRegistry {
    /// A registry whose families all carry `labels` (name, value).
    pub fn with_const_labels(labels: Vec<(String, String)>) -> Self {
        TextRegistry { families: Arc::default(), const_labels: Arc::new(labels) }
    }

    /// The labels every series of its families carries.
    pub fn const_labels(&self) -> &[(String, String)] {
        &self.const_labels
    }

    /// The names of [`Self::const_labels`].
    pub fn const_label_names(&self) -> Vec<String> {
        self.const_labels.iter().map(|(n, _)| n.clone()).collect()
    }

    /// Adds a family; it stays until the last `Arc` to it is dropped.
    pub fn register(&self, f: &Arc<dyn TextFamily>) {
        let mut v = self.families.lock().unwrap_or_else(|p| p.into_inner());
        v.retain(|w| w.strong_count() > 0);
        v.push(Arc::downgrade(f));
    }

    /// Appends every family, members of one name under one HELP/TYPE header.
    pub fn render(&self, out: &mut String) {
        let live: Vec<Arc<dyn TextFamily>> = {
            let mut v = self.families.lock().unwrap_or_else(|p| p.into_inner());
            v.retain(|w| w.strong_count() > 0);
            v.iter().filter_map(Weak::upgrade).collect()
        };
        let mut by_name: BTreeMap<&str, Vec<&Arc<dyn TextFamily>>> = BTreeMap::new();
        for f in &live {
            by_name.entry(f.name()).or_default().push(f);
        }
        for (name, members) in by_name {
            let start = out.len();
            let _ = writeln!(out, "# HELP {name} {}", escape_help(members[0].help()));
            let _ = writeln!(out, "# TYPE {name} {}", members[0].kind());
            let header = out.len();
            for m in members {
                m.write_samples(out);
            }
            if out.len() == header {
                out.truncate(start); // no samples: no family, like the prometheus encoder
            }
        }
    }
}

/// A descriptor-only collector: reserves a text family's name, help and
/// label names in the prometheus registry, so clashes with other metrics are
/// refused at registration; its samples come from the text path.
#[derive(Clone)]
pub struct Reservation(pub Desc);

impl Collector for Reservation {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.0]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        Vec::new()
    }
}

/// The state of a family: what it writes on every scrape.
pub trait Samples: Send {
    /// Appends every sample line of family `name`.
    fn write(&self, name: &str, out: &mut String);
}

/// A family's descriptor and its state, shared by the walker (which updates
/// the state) and the HTTP thread (which renders it).
pub struct Family<S> {
    desc: Desc,
    kind: &'static str,
    state: Mutex<S>,
}

impl<S: Samples + 'static> TextFamily for Family<S> {
    fn name(&self) -> &str {
        &self.desc.fq_name
    }

    fn help(&self) -> &str {
        &self.desc.help
    }

    fn kind(&self) -> &'static str {
        self.kind
    }

    fn write_samples(&self, out: &mut String) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).write(&self.desc.fq_name, out);
    }
}

/// A family registered in both registries: the name is reserved in the
/// prometheus registry, the samples rendered by the text registry.
pub struct Registered<S> {
    family: Arc<Family<S>>,
    registry: Registry,
    /// Keeps the family alive in the text registry.
    _text: Arc<dyn TextFamily>,
}

impl<S: Samples + 'static> Registered<S> {
    /// Registers a family of `kind` (`counter`, `gauge`, `histogram`).
    pub fn new(
        registry: &Registry,
        text: &TextRegistry,
        desc: Desc,
        kind: &'static str,
        state: S,
    ) -> prometheus::Result<Self> {
        registry.register(Box::new(Reservation(desc.clone())))?;
        let family = Arc::new(Family { desc, kind, state: Mutex::new(state) });
        let fam: Arc<dyn TextFamily> = family.clone();
        text.register(&fam);
        Ok(Registered { family, registry: registry.clone(), _text: fam })
    }

    /// Locks the state (for a walk).
    pub fn lock(&self) -> MutexGuard<'_, S> {
        self.family.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<S> Drop for Registered<S> {
    /// Gives the name back (the probe is gone or replaced); the samples go
    /// with the last handle.
    fn drop(&mut self) {
        let _ = self.registry.unregister(Box::new(Reservation(self.family.desc.clone())));
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Appends `name="value"`, the value escaped.
pub fn push_label_pair(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    push_label_value(out, value);
    out.push('"');
}

/// Appends a label value escaped for the text format.
pub fn push_label_value(out: &mut String, v: &str) {
    if !v.bytes().any(|b| b == b'\\' || b == b'"' || b == b'\n') {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `a="x",b="y"` for label pairs (no braces).
pub fn label_text(pairs: &[LabelPair]) -> String {
    let mut s = String::new();
    push_label_text(&mut s, pairs);
    s
}

/// Appends `a="x",b="y"` for label pairs (no braces).
pub fn push_label_text(out: &mut String, pairs: &[LabelPair]) {
    for (i, p) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_label_pair(out, p.name(), p.value());
    }
}

/// Appends a sample value the way Prometheus writes floats.
pub fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        bee_object::decode::push_i64(out, v as i64);
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_labels() {
        let mut s = String::new();
        for v in [0.0, 4.0, -2.0, 0.25, f64::INFINITY, f64::NAN, 1e20] {
            push_value(&mut s, v);
            s.push(' ');
        }
        assert_eq!(s, "0 4 -2 0.25 +Inf NaN 100000000000000000000 ");
        let mut s = String::new();
        push_label_value(&mut s, "a\"b\\c\nd");
        assert_eq!(s, r#"a\"b\\c\nd"#);
    }
}
