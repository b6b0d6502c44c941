//! Prometheus naming rules: what a metric or label name set in
//! configuration may be.

/// Why `name` is not a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`), or
/// `None` if it is.
pub fn metric_name_error(name: &str) -> Option<String> {
    let mut chars = name.chars();
    match chars.next() {
        None => Some("is empty".into()),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_' || c == ':') => {
            Some(format!("starts with `{c}` (a metric name starts with a letter, `_` or `:`)"))
        }
        _ => chars
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == ':'))
            .map(|c| format!("contains `{c}` (a metric name has letters, digits, `_` and `:` only)")),
    }
}

/// Why `name` may not be set as a map's metric `name` in configuration: not
/// a valid metric name, or one in the `beed_` namespace of beed's own metrics.
pub fn configured_metric_name_error(name: &str) -> Option<String> {
    metric_name_error(name).or_else(|| {
        name.starts_with("beed_").then(|| "starts with `beed_` (reserved for beed's own metrics)".to_string())
    })
}

/// Why `name` is not a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not
/// starting with `__`, which Prometheus reserves), or `None` if it is.
pub fn label_name_error(name: &str) -> Option<String> {
    let mut chars = name.chars();
    match chars.next() {
        None => Some("is empty".into()),
        Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
            Some(format!("starts with `{c}` (a label name starts with a letter or `_`)"))
        }
        _ if name.starts_with("__") => Some("starts with `__` (reserved by Prometheus)".into()),
        _ => chars
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
            .map(|c| format!("contains `{c}` (a label name has letters, digits and `_` only)")),
    }
}

/// Label names the families and self-metrics use themselves: a const label
/// or a rename may not take them.
pub const RESERVED_LABELS: &[&str] = &["probe", "map", "output", "program", "version", "le", "quantile"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names() {
        for ok in ["a", "ebpf_solo_io_x", "_x", "ns:sub_total", "A9"] {
            assert_eq!(metric_name_error(ok), None, "{ok}");
        }
        assert_eq!(metric_name_error("").as_deref(), Some("is empty"));
        assert!(metric_name_error("9a").is_some_and(|e| e.starts_with("starts with `9`")));
        assert!(metric_name_error("a-b").is_some_and(|e| e.starts_with("contains `-`")));
        assert!(metric_name_error("a b").is_some_and(|e| e.starts_with("contains ` `")));
        assert!(metric_name_error("é").is_some());
    }

    #[test]
    fn label_names() {
        for ok in ["node", "_x", "a9_b", "N"] {
            assert_eq!(label_name_error(ok), None, "{ok}");
        }
        assert!(label_name_error("__name__").is_some_and(|e| e.contains("reserved")));
        assert!(label_name_error("a:b").is_some_and(|e| e.starts_with("contains `:`")));
        assert!(label_name_error("1a").is_some());
        assert!(label_name_error("").is_some());
    }
}
