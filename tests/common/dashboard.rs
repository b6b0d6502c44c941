//! The Grafana dashboard of `deploy/grafana/` as the tests read it: its
//! queries, the metric selectors in them (a small PromQL lexer), and the
//! template variables substituted as Grafana would.

use std::path::PathBuf;

use serde_json::Value;

/// `deploy/grafana/`.
pub fn dir() -> PathBuf {
    super::repo().join("deploy/grafana")
}

/// The committed dashboard, parsed.
pub fn load() -> Result<Value, String> {
    let path = dir().join("beed-dashboard.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The dashboard's panels (rows included), in order.
pub fn panels(d: &Value) -> &[Value] {
    d["panels"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// The template variables.
pub fn variables(d: &Value) -> &[Value] {
    d["templating"]["list"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// (panel title, expr) of every target of every panel.
pub fn exprs(d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in panels(d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(e) = t["expr"].as_str() {
                out.push((p["title"].as_str().unwrap_or("").to_string(), e.to_string()));
            }
        }
    }
    out
}

/// (variable name, series selector, label) of every `label_values(SELECTOR, LABEL)` variable.
pub fn label_values_queries(d: &Value) -> Result<Vec<(String, String, String)>, String> {
    let mut out = Vec::new();
    for v in variables(d).iter().filter(|v| v["type"] == "query") {
        let name = v["name"].as_str().unwrap_or("").to_string();
        let q = v["query"].as_str().ok_or_else(|| format!("variable {name}: no query string"))?;
        let inner = q
            .strip_prefix("label_values(")
            .and_then(|r| r.strip_suffix(')'))
            .ok_or_else(|| format!("variable {name}: not label_values(...): {q}"))?;
        let (selector, label) = inner.rsplit_once(',').ok_or_else(|| format!("variable {name}: no label in {q}"))?;
        out.push((name, selector.trim().to_string(), label.trim().to_string()));
    }
    Ok(out)
}

/// `expr` with each `$var` / `${var}` replaced by `values[var]`.
pub fn substitute(expr: &str, values: &[(&str, &str)]) -> String {
    let mut out = expr.to_string();
    // longest names first, so that `$node` does not eat into `$nodes`
    let mut sorted = values.to_vec();
    sorted.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
    for (name, value) in sorted {
        out = out.replace(&format!("${{{name}}}"), value).replace(&format!("${name}"), value);
    }
    out
}

/// One instant-vector or range-vector selector: the metric name and the
/// text between its braces (empty without braces).
#[derive(Debug, PartialEq)]
pub struct Selector {
    pub metric: String,
    pub matchers: String,
}

/// Keywords that are followed by a parenthesised list of label names.
const GROUPING: [&str; 6] = ["by", "without", "on", "ignoring", "group_left", "group_right"];
/// PromQL's other keywords: operators, modifiers, and the aggregations
/// (`sum by (x) (...)`: no `(` right after the name).
const KEYWORDS: &str =
    "and or unless bool offset inf nan sum min max avg group stddev stdvar count count_values bottomk topk quantile";

/// The metric selectors of a PromQL expression: every identifier that is
/// not a function (followed by `(`), a keyword, a label name
/// of a grouping clause, or inside a string, a label matcher (`{...}`), a
/// range (`[...]`) or a number or duration. A selector without a metric
/// name (`{__name__=...}`) is an error: the tests want every name spelled out.
pub fn selectors(expr: &str) -> Result<Vec<Selector>, String> {
    let b = expr.as_bytes();
    let word_byte = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => i = string_end(b, i)? + 1,
            b'{' => return Err(format!("a selector without a metric name at byte {i} of {expr}")),
            b'[' => i = closing(b, i, b']')? + 1,
            c if c.is_ascii_digit() || c == b'.' => {
                while i < b.len() && (word_byte(b[i]) || b[i] == b'.') {
                    i += 1;
                }
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                let start = i;
                while i < b.len() && word_byte(b[i]) {
                    i += 1;
                }
                let word = &expr[start..i];
                let mut j = i;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                let next = b.get(j).copied();
                let lower = word.to_ascii_lowercase();
                if GROUPING.contains(&lower.as_str()) {
                    if next == Some(b'(') {
                        i = closing(b, j, b')')? + 1;
                    }
                } else if KEYWORDS.split(' ').any(|k| k == lower) || next == Some(b'(') {
                    // a keyword, or a function or aggregation: its arguments follow
                } else if next == Some(b'{') {
                    let end = closing(b, j, b'}')?;
                    out.push(Selector { metric: word.to_string(), matchers: expr[j + 1..end].to_string() });
                    i = end + 1;
                } else {
                    out.push(Selector { metric: word.to_string(), matchers: String::new() });
                }
            }
            _ => i += 1,
        }
    }
    Ok(out)
}

/// Index of the quote closing the string that starts at `open`.
fn string_end(b: &[u8], open: usize) -> Result<usize, String> {
    let quote = b[open];
    let mut i = open + 1;
    while i < b.len() {
        match b[i] {
            b'\\' if quote != b'`' => i += 2,
            c if c == quote => return Ok(i),
            _ => i += 1,
        }
    }
    Err(format!("unterminated string at byte {open}"))
}

/// Index of `close` matching the bracket at `open` (strings skipped; the
/// brackets PromQL puts there do not nest).
fn closing(b: &[u8], open: usize, close: u8) -> Result<usize, String> {
    let mut i = open + 1;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => i = string_end(b, i)? + 1,
            c if c == close => return Ok(i),
            _ => i += 1,
        }
    }
    Err(format!("no `{}` closes the bracket at byte {open}", close as char))
}
