//! The Grafana dashboard (`deploy/grafana/beed-dashboard.json`) without
//! Grafana: Grafana cannot be installed from the package registries here
//! (`apt-cache policy grafana` lists no candidate: Debian does not package
//! it), so instead of loading it into a real Grafana these tests check its
//! structure (what Grafana needs to render it: unique panel ids, a
//! datasource and a PromQL target on every panel, a 24-column grid with no
//! overlap, the `datasource`, `node` and `probe` variables), that it is
//! exactly what `deploy/grafana/gen.py` writes, and every query's syntax
//! with promtool (`promtool check rules` on one recording rule per query;
//! Debian package `prometheus`). tests/kernel/dashboard.rs checks every
//! metric the queries name against a real beed scrape, and evaluates every
//! query in a real Prometheus scraping it (root).
//!
//! Needs python3 (gen.py) and promtool; no root.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use common::dashboard::{self, Selector};
use common::TestResult;
use serde_json::{json, Value};

#[test]
fn committed_json_is_what_gen_py_writes() -> TestResult {
    let gen = dashboard::dir().join("gen.py");
    let out = Command::new("python3")
        .arg(&gen)
        .output()
        .map_err(|e| format!("running python3 {}: {e} (Debian package python3)", gen.display()))?;
    assert!(out.status.success(), "gen.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let committed = std::fs::read(dashboard::dir().join("beed-dashboard.json"))?;
    assert!(
        out.stdout == committed,
        "deploy/grafana/beed-dashboard.json is stale: run python3 deploy/grafana/gen.py > deploy/grafana/beed-dashboard.json"
    );
    Ok(())
}

#[test]
fn dashboard_has_the_fields_grafana_imports() -> TestResult {
    let d = dashboard::load()?;
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 36), "schemaVersion {}", d["schemaVersion"]);
    assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty() && u.len() <= 40), "uid {}", d["uid"]);
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(d["time"]["from"].is_string() && d["time"]["to"].is_string());
    // an exported dashboard's `id` is per Grafana instance: none here
    assert!(d.get("id").is_none_or(Value::is_null), "id {}", d["id"]);
    Ok(())
}

#[test]
fn templating_has_datasource_node_and_probe_variables() -> TestResult {
    let d = dashboard::load()?;
    let vars: BTreeMap<&str, &Value> =
        dashboard::variables(&d).iter().filter_map(|v| Some((v["name"].as_str()?, v))).collect();
    let ds = vars.get("datasource").ok_or("no datasource variable")?;
    assert_eq!((&ds["type"], &ds["query"]), (&json!("datasource"), &json!("prometheus")));
    let node = vars.get("node").ok_or("no node variable")?;
    assert_eq!(node["query"], "label_values(beed_build_info, node)");
    let probe = vars.get("probe").ok_or("no probe variable")?;
    assert_eq!(probe["query"], "label_values(beed_probe_up{node=~\"$node\"}, probe)");
    for v in [node, probe] {
        assert_eq!(v["type"], "query", "{v}");
        assert_eq!(v["datasource"], json!({"type": "prometheus", "uid": "${datasource}"}), "{v}");
        assert_eq!((&v["multi"], &v["includeAll"]), (&json!(true), &json!(true)), "{v}");
        // All = `.*`: it also matches series without the label (one host, no relabeling)
        assert_eq!(v["allValue"], ".*", "{v}");
    }
    assert_eq!(vars.len(), dashboard::variables(&d).len(), "duplicate variable names");
    Ok(())
}

#[test]
fn panels_have_unique_ids_a_datasource_targets_and_a_place_on_the_grid() -> TestResult {
    let d = dashboard::load()?;
    let panels = dashboard::panels(&d);
    assert!(panels.len() > 10, "{} panels", panels.len());
    let mut ids = BTreeSet::new();
    let mut boxes: Vec<(String, [u64; 4])> = Vec::new();
    for p in panels {
        let title =
            p["title"].as_str().filter(|t| !t.is_empty()).ok_or_else(|| format!("a panel without a title: {p}"))?;
        let id = p["id"].as_u64().ok_or_else(|| format!("{title}: no id"))?;
        assert!(ids.insert(id), "{title}: id {id} is used twice");
        let g = &p["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| g[k].as_u64());
        let (Some(x), Some(y), Some(w), Some(h)) = (x, y, w, h) else {
            return Err(format!("{title}: gridPos {g}").into());
        };
        assert!(w >= 1 && h >= 1 && x + w <= 24, "{title}: gridPos {g} is not within 24 columns");
        for (other, [ox, oy, ow, oh]) in &boxes {
            let apart = x + w <= *ox || *ox + ow <= x || y + h <= *oy || *oy + oh <= y;
            assert!(apart, "{title} ({g}) overlaps {other}");
        }
        boxes.push((title.to_string(), [x, y, w, h]));

        let kind = p["type"].as_str().unwrap_or("");
        if kind == "row" {
            assert!(p["targets"].is_null() && w == 24 && h == 1, "{title}: a row is a full-width header: {p}");
            assert_eq!(p["collapsed"], false, "{title}: a collapsed row keeps its panels inside it");
            continue;
        }
        assert!(["timeseries", "stat", "table"].contains(&kind), "{title}: panel type {kind:?}");
        let ds = json!({"type": "prometheus", "uid": "${datasource}"});
        assert_eq!(p["datasource"], ds, "{title}");
        let targets =
            p["targets"].as_array().filter(|t| !t.is_empty()).ok_or_else(|| format!("{title}: no targets"))?;
        let mut refs = BTreeSet::new();
        for t in targets {
            assert_eq!(t["datasource"], ds, "{title}: target {t}");
            assert!(t["expr"].as_str().is_some_and(|e| !e.trim().is_empty()), "{title}: target without expr {t}");
            let r = t["refId"].as_str().ok_or_else(|| format!("{title}: target without refId"))?;
            assert!(refs.insert(r), "{title}: refId {r} twice");
            if kind == "table" {
                assert_eq!((&t["instant"], &t["format"]), (&json!(true), &json!("table")), "{title}: {t}");
            }
        }
    }
    // the panels the dashboard exists for
    let titles: Vec<&str> = panels.iter().filter_map(|p| p["title"].as_str()).collect();
    for want in ["Probes up", "Probes down", "Events read per second", "Map occupancy", "Map walk duration"] {
        assert!(titles.contains(&want), "no panel {want:?} in {titles:?}");
    }
    Ok(())
}

#[test]
fn every_query_names_beed_metrics_and_filters_on_node() -> TestResult {
    let d = dashboard::load()?;
    let exprs = dashboard::exprs(&d);
    assert!(exprs.len() > 15, "{} queries", exprs.len());
    for (title, expr) in &exprs {
        let sel = dashboard::selectors(expr)?;
        assert!(!sel.is_empty(), "{title}: no metric in {expr}");
        for s in sel {
            assert!(
                s.metric.starts_with("beed_") || s.metric.starts_with("ebpf_solo_io_"),
                "{title}: {} is not a beed metric ({expr})",
                s.metric
            );
            assert!(s.matchers.split(',').any(|m| m.trim() == "node=~\"$node\""), "{title}: {expr} ignores $node");
        }
    }
    for (name, selector, label) in dashboard::label_values_queries(&d)? {
        let sel = dashboard::selectors(&selector)?;
        assert!(sel.len() == 1 && sel[0].metric.starts_with("beed_"), "variable {name}: {selector}");
        assert!(["node", "probe"].contains(&label.as_str()), "variable {name}: label {label}");
    }
    Ok(())
}

#[test]
fn every_query_is_valid_promql_for_promtool() -> TestResult {
    let d = dashboard::load()?;
    let mut queries: Vec<(String, String)> = dashboard::exprs(&d);
    for (name, selector, _) in dashboard::label_values_queries(&d)? {
        queries.push((format!("variable {name}"), selector));
    }
    // one recording rule per query; JSON strings are YAML double-quoted scalars
    let mut rules = String::from("groups:\n  - name: beed-dashboard\n    rules:\n");
    for (i, (_, expr)) in queries.iter().enumerate() {
        rules.push_str(&format!(
            "      - record: dashboard:query_{i}\n        expr: {}\n",
            serde_json::to_string(expr)?
        ));
    }
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("dashboard.rules.yml");
    std::fs::write(&file, &rules)?;
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .map_err(|e| format!("running promtool: {e} (Debian package prometheus)"))?;
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "promtool check rules:\n{report}\n{rules}");
    assert!(report.contains(&format!("SUCCESS: {} rules found", queries.len())), "{report}");
    Ok(())
}

#[test]
fn promtool_refuses_a_broken_query() -> TestResult {
    // the check above can fail: a query with a syntax error is refused
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("bad.rules.yml");
    std::fs::write(
        &file,
        "groups:\n  - name: g\n    rules:\n      - record: r\n        expr: \"sum by (node (beed_probe_up)\"\n",
    )?;
    let out = Command::new("promtool").args(["check", "rules"]).arg(&file).output()?;
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    Ok(())
}

#[test]
fn selector_lexer_finds_metrics_not_functions_labels_or_strings() -> TestResult {
    let sel = |e: &str| -> Result<Vec<String>, String> {
        Ok(dashboard::selectors(e)?.into_iter().map(|s: Selector| s.metric).collect())
    };
    assert_eq!(
        sel(r#"sum by (node, probe) (rate(a_total{x="}{", y=~"$node"}[5m])) / on (node) group_left (probe) b"#)?,
        ["a_total", "b"]
    );
    assert_eq!(sel("topk(10, sum without (le) (c_bucket)) or vector(0) > bool 1e3")?, ["c_bucket"]);
    assert_eq!(sel("max_over_time(d[1h:5m] offset 5m) and ignoring(x) e unless f")?, ["d", "e", "f"]);
    assert_eq!(sel("time() - g * 1000")?, ["g"]);
    let s = dashboard::selectors(r#"h{node=~"$node", probe="x,y"}"#)?;
    assert_eq!(s, [Selector { metric: "h".into(), matchers: r#"node=~"$node", probe="x,y""#.into() }]);
    assert!(dashboard::selectors(r#"{__name__="x"}"#).is_err());
    assert!(dashboard::selectors(r#"x{a="b}"#).is_err());
    assert_eq!(
        dashboard::substitute(r#"a{node=~"$node", probe=~"${probe}"}"#, &[("node", "n1"), ("probe", ".*")]),
        r#"a{node=~"n1", probe=~".*"}"#
    );
    Ok(())
}
