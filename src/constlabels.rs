//! `[metrics] const_labels`: labels added to every series beed exports
//! (watched maps' families and beed's own metrics), e.g. `node =
//! "${NODE_NAME}"` from the Kubernetes downward API. `${NAME}` is replaced
//! by environment variable NAME; `$$` is a literal `$`.

use std::collections::BTreeMap;

use bee_metrics::names::{label_name_error, RESERVED_LABELS};

/// Expands `${NAME}` in `s` with `env`; an unset variable is an error
/// naming it.
pub fn expand(s: &str, env: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or_else(|| format!("`{s}`: `${{` without a closing `}}`"))?;
            let name = &body[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("`{s}`: `${{{name}}}` is not an environment variable name"));
            }
            let v = env(name).ok_or_else(|| format!("environment variable {name} is not set (used in `{s}`)"))?;
            out.push_str(&v);
            rest = &body[end + 1..];
        } else {
            return Err(format!("`{s}`: write `${{NAME}}` for a variable, `$$` for a `$`"));
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Checks and expands the configured labels, in name order.
pub fn resolve(
    labels: &BTreeMap<String, String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::with_capacity(labels.len());
    for (name, value) in labels {
        if let Some(why) = label_name_error(name) {
            return Err(format!("metrics.const_labels: label name `{name}` {why}"));
        }
        if RESERVED_LABELS.contains(&name.as_str()) {
            return Err(format!("metrics.const_labels: `{name}` is a label beed sets itself; choose another name"));
        }
        let v = expand(value, &env).map_err(|e| format!("metrics.const_labels.{name}: {e}"))?;
        if v.is_empty() {
            let expanded = if value.is_empty() { "" } else { " once expanded" };
            return Err(format!(
                "metrics.const_labels.{name}: the value `{value}` is empty{expanded} (Prometheus drops empty labels)"
            ));
        }
        out.push((name.clone(), v));
    }
    Ok(out)
}

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(n: &str) -> Option<String> {
        match n {
            "NODE_NAME" => Some("worker-1".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_variables() {
        assert_eq!(expand("${NODE_NAME}", env), Ok("worker-1".into()));
        assert_eq!(expand("n-${NODE_NAME}-x", env), Ok("n-worker-1-x".into()));
        assert_eq!(expand("plain", env), Ok("plain".into()));
        assert_eq!(expand("a$$b", env), Ok("a$b".into()));
        assert_eq!(expand("${NOPE}", env), Err("environment variable NOPE is not set (used in `${NOPE}`)".into()));
        assert!(expand("${NODE", env).is_err_and(|e| e.contains("without a closing")));
        assert!(expand("$NODE", env).is_err_and(|e| e.contains("write `${NAME}`")));
        assert!(expand("${a-b}", env).is_err_and(|e| e.contains("not an environment variable name")));
    }

    #[test]
    fn checks_names_and_values() {
        let m = |pairs: &[(&str, &str)]| pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        assert_eq!(
            resolve(&m(&[("node", "${NODE_NAME}"), ("cluster", "c1")]), env),
            Ok(vec![("cluster".into(), "c1".into()), ("node".into(), "worker-1".into())])
        );
        assert_eq!(
            resolve(&m(&[("node", "${NODE_NAMES}")]), env),
            Err("metrics.const_labels.node: environment variable NODE_NAMES is not set (used in `${NODE_NAMES}`)"
                .into())
        );
        assert!(resolve(&m(&[("probe", "x")]), env).is_err_and(|e| e.contains("`probe` is a label beed sets")));
        assert!(resolve(&m(&[("a-b", "x")]), env).is_err_and(|e| e.contains("label name `a-b` contains `-`")));
        assert!(resolve(&m(&[("__x", "x")]), env).is_err_and(|e| e.contains("reserved")));
        assert!(resolve(&m(&[("node", "${EMPTY}")]), env).is_err_and(|e| e.contains("is empty")));
    }
}
