//! The bee convention: which maps are watched, and how.

use std::fmt;

/// What beed does with a watched map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Output {
    Print,
    Counter,
    Gauge,
    Hist,
}

impl Output {
    const ALL: [(Output, &'static str); 4] =
        [(Output::Print, "print"), (Output::Counter, "counter"), (Output::Gauge, "gauge"), (Output::Hist, "hist")];

    /// The keyword as written in names and sections.
    pub fn keyword(self) -> &'static str {
        Self::ALL.iter().find(|(o, _)| *o == self).map_or("", |(_, k)| k)
    }

    /// How a map is watched: by its section suffix (`.maps.print`) or, in a
    /// plain `.maps` section, by its name prefix (`print_events`).
    pub fn of_map(name: &str, section: &str) -> Option<Output> {
        if let Some(kw) = section.strip_prefix(".maps.") {
            return Self::ALL.iter().find(|(_, k)| *k == kw).map(|(o, _)| *o);
        }
        Self::ALL.iter().find(|(_, k)| name.strip_prefix(k).is_some_and(|rest| rest.starts_with('_'))).map(|(o, _)| *o)
    }
}

impl fmt::Display for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// The Prometheus metric name bumblebee gives a map.
pub fn metric_name(map: &str) -> String {
    let mut s = String::from("ebpf_solo_io_");
    s.extend(map.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }));
    s
}

/// The Prometheus label name of a field: characters other than letters,
/// digits and `_` become `_`; names Prometheus reserves (`__x`, a leading
/// digit) or beed uses itself (`probe`, `le`) get a `field_` prefix.
pub fn label_name(field: &str) -> String {
    let mut s: String = field.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) || s.starts_with("__") || s == "probe" || s == "le" {
        s.insert_str(0, "field_");
    }
    s
}

/// Where an event gauge or histogram takes its value when no setting names
/// a field: `le` (histograms only), then `value`.
pub fn default_value_fields(output: Output) -> &'static [&'static str] {
    match output {
        Output::Hist => &["le", "value"],
        _ => &["value"],
    }
}

/// The slot field of a hash histogram's key when no setting names one.
pub const DEFAULT_SLOT_FIELDS: [&str; 2] = ["slot", "bucket"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_and_section_spellings() {
        assert_eq!(Output::of_map("print_exits", ".maps"), Some(Output::Print));
        assert_eq!(Output::of_map("counter_x", ".maps"), Some(Output::Counter));
        assert_eq!(Output::of_map("gauge_x", ".maps"), Some(Output::Gauge));
        assert_eq!(Output::of_map("hist_x", ".maps"), Some(Output::Hist));
        assert_eq!(Output::of_map("printer", ".maps"), None);
        assert_eq!(Output::of_map("events", ".maps"), None);
        assert_eq!(Output::of_map("events", ".maps.print"), Some(Output::Print));
        assert_eq!(Output::of_map("events", ".maps.counter"), Some(Output::Counter));
        assert_eq!(Output::of_map("events", ".maps.bogus"), None);
        assert_eq!(metric_name("counter_connections"), "ebpf_solo_io_counter_connections");
    }
}
