//! `regexp`: keep only values whose text matches (`regexp = "^(bash|sshd)$"`,
//! unanchored unless anchored); every other value becomes one overflow value
//! (`overflow`, default `other`), which bounds a label's cardinality.

use bee_object::decode::{Render, Value};
use regex::Regex;

/// The `regexp` decoder.
#[derive(Debug)]
pub struct Regexp {
    re: Regex,
    overflow: String,
}

/// Longest pattern accepted, and the compiled size bound.
const MAX_PATTERN: usize = 4096;
const SIZE_LIMIT: usize = 1 << 20;

impl Regexp {
    /// Compiles `pattern`; the error says why it does not compile.
    pub fn new(pattern: &str, overflow: Option<String>) -> Result<Self, String> {
        if pattern.len() > MAX_PATTERN {
            return Err(format!("regexp is longer than {MAX_PATTERN} bytes"));
        }
        let re = regex::RegexBuilder::new(pattern)
            .size_limit(SIZE_LIMIT)
            .build()
            .map_err(|e| format!("regexp `{pattern}` does not compile: {e}"))?;
        Ok(Regexp { re, overflow: overflow.unwrap_or_else(|| "other".into()) })
    }
}

impl Render for Regexp {
    fn text(&self, v: Value<'_>, out: &mut String) {
        let start = out.len();
        v.write_text(out);
        if !self.re.is_match(&out[start..]) {
            out.truncate(start);
            out.push_str(&self.overflow);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching_values_stay_others_overflow() -> Result<(), String> {
        let r = Regexp::new("^(bash|sshd)$", None)?;
        let o = Regexp::new("^1\\d$", Some("rest".into()))?;
        for (d, v, want) in [
            (&r, Value::Str(b"bash"), "bash"),
            (&r, Value::Str(b"sshd"), "sshd"),
            (&r, Value::Str(b"bashful"), "other"),
            (&r, Value::Str(b""), "other"),
            (&o, Value::U(12), "12"),
            (&o, Value::U(120), "rest"),
        ] {
            let mut s = String::from("x=");
            d.text(v, &mut s);
            assert_eq!(s, format!("x={want}"), "{v:?}");
        }
        let err = Regexp::new("(", None).err().unwrap_or_default();
        assert!(err.starts_with("regexp `(` does not compile: "), "{err}");
        Ok(())
    }
}
