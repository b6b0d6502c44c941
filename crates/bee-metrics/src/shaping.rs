//! Metric shaping of one watched map (`[probes.NAME.maps.MAP]`): the
//! family's `name`, `help`, `unit`, the `bucket_multiplier` of a histogram
//! and the `value_multiplier` of a gauge or walked counter, and label
//! `rename`s. Without these keys a map keeps bumblebee's name and labels.

use bee_object::convention::{label_name, metric_name as default_name, Output};
use bee_object::schema::Field;

use crate::error::{Error, Result};
use crate::names::{configured_metric_name_error, label_name_error, RESERVED_LABELS};
use crate::settings::MapSettings;

/// The family name of `map`: `name` (default `ebpf_solo_io_<map>`), with
/// `_<unit>` appended unless it already ends so.
pub fn family_name(map: &str, cfg: &MapSettings) -> String {
    let base = cfg.name.clone().unwrap_or_else(|| default_name(map));
    match &cfg.unit {
        Some(u) if !base.ends_with(&format!("_{u}")) => format!("{base}_{u}"),
        _ => base,
    }
}

/// The HELP text: `help`, else bumblebee-like `bee <output> of [event ]map <map>`.
pub fn help(map: &str, output: Output, event_map: bool, cfg: &MapSettings) -> String {
    match &cfg.help {
        Some(h) => h.clone(),
        None if event_map => format!("bee {output} of event map {map}"),
        None => format!("bee {output} of map {map}"),
    }
}

/// Checks the shaping keys of a map with output `output` (read from a ring
/// or perf buffer if `event_map`): names follow Prometheus' rules, scales
/// are positive, and each key fits the map's kind.
pub fn check(map: &str, output: Output, event_map: bool, cfg: &MapSettings) -> Result<()> {
    let err = |reason: String| Error::map(map, reason);
    let metric_keys = [
        ("name", cfg.name.is_some()),
        ("help", cfg.help.is_some()),
        ("unit", cfg.unit.is_some()),
        ("bucket_multiplier", cfg.bucket_multiplier.is_some()),
        ("value_multiplier", cfg.value_multiplier.is_some()),
        ("rename", !cfg.rename.is_empty()),
    ];
    if output == Output::Print {
        if let Some((key, _)) = metric_keys.iter().find(|(_, set)| *set) {
            return Err(err(format!("`{key}` shapes a metric; a print map has none (it writes events)")));
        }
        return Ok(());
    }
    for (key, set) in [("sample", cfg.sample.is_some()), ("max_rate", cfg.max_rate.is_some())] {
        if set {
            return Err(err(format!("`{key}` applies to print maps (events), not to a {output} map")));
        }
    }
    if let Some(name) = &cfg.name {
        if let Some(why) = configured_metric_name_error(name) {
            return Err(err(format!("name `{name}` {why}")));
        }
    }
    if let Some(unit) = &cfg.unit {
        if unit.is_empty() || !unit.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err(err(format!("unit `{unit}`: use a Prometheus base unit in lower case (seconds, bytes, ...)")));
        }
    }
    for (key, m) in [("bucket_multiplier", cfg.bucket_multiplier), ("value_multiplier", cfg.value_multiplier)] {
        if matches!(m, Some(m) if !(m.is_finite() && m > 0.0)) {
            return Err(err(format!("{key} must be a positive number")));
        }
    }
    if cfg.bucket_multiplier.is_some() && output != Output::Hist {
        return Err(err(format!(
            "bucket_multiplier applies to hist maps, not to a {output} map (use value_multiplier)"
        )));
    }
    if cfg.value_multiplier.is_some() {
        match output {
            Output::Hist => return Err(err("value_multiplier: a hist map scales with bucket_multiplier".into())),
            Output::Counter if event_map => {
                return Err(err(
                    "value_multiplier: an event counter counts events (+1 each), there is no value to scale".into(),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// The label names of `fields` (the map's label fields), after `rename`.
/// A rename names a field or its label; the new name must be a valid label
/// name that no other label of the family has, nor a label beed adds itself
/// (`probe`, `le` of histograms, `metrics.const_labels`).
pub fn label_names(map: &str, fields: &[Field], cfg: &MapSettings, const_labels: &[String]) -> Result<Vec<String>> {
    let err = |reason: String| Error::map(map, reason);
    let defaults: Vec<String> = fields.iter().map(|f| label_name(&f.name)).collect();
    for old in cfg.rename.keys() {
        if !fields.iter().zip(&defaults).any(|(f, l)| f.name == *old || l == old) {
            return Err(err(format!(
                "rename names `{old}`, which is not a label of this map (labels: {})",
                if defaults.is_empty() { "none".into() } else { defaults.join(", ") }
            )));
        }
    }
    let mut out: Vec<String> = Vec::with_capacity(fields.len());
    for (f, default) in fields.iter().zip(defaults) {
        let Some(new) = cfg.rename.get(&f.name).or_else(|| cfg.rename.get(&default)) else {
            out.push(default);
            continue;
        };
        if let Some(why) = label_name_error(new) {
            return Err(err(format!("rename of field `{}`: label name `{new}` {why}", f.name)));
        }
        if RESERVED_LABELS.contains(&new.as_str()) {
            return Err(err(format!("rename of field `{}`: `{new}` is a label beed sets itself", f.name)));
        }
        out.push(new.clone());
    }
    for (i, (name, f)) in out.iter().zip(fields).enumerate() {
        if let Some((_, other)) = out.iter().zip(fields).take(i).find(|(n, _)| *n == name) {
            return Err(err(format!(
                "fields `{}` and `{}` both become label `{name}`: rename one (rename = {{ {} = \"...\" }})",
                other.name, f.name, f.name
            )));
        }
        if const_labels.contains(name) {
            return Err(err(format!(
                "label `{name}` (field `{}`) collides with metrics.const_labels.{name}: drop the field (drop = [\"{}\"]) or rename it (rename = {{ {} = \"...\" }})",
                f.name, f.name, f.name
            )));
        }
    }
    Ok(out)
}

/// `v * m`, rounded to 12 significant digits when scaled, so that a bound
/// like 3 µs renders `3e-06`-exact (`0.000003`), not `0.0000029999999999999997`.
pub fn scale(v: f64, m: f64) -> f64 {
    if m == 1.0 || v == 0.0 || !v.is_finite() {
        return v * m;
    }
    let x = v * m;
    // an underflow to 0 would make log10 -inf and the digit count overflow
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let digits = 11 - x.abs().log10().floor() as i32;
    if !(-300..=300).contains(&digits) {
        return x;
    }
    let p = 10f64.powi(digits);
    let r = (x * p).round() / p;
    if r.is_finite() {
        r
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bee_object::schema::FieldKind;

    fn f(name: &str) -> Field {
        Field::new(name, 0, FieldKind::Unsigned(4))
    }

    fn msg<T: std::fmt::Debug>(r: Result<T>) -> String {
        match r {
            Ok(v) => format!("accepted {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn names_and_units() {
        let mut c = MapSettings::default();
        assert_eq!(family_name("hist_runqlat", &c), "ebpf_solo_io_hist_runqlat");
        c.unit = Some("seconds".into());
        assert_eq!(family_name("hist_runqlat", &c), "ebpf_solo_io_hist_runqlat_seconds");
        c.name = Some("runqueue_latency_seconds".into());
        assert_eq!(family_name("hist_runqlat", &c), "runqueue_latency_seconds");
        c.unit = None;
        assert_eq!(family_name("x", &c), "runqueue_latency_seconds");
        assert_eq!(help("x", Output::Hist, false, &MapSettings::default()), "bee hist of map x");
        assert_eq!(help("x", Output::Counter, true, &MapSettings::default()), "bee counter of event map x");
        c.help = Some("Run queue latency".into());
        assert_eq!(help("x", Output::Hist, false, &c), "Run queue latency");
    }

    #[test]
    fn checks_name_unit_scales_and_kinds() {
        let chk = |o, ev, c: MapSettings| msg(check("m", o, ev, &c));
        let c = |f: fn(&mut MapSettings)| {
            let mut c = MapSettings::default();
            f(&mut c);
            c
        };
        assert_eq!(chk(Output::Hist, false, c(|c| c.bucket_multiplier = Some(1e-6))), "accepted ()");
        assert_eq!(
            chk(Output::Hist, false, c(|c| c.name = Some("a-b".into()))),
            "map m: name `a-b` contains `-` (a metric name has letters, digits, `_` and `:` only)"
        );
        assert!(chk(Output::Gauge, false, c(|c| c.name = Some("beed_x".into()))).contains("reserved"));
        assert!(chk(Output::Gauge, false, c(|c| c.unit = Some("Seconds".into()))).contains("unit `Seconds`"));
        assert_eq!(
            chk(Output::Hist, false, c(|c| c.bucket_multiplier = Some(0.0))),
            "map m: bucket_multiplier must be a positive number"
        );
        assert!(chk(Output::Gauge, true, c(|c| c.value_multiplier = Some(f64::NAN))).contains("positive"));
        assert!(chk(Output::Gauge, false, c(|c| c.bucket_multiplier = Some(2.0)))
            .contains("bucket_multiplier applies to hist maps"));
        assert!(chk(Output::Hist, true, c(|c| c.value_multiplier = Some(2.0))).contains("bucket_multiplier"));
        assert!(chk(Output::Counter, true, c(|c| c.value_multiplier = Some(2.0))).contains("counts events"));
        assert_eq!(chk(Output::Counter, false, c(|c| c.value_multiplier = Some(2.0))), "accepted ()");
        assert!(chk(Output::Print, true, c(|c| c.name = Some("x".into())))
            .contains("`name` shapes a metric; a print map has none"));
        assert!(chk(Output::Counter, true, c(|c| c.sample = Some(3))).contains("`sample` applies to print maps"));
        assert_eq!(chk(Output::Print, true, c(|c| c.sample = Some(3))), "accepted ()");
    }

    #[test]
    fn renames() {
        let fields = [f("pid"), f("comm"), f("probe")];
        let mut c = MapSettings::default();
        let names = |c: &MapSettings, cl: &[String]| msg(label_names("m", &fields, c, cl));
        assert_eq!(names(&c, &[]), r#"accepted ["pid", "comm", "field_probe"]"#);
        c.rename.insert("comm".into(), "command".into());
        c.rename.insert("field_probe".into(), "origin".into());
        assert_eq!(names(&c, &[]), r#"accepted ["pid", "command", "origin"]"#);
        c.rename.insert("nosuch".into(), "x".into());
        assert_eq!(
            names(&c, &[]),
            "map m: rename names `nosuch`, which is not a label of this map (labels: pid, comm, field_probe)"
        );
        let mut c = MapSettings::default();
        c.rename.insert("comm".into(), "pid".into());
        assert_eq!(
            names(&c, &[]),
            "map m: fields `pid` and `comm` both become label `pid`: rename one (rename = { comm = \"...\" })"
        );
        c.rename.insert("comm".into(), "le".into());
        assert!(names(&c, &[]).contains("`le` is a label beed sets itself"));
        c.rename.insert("comm".into(), "2x".into());
        assert!(names(&c, &[]).contains("rename of field `comm`: label name `2x` starts with `2`"));
        c.rename.insert("comm".into(), "node".into());
        assert!(
            names(&c, &["node".into()]).contains("label `node` (field `comm`) collides with metrics.const_labels.node")
        );
        let c = MapSettings::default();
        assert!(names(&c, &["pid".into()]).contains("collides with metrics.const_labels.pid"));
    }

    #[test]
    fn scaled_values_are_rounded() {
        assert_eq!(scale(3.0, 1e-6), 0.000003);
        assert_eq!(scale(7.0, 1e-6), 0.000007);
        assert_eq!(scale(1023.0, 1e-6), 0.001023);
        assert_eq!(scale(5.0, 1.0), 5.0);
        assert_eq!(scale(0.0, 1e-6), 0.0);
        assert_eq!(scale(1.5, 1e-9), 1.5e-9);
        assert_eq!(scale(f64::INFINITY, 2.0), f64::INFINITY);
        assert_eq!(scale(4_294_967_295.0, 1e-6), 4294.967295);
    }
}
