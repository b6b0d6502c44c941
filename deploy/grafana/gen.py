#!/usr/bin/env python3
"""Writes beed's Grafana dashboard (beed-dashboard.json, next to this file) to stdout.

    python3 deploy/grafana/gen.py > deploy/grafana/beed-dashboard.json

The JSON is committed; tests/dashboard.rs re-runs this script and fails when
the committed file differs, checks the dashboard's structure and every query's
PromQL syntax (promtool), and tests/kernel/dashboard.rs checks every metric it
queries against a real beed scrape and evaluates every query in a real
Prometheus. Edit this script, not the JSON.

Every query filters on `node=~"$node"`: on a fleet, Prometheus adds the `node`
label to each target (relabeling `__meta_kubernetes_pod_node_name`); on one
host without that label the "All" value (`.*`) still matches. Deterministic:
no timestamps, ids in panel order, keys in insertion order.
"""

import json
import sys

DS = {"type": "prometheus", "uid": "${datasource}"}
NODE = 'node=~"$node"'
SEL = 'node=~"$node", probe=~"$probe"'
PER_MAP = "{{node}} {{probe}}/{{map}}"

panels = []
y = 0


def row(title):
    """A full-width row header; the panels after it belong to it."""
    global y
    panels.append({"id": len(panels) + 1, "type": "row", "title": title, "collapsed": False, "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []})
    y += 1


def target(expr, legend="", instant=False, ref="A"):
    t = {"datasource": DS, "refId": ref, "expr": expr}
    if instant:
        t.update({"instant": True, "range": False, "format": "table"})
    else:
        t.update({"range": True, "legendFormat": legend or "__auto"})
    return t


def rate_per_map(metric):
    """The per-second rate of a {probe, map} counter, by node, probe and map."""
    return [target(f"sum by (node, probe, map) (rate({metric}{{{SEL}}}[5m]))", PER_MAP)]


def targets(*queries, instant=False):
    """(expr, legend) pairs as targets A, B, C, ..."""
    return [target(e, legend, instant, chr(ord("A") + i)) for i, (e, legend) in enumerate(queries)]


def panel(kind, title, description, x, w, h, tgts, unit="short", dy=0):
    """A panel at column x of the current row band (dy lines below its top)."""
    p = {
        "id": len(panels) + 1,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"x": x, "y": y + dy, "w": w, "h": h},
        "targets": tgts,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
    }
    panels.append(p)
    return p


def timeseries(title, description, x, w, h, tgts, unit="short"):
    p = panel(kind="timeseries", title=title, description=description, x=x, w=w, h=h, tgts=tgts, unit=unit)
    p["fieldConfig"]["defaults"].update(
        {
            "min": 0,
            "color": {"mode": "palette-classic"},
            "custom": {
                "drawStyle": "line",
                "lineWidth": 1,
                "fillOpacity": 10,
                "showPoints": "never",
                "spanNulls": False,
                "stacking": {"mode": "none", "group": "A"},
            },
        }
    )
    p["options"] = {
        "legend": {"showLegend": True, "displayMode": "table", "placement": "bottom", "calcs": ["mean", "max", "lastNotNull"]},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return p


def stat(title, description, x, w, h, expr, bad_at=None, dy=0):
    """One number; red from `bad_at` on when given."""
    p = panel(kind="stat", title=title, description=description, x=x, w=w, h=h, tgts=[target(expr)], dy=dy)
    steps = [{"color": "green", "value": None}]
    if bad_at is not None:
        steps.append({"color": "red", "value": bad_at})
    p["fieldConfig"]["defaults"]["thresholds"] = {"mode": "absolute", "steps": steps}
    p["options"] = {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "colorMode": "background",
        "graphMode": "none",
        "justifyMode": "auto",
        "textMode": "value",
        "orientation": "auto",
    }
    return p


def table(title, description, x, w, h, tgts, rename, overrides=()):
    """Instant queries shown as one table: merged on their labels, the time and name columns hidden."""
    p = panel(kind="table", title=title, description=description, x=x, w=w, h=h, tgts=tgts)
    p["fieldConfig"]["overrides"] = list(overrides)
    p["options"] = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"], "fields": ""}}
    p["transformations"] = [
        {"id": "merge", "options": {}},
        {"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": True}, "indexByName": {}, "renameByName": rename}},
    ]
    return p


def column_override(column, props):
    return {"matcher": {"id": "byName", "options": column}, "properties": props}


# --- probes ------------------------------------------------------------------
row("Probes")
stat(
    "Probes up",
    "Probes loaded and attached (beed_probe_up = 1), summed over the selected nodes.",
    0, 4, 4,
    f"sum(beed_probe_up{{{SEL}}})",
)
stat(
    "Probes down",
    "Probes that failed to load or attach (beed_probe_up = 0); their error is in beed's log.",
    0, 4, 4,
    f"count(beed_probe_up{{{SEL}}} == 0) or vector(0)",
    bad_at=1,
    dy=4,
)
timeseries(
    "Probes up by node",
    "sum by node of beed_probe_up: how many probes each node runs.",
    4, 10, 8,
    [target(f"sum by (node) (beed_probe_up{{{SEL}}})", "{{node}}")],
)
table(
    "Failed probes",
    "Every probe whose beed_probe_up is 0 (failed to load or attach), with its node.",
    14, 10, 8,
    [target(f"beed_probe_up{{{SEL}}} == 0", instant=True)],
    rename={"Value": "up"},
)
y += 8

# --- events ------------------------------------------------------------------
row("Events")
timeseries(
    "Events read per second",
    "Records read from the probes' ring buffers (beed_events_total), by node, probe and map.",
    0, 12, 8,
    rate_per_map("beed_events_total"),
    unit="ops",
)
timeseries(
    "Events lost, dropped, suppressed, sampled out per second",
    "lost: the kernel side could not submit (ring buffer full, beed_events_lost_total); "
    "dropped: the output could not keep up (beed_events_dropped_total, per output); "
    "suppressed: over events.journal_rate_limit (beed_events_suppressed_total); "
    "sampled out and rate limited: a print map's sample and max_rate "
    "(beed_events_sampled_out_total, beed_events_rate_limited_total); "
    "output errors: writes that failed (beed_output_errors_total); "
    "missed runs: runs of a probe's programs the kernel skipped because a BPF program was "
    "already running on that CPU (beed_program_misses_total).",
    12, 12, 8,
    targets(
        (f"sum by (node, probe) (rate(beed_events_lost_total{{{SEL}}}[5m]))", "lost {{node}} {{probe}}"),
        (f"sum by (node, output) (rate(beed_events_dropped_total{{{NODE}}}[5m]))", "dropped {{node}} {{output}}"),
        (f"sum by (node, probe) (rate(beed_events_suppressed_total{{{SEL}}}[5m]))", "suppressed {{node}} {{probe}}"),
        (f"sum by (node, probe) (rate(beed_events_sampled_out_total{{{SEL}}}[5m]))", "sampled out {{node}} {{probe}}"),
        (
            f"sum by (node, probe) (rate(beed_events_rate_limited_total{{{SEL}}}[5m]))",
            "rate limited {{node}} {{probe}}",
        ),
        (f"sum by (node, output) (rate(beed_output_errors_total{{{NODE}}}[5m]))", "output errors {{node}} {{output}}"),
        (f"sum by (node, probe) (rate(beed_program_misses_total{{{SEL}}}[5m]))", "missed runs {{node}} {{probe}}"),
    ),
    unit="ops",
)
y += 8
timeseries(
    "Decode errors per second",
    "Records that did not match their map's BTF type (beed_decode_errors_total).",
    0, 12, 8,
    rate_per_map("beed_decode_errors_total"),
    unit="ops",
)
timeseries(
    "Series dropped per second",
    "Label sets refused because a metric reached metrics.max_series (beed_series_dropped_total).",
    12, 12, 8,
    rate_per_map("beed_series_dropped_total"),
    unit="ops",
)
y += 8

# --- maps --------------------------------------------------------------------
row("Maps")
timeseries(
    "Map walk duration",
    "Duration of the last walk of each hash or array map (beed_map_walk_duration_seconds, a gauge).",
    0, 8, 8,
    [target(f"max by (node, probe, map) (beed_map_walk_duration_seconds{{{SEL}}})", PER_MAP)],
    unit="s",
)
occupancy = timeseries(
    "Map occupancy",
    "Entries at the last walk over max_entries (beed_map_entries / beed_map_max_entries): "
    "a map near 100% refuses new keys in the kernel.",
    8, 8, 8,
    [target(f"max by (node, probe, map) (beed_map_entries{{{SEL}}} / beed_map_max_entries{{{SEL}}})", PER_MAP)],
    unit="percentunit",
)
occupancy["fieldConfig"]["defaults"]["max"] = 1
timeseries(
    "Map walk errors per second",
    "Map walks that failed (beed_map_walk_errors_total).",
    16, 8, 8,
    rate_per_map("beed_map_walk_errors_total"),
    unit="ops",
)
y += 8

# --- configuration and build -------------------------------------------------
row("Configuration and build")
stat(
    "Nodes whose last reload failed",
    "beed_config_last_reload_successful = 0: the configuration was invalid or a changed probe failed to load.",
    0, 6, 8,
    f"count(beed_config_last_reload_successful{{{NODE}}} == 0) or vector(0)",
    bad_at=1,
)
table(
    "Configuration reloads by node",
    "beed_config_last_reload_successful and beed_config_last_reload_success_timestamp_seconds per node.",
    6, 10, 8,
    targets(
        (f"max by (node) (beed_config_last_reload_successful{{{NODE}}})", ""),
        (f"max by (node) (beed_config_last_reload_success_timestamp_seconds{{{NODE}}}) * 1000", ""),
        instant=True,
    ),
    rename={"Value #A": "last reload successful", "Value #B": "last successful reload"},
    overrides=[
        column_override(
            "last reload successful",
            [
                {
                    "id": "mappings",
                    "value": [{"type": "value", "options": {"0": {"text": "no", "color": "red"}, "1": {"text": "yes", "color": "green"}}}],
                },
                {"id": "custom.cellOptions", "value": {"type": "color-text"}},
            ],
        ),
        column_override(
            "last successful reload",
            [
                {"id": "unit", "value": "dateTimeFromNow"},
                # the timestamp stays 0 until a load succeeds
                {"id": "mappings", "value": [{"type": "value", "options": {"0": {"text": "never"}}}]},
            ],
        ),
    ],
)
table(
    "beed versions",
    "How many of the selected nodes run each beed version (beed_build_info).",
    16, 8, 8,
    [target(f"count by (version) (beed_build_info{{{NODE}}})", instant=True)],
    rename={"Value": "nodes"},
)
y += 8

# --- built-in probes ---------------------------------------------------------
row("Built-in probes")
timeseries(
    "Process exits per second (exitsnoop)",
    "Exit events read from exitsnoop's print_exits ring buffer, by node. Each exit's comm, pid and code "
    "are in the event itself (journal or stdout), not in a metric label.",
    0, 12, 8,
    [target(f'sum by (node) (rate(beed_events_total{{{NODE}, probe="exitsnoop", map="print_exits"}}[5m]))', "{{node}}")],
    unit="ops",
)
timeseries(
    "TCP connections per second by destination (tcpconnect)",
    "The 10 busiest destinations of outgoing TCP connections over the selected nodes "
    "(ebpf_solo_io_counter_connections).",
    12, 12, 8,
    [target(f'topk(10, sum by (daddr, dport) (rate(ebpf_solo_io_counter_connections{{{NODE}, probe="tcpconnect"}}[5m])))', "{{daddr}}:{{dport}}")],
    unit="ops",
)
y += 8
timeseries(
    "TCP connections per second by node (tcpconnect)",
    "Outgoing TCP connections counted by tcpconnect, by node.",
    0, 12, 8,
    [target(f'sum by (node) (rate(ebpf_solo_io_counter_connections{{{NODE}, probe="tcpconnect"}}[5m]))', "{{node}}")],
    unit="ops",
)
table(
    "Top destinations over the last hour (tcpconnect)",
    "The 20 destinations most connected to in the last hour, over the selected nodes.",
    12, 12, 8,
    [target(f'topk(20, sum by (daddr, dport) (increase(ebpf_solo_io_counter_connections{{{NODE}, probe="tcpconnect"}}[1h])))', instant=True)],
    rename={"Value": "connections"},
)
y += 8

def query_variable(name, label, query, description):
    return {
        "type": "query",
        "name": name,
        "label": label,
        "description": description,
        "datasource": DS,
        "query": query,
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "regex": "",
        "hide": 0,
    }


dashboard = {
    "title": "beed",
    "uid": "beed-overview",
    "description": "beed's self-metrics and its built-in probes (exitsnoop, tcpconnect), per node and probe.",
    "tags": ["beed", "ebpf"],
    "schemaVersion": 39,
    "version": 1,
    "editable": True,
    "graphTooltip": 1,
    "fiscalYearStartMonth": 0,
    "liveNow": False,
    "refresh": "30s",
    "time": {"from": "now-1h", "to": "now"},
    "timepicker": {},
    "timezone": "",
    "weekStart": "",
    "links": [],
    "annotations": {
        "list": [
            {
                "builtIn": 1,
                "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": True,
                "hide": True,
                "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts",
                "type": "dashboard",
            }
        ]
    },
    "templating": {
        "list": [
            {
                "type": "datasource",
                "name": "datasource",
                "label": "Data source",
                "query": "prometheus",
                "refresh": 1,
                "regex": "",
                "current": {},
                "options": [],
                "hide": 0,
            },
            query_variable("node", "Node", "label_values(beed_build_info, node)", "The node label Prometheus adds to each beed target."),
            query_variable("probe", "Probe", 'label_values(beed_probe_up{node=~"$node"}, probe)', "Probes of the selected nodes."),
        ]
    },
    "panels": panels,
}

json.dump(dashboard, sys.stdout, indent=2)
sys.stdout.write("\n")
