//! `bee describe`: what beed will do with a probe, read from the object
//! alone (nothing is loaded): programs and attach points, watched maps with
//! their layout, the metrics and labels they become, `const volatile` vars.

use anyhow::Result;
use bee_object::btf::{Btf, Kind};
use bee_object::convention::{self, metric_name, Output};
use bee_object::elf::Elf;
use bee_object::object::{map_type, specs_of, MapSpec};
use bee_object::schema::{FieldKind, Plan};
use bee_object::validate::{map_type_name, section_kind};
use bee_object::vars::rodata_vars;
use serde::Serialize;

/// Everything `bee describe` says of a probe.
#[derive(Debug, Serialize)]
pub struct Description {
    pub object: String,
    /// The image it was read from, for an image ref.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<crate::images::ImageInfo>,
    pub programs: Vec<Program>,
    pub maps: Vec<WatchedMap>,
    pub vars: Vec<Var>,
}

#[derive(Debug, Serialize)]
pub struct Program {
    pub name: String,
    pub section: String,
    /// The attach kind the section asks for (`tracepoint`, `kprobe`, ...).
    pub kind: String,
}

#[derive(Debug, Serialize)]
pub struct WatchedMap {
    pub name: String,
    pub output: String,
    pub map_type: String,
    pub key: Option<Layout>,
    pub value: Layout,
    /// What beed does with the records: events, or a metric family.
    pub becomes: String,
    pub metric: Option<String>,
    /// Label names of the metric (besides `probe`), with default settings.
    pub labels: Vec<String>,
    /// The field whose value a gauge/histogram takes, or a hash histogram's slot.
    pub value_field: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Layout {
    pub type_name: String,
    pub size: usize,
    pub fields: Vec<FieldInfo>,
}

#[derive(Debug, Serialize)]
pub struct FieldInfo {
    pub name: String,
    pub offset: usize,
    #[serde(rename = "type")]
    pub ty: String,
}

#[derive(Debug, Serialize)]
pub struct Var {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub default: String,
}

/// The C-ish name of a field kind.
pub fn kind_name(k: &FieldKind) -> String {
    match k {
        FieldKind::Unsigned(n) => format!("u{}", n * 8),
        FieldKind::Signed(n) => format!("s{}", n * 8),
        FieldKind::Bool(_) => "bool".into(),
        FieldKind::Str(n) => format!("char[{n}]"),
        FieldKind::Enum { .. } => "enum".into(),
        FieldKind::Ipv4 => "ipv4_addr".into(),
        FieldKind::Ipv6 => "ipv6_addr".into(),
        FieldKind::Duration => "duration".into(),
        FieldKind::Ktime { boot: false } => "ktime".into(),
        FieldKind::Ktime { boot: true } => "ktime_boot".into(),
        FieldKind::F32 => "float".into(),
        FieldKind::F64 => "double".into(),
        FieldKind::Pointer => "pointer".into(),
        FieldKind::IntArray { elem, signed, len } => format!("{}{}[{len}]", if *signed { "s" } else { "u" }, elem * 8),
        FieldKind::Bits { bits, signed, .. } => format!("{}{bits} bits", if *signed { "signed " } else { "" }),
    }
}

fn layout(p: &Plan) -> Layout {
    Layout {
        type_name: p.type_name.clone(),
        size: p.size,
        fields: p
            .fields
            .iter()
            .map(|f| FieldInfo { name: f.name.clone(), offset: f.offset, ty: kind_name(&f.kind) })
            .collect(),
    }
}

/// The metric a watched map becomes with default settings: (kind, labels,
/// value or slot field).
fn metric_of(m: &MapSpec) -> (String, Vec<String>, Option<String>) {
    let Some(value) = &m.value else { return ("nothing (no value type)".into(), Vec::new(), None) };
    let labelable = |p: &Plan, except: Option<&str>| -> Vec<String> {
        p.fields
            .iter()
            .filter(|f| f.kind.is_labelable() && Some(f.name.as_str()) != except)
            .map(|f| convention::label_name(&f.name))
            .collect()
    };
    let find = |p: &Plan, names: &[&str]| names.iter().find_map(|n| p.field(n)).map(|f| f.name.clone());
    let kind = match m.output {
        Output::Counter => "counter",
        Output::Gauge => "gauge",
        _ => "histogram",
    };
    if m.is_event_map() {
        match m.output {
            Output::Counter => (kind.into(), labelable(value, None), None),
            out => {
                let v = find(value, convention::default_value_fields(out));
                (kind.into(), labelable(value, v.as_deref()), v)
            }
        }
    } else {
        let Some(key) = &m.key else { return (kind.into(), Vec::new(), None) };
        match m.output {
            Output::Hist => {
                let slot = find(key, &convention::DEFAULT_SLOT_FIELDS);
                (kind.into(), labelable(key, slot.as_deref()), slot)
            }
            _ => (kind.into(), labelable(key, None), None),
        }
    }
}

/// A var's default value, from `.rodata`.
fn var_default(btf: &Btf, type_id: u32, bytes: &[u8]) -> (String, String) {
    let Some(t) = btf.resolve(type_id).and_then(|id| btf.get(id)) else { return ("?".into(), hex(bytes)) };
    let int = |signed: bool| {
        let mut b = [0u8; 8];
        let n = bytes.len().min(8);
        b[..n].copy_from_slice(&bytes[..n]);
        let u = u64::from_le_bytes(b);
        if signed && n > 0 && n < 8 {
            let shift = 64 - 8 * n as u32;
            (((u << shift) as i64) >> shift).to_string()
        } else if signed {
            (u as i64).to_string()
        } else {
            u.to_string()
        }
    };
    match &t.kind {
        Kind::Int { is_bool: true, .. } => ("bool".into(), (bytes.first().copied().unwrap_or(0) != 0).to_string()),
        Kind::Int { size, signed, .. } => (format!("{}{}", if *signed { "s" } else { "u" }, size * 8), int(*signed)),
        Kind::Enum { signed, values, .. } => {
            let v = int(*signed);
            let name = values.iter().find(|e| e.value.to_string() == v).map(|e| e.name.clone());
            (format!("enum {}", t.name), name.unwrap_or(v))
        }
        Kind::Array { len, .. } => {
            let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
            (format!("char[{len}]"), format!("{:?}", String::from_utf8_lossy(&bytes[..end])))
        }
        _ => (t.name.clone(), hex(bytes)),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Describes an object's bytes (`what` names it in messages).
pub fn describe_bytes(bytes: &[u8], what: &str) -> Result<Description> {
    let (elf, btf): (Elf<'_>, Btf) = bee_object::parse_object(bytes, what)?;
    let programs = elf
        .programs()
        .into_iter()
        .map(|(name, section)| Program { kind: section_kind(&section).to_string(), name, section })
        .collect();
    let mut maps = Vec::new();
    for m in specs_of(&btf)? {
        let value = m.check_watchable()?;
        let (kind, labels, value_field) = metric_of(&m);
        let event = m.is_event_map();
        let (becomes, metric) = match (m.output, event) {
            (Output::Print, true) => ("an event per record (journal / JSON line)".to_string(), None),
            (Output::Print, false) => ("the entries that changed, at each walk".to_string(), None),
            _ => (format!("a Prometheus {kind}"), Some(metric_name(&m.name))),
        };
        maps.push(WatchedMap {
            name: m.name.clone(),
            output: m.output.to_string(),
            map_type: m.map_type.map_or("(none)".into(), map_type_name),
            key: if m.map_type == Some(map_type::PERF_EVENT_ARRAY) { None } else { m.key.as_ref().map(layout) },
            value: layout(value),
            becomes,
            metric,
            labels: if m.output == Output::Print { Vec::new() } else { labels },
            value_field,
        });
    }
    let rodata = elf.section_data(".rodata").unwrap_or(&[]);
    let vars = rodata_vars(&elf, &btf)
        .into_iter()
        .map(|v| {
            let bytes = rodata.get(v.offset..v.offset.saturating_add(v.size)).unwrap_or(&[]);
            let (ty, default) = var_default(&btf, v.type_id, bytes);
            Var { name: v.name, ty, default }
        })
        .collect();
    Ok(Description { object: what.to_string(), image: None, programs, maps, vars })
}

/// The description as people read it.
pub fn render_text(d: &Description) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(s, "{}", d.object);
    if let Some(i) = &d.image {
        let _ = writeln!(s, "\nimage:\n  format: {} image", i.format);
        let _ = writeln!(s, "  digest: {}", i.digest);
        if let Some(p) = &i.platform {
            let _ = writeln!(s, "  platform: {p}");
        }
        for (k, v) in &i.annotations {
            let _ = writeln!(s, "  {}: {v}", k.trim_start_matches("org.opencontainers.image."));
        }
    }
    let _ = writeln!(s, "\nprograms:");
    for p in &d.programs {
        let _ = writeln!(s, "  {}  SEC(\"{}\")  [{}]", p.name, p.section, p.kind);
    }
    let _ = writeln!(s, "\nwatched maps:");
    if d.maps.is_empty() {
        let _ = writeln!(s, "  none: name a map print_, counter_, gauge_ or hist_ for beed to read it");
    }
    for m in &d.maps {
        let _ = writeln!(s, "  {} ({}, {})", m.name, m.output, m.map_type);
        if let Some(k) = &m.key {
            let _ = writeln!(s, "    key:   {}", render_layout(k));
        }
        let _ = writeln!(s, "    value: {}", render_layout(&m.value));
        let _ = write!(s, "    becomes {}", m.becomes);
        if let Some(metric) = &m.metric {
            let labels: Vec<&str> = std::iter::once("probe").chain(m.labels.iter().map(String::as_str)).collect();
            let _ = write!(s, ": {metric}{{{}}}", labels.join(","));
        }
        if let Some(v) = &m.value_field {
            let what = if m.key.is_some() && m.output == "hist" { "slot" } else { "value" };
            let _ = write!(s, ", {what} field `{v}`");
        }
        s.push('\n');
    }
    if !d.vars.is_empty() {
        let _ = writeln!(s, "\nvars (const volatile, set with --var NAME=VALUE or [probes.NAME.vars]):");
        for v in &d.vars {
            let _ = writeln!(s, "  {} {} = {}", v.ty, v.name, v.default);
        }
    }
    s
}

fn render_layout(l: &Layout) -> String {
    let fields: Vec<String> = l.fields.iter().map(|f| format!("{} {}", f.ty, f.name)).collect();
    format!("{} ({} bytes) {{ {} }}", l.type_name, l.size, fields.join("; "))
}
