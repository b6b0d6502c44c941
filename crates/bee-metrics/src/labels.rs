//! Turning decoded fields into Prometheus label names and values.

use prometheus::proto::LabelPair;

use crate::error::{Error, Result};
use crate::settings::MapSettings as MapConfig;
use bee_object::convention::Output;
use bee_object::decode;
use bee_object::schema::{Field, Plan};

pub use bee_object::convention::label_name;

/// The const label every bee metric carries.
pub fn probe_label(probe: &str) -> std::collections::HashMap<String, String> {
    std::iter::once(("probe".to_string(), probe.to_string())).collect()
}

/// One label pair.
pub fn pair(name: &str, value: &str) -> LabelPair {
    let mut p = LabelPair::default();
    p.set_name(name.to_string());
    p.set_value(value.to_string());
    p
}

/// The fields of `plan` that become labels.
pub fn label_fields(plan: &Plan) -> Vec<Field> {
    plan.fields.iter().filter(|f| f.kind.is_labelable()).cloned().collect()
}

/// Byte ranges covering `fields`, adjacent ones merged: copying a label
/// key is then one `memcpy` per range instead of one per field.
pub fn key_ranges(fields: &[Field]) -> Vec<std::ops::Range<usize>> {
    let mut out: Vec<std::ops::Range<usize>> = Vec::new();
    for f in fields {
        let r = f.offset..f.offset + f.kind.width();
        match out.last_mut() {
            Some(last) if last.end == r.start => last.end = r.end,
            _ => out.push(r),
        }
    }
    out
}

/// One part of a label key.
enum Part {
    /// Raw bytes of undecoded fields (adjacent ones merged): fixed width.
    Raw(std::ops::Range<usize>),
    /// A decoded field's rendered text, ended by 0xff (never in UTF-8).
    Text(Field),
}

/// How a record's label set becomes a lookup key: the raw bytes of its
/// label fields, except that a field with a decoder (which may render
/// different bytes alike: a regexp's overflow, a static_map default, two
/// addresses in one function, two cgroups of one container) contributes its
/// rendered text, so that such records are one series. When the label
/// fields are one contiguous run of bytes (the common case), the key is a
/// slice of the record itself: nothing is copied.
pub struct LabelKey {
    /// The whole key is this slice of the record.
    slice: Option<std::ops::Range<usize>>,
    parts: Vec<Part>,
    scratch: Vec<u8>,
    text: String,
}

impl LabelKey {
    /// The key of `fields`.
    pub fn new(fields: &[Field]) -> Self {
        let mut parts: Vec<Part> = Vec::new();
        for f in fields {
            if f.render.is_some() {
                parts.push(Part::Text(f.clone()));
                continue;
            }
            let r = f.offset..f.offset + f.kind.width();
            match parts.last_mut() {
                Some(Part::Raw(last)) if last.end == r.start => last.end = r.end,
                _ => parts.push(Part::Raw(r)),
            }
        }
        let slice = match parts.as_slice() {
            [] => Some(0..0),
            [Part::Raw(r)] => Some(r.clone()),
            _ => None,
        };
        LabelKey { slice, parts, scratch: Vec::new(), text: String::new() }
    }

    /// The width of every key, when they all have one (no decoded field).
    pub fn width(&self) -> Option<usize> {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Raw(r) => Some(r.len()),
                Part::Text(_) => None,
            })
            .sum()
    }

    /// The bytes of a record that are its key, when the key is one slice
    /// of it (no decoded label field, the label fields adjacent).
    pub fn slice(&self) -> Option<std::ops::Range<usize>> {
        self.slice.clone()
    }

    /// The key of `rec`; `None` if the record is too short for a label field.
    #[inline(always)]
    pub fn of<'a>(&'a mut self, rec: &'a [u8]) -> Option<&'a [u8]> {
        match &self.slice {
            Some(r) => rec.get(r.clone()),
            None => self.build(rec),
        }
    }

    /// A key of several parts, built in the scratch buffer.
    #[inline(never)]
    fn build<'a>(&'a mut self, rec: &'a [u8]) -> Option<&'a [u8]> {
        self.scratch.clear();
        for p in &self.parts {
            match p {
                Part::Raw(r) => self.scratch.extend_from_slice(rec.get(r.clone())?),
                Part::Text(f) => {
                    self.text.clear();
                    if !decode::write_field_text(f, rec, &mut self.text) {
                        return None;
                    }
                    self.scratch.extend_from_slice(self.text.as_bytes());
                    self.scratch.push(0xff);
                }
            }
        }
        Some(&self.scratch)
    }
}

/// Whether two label keys are equal: compared inline, without a loop,
/// as two loads from each end that overlap in the middle (keys are a few
/// dozen bytes; a `memcmp` call or a loop over words costs more than the
/// compare). The branch is on the width, which a map keeps.
#[inline]
pub fn same_key(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        4..=7 => (half(a, 0) ^ half(b, 0)) | (half(a, n - 4) ^ half(b, n - 4)) == 0,
        8..=16 => (word(a, 0) ^ word(b, 0)) | (word(a, n - 8) ^ word(b, n - 8)) == 0,
        17..=32 => (wide(a, 0) ^ wide(b, 0)) | (wide(a, n - 16) ^ wide(b, n - 16)) == 0,
        33..=64 => {
            (wide(a, 0) ^ wide(b, 0))
                | (wide(a, 16) ^ wide(b, 16))
                | (wide(a, n - 32) ^ wide(b, n - 32))
                | (wide(a, n - 16) ^ wide(b, n - 16))
                == 0
        }
        _ => a == b,
    }
}

/// The 4 bytes of `b` at `at`.
#[inline]
fn half(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_ne_bytes(w)
}

/// The 8 bytes of `b` at `at`.
#[inline]
fn word(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(w)
}

/// The 16 bytes of `b` at `at`.
#[inline]
fn wide(b: &[u8], at: usize) -> u128 {
    let mut w = [0u8; 16];
    w.copy_from_slice(&b[at..at + 16]);
    u128::from_ne_bytes(w)
}

/// Label values of a record as text.
pub fn label_values(fields: &[Field], rec: &[u8]) -> Vec<String> {
    fields
        .iter()
        .map(|f| {
            let mut s = String::new();
            decode::write_field_text(f, rec, &mut s);
            s
        })
        .collect()
}

/// Label pairs of a record, for hand-built metric families.
pub fn label_pairs(names: &[String], fields: &[Field], rec: &[u8]) -> Vec<LabelPair> {
    names
        .iter()
        .zip(label_values(fields, rec))
        .map(|(n, v)| {
            let mut p = LabelPair::default();
            p.set_name(n.clone());
            p.set_value(v);
            p
        })
        .collect()
}

/// The label fields of `plan` for map `map`: every labelable field except
/// `exclude` (the value or slot field), narrowed by the map's `labels` and
/// `drop` settings. Unknown names in the settings are errors.
pub fn select(map: &str, plan: &Plan, cfg: &MapConfig, exclude: &[&str]) -> Result<Vec<Field>> {
    let err = |reason: String| Error::map(map, reason);
    for name in cfg.labels.iter().flatten().chain(cfg.drop.iter()) {
        match plan.field(name) {
            None => {
                let names: Vec<&str> = plan.fields.iter().map(|f| f.name.as_str()).collect();
                return Err(err(format!(
                    "label setting names `{name}`, which is not a field (fields: {})",
                    names.join(", ")
                )));
            }
            Some(f) if !f.kind.is_labelable() => {
                return Err(err(format!("field `{name}` is an array and cannot be a label")));
            }
            Some(_) => {}
        }
    }
    Ok(plan
        .fields
        .iter()
        .filter(|f| f.kind.is_labelable() && !exclude.contains(&f.name.as_str()))
        .filter(|f| cfg.labels.as_ref().is_none_or(|l| l.contains(&f.name)))
        .filter(|f| !cfg.drop.contains(&f.name))
        .cloned()
        .collect())
}

/// The field whose value an event gauge or histogram uses: the configured
/// one, else `le` (hist only), else `value`.
pub fn value_field(map: &str, plan: &Plan, cfg: &MapConfig, output: Output) -> Result<Field> {
    let err = |reason: String| Error::map(map, reason);
    let candidates: Vec<&str> = match (&cfg.value, output) {
        (Some(v), _) => vec![v.as_str()],
        (None, output) => bee_object::convention::default_value_fields(output).to_vec(),
    };
    let numeric: Vec<&str> = plan.fields.iter().filter(|f| f.kind.is_numeric()).map(|f| f.name.as_str()).collect();
    for c in &candidates {
        if let Some(f) = plan.field(c) {
            if !f.kind.is_numeric() {
                return Err(err(format!("value field `{c}` is not a number")));
            }
            not_decoded(map, cfg, c)?;
            return Ok(f.clone());
        }
    }
    Err(err(format!(
        "no value field for {output} output: name a field `{}` or set `value = \"FIELD\"` in [probes.NAME.maps.{map}] (numeric fields: {})",
        candidates.join("` or `"),
        if numeric.is_empty() { "none".to_string() } else { numeric.join(", ") }
    )))
}

/// The slot (bucket index) field of a hash histogram's key: the configured
/// one, else `slot`, else `bucket`; it must be an integer.
pub fn slot_field(probe: &str, map: &str, key: &Plan, cfg: &MapConfig) -> Result<Field> {
    let err = |reason: String| Error::map(map, reason);
    let names: Vec<&str> = match &cfg.slot {
        Some(s) => vec![s.as_str()],
        None => bee_object::convention::DEFAULT_SLOT_FIELDS.to_vec(),
    };
    let slot = names.iter().find_map(|n| key.field(n)).cloned().ok_or_else(|| {
        err(format!(
            "hist key {} has no slot field `{}`: set `slot = \"FIELD\"` in [probes.{probe}.maps.{map}]",
            key.type_name,
            names.join("` or `"),
        ))
    })?;
    if !matches!(slot.kind, bee_object::schema::FieldKind::Unsigned(_) | bee_object::schema::FieldKind::Signed(_)) {
        return Err(err(format!("slot field `{}` must be an integer", slot.name)));
    }
    not_decoded(map, cfg, &slot.name)?;
    Ok(slot)
}

/// A metric's value or slot field is a number: a decoder (which renders
/// text) applies to labels and event fields only.
fn not_decoded(map: &str, cfg: &MapConfig, field: &str) -> Result<()> {
    match cfg.fields.get(field).and_then(|f| f.decode.as_deref()) {
        Some(d) => Err(Error::map(
            map,
            format!("field `{field}` is the metric's value: decoder `{d}` applies to labels and event fields only"),
        )),
        None => Ok(()),
    }
}

/// Label sets a hash map walk could not export because its metric reached
/// `max_series`, remembered while they stay in the map, so that
/// `beed_series_dropped_total` counts each refused label set once (and again
/// only if it left the map and came back), not once per walk. Bounded by the
/// map's own size.
#[derive(Default)]
pub struct Refused {
    seen: crate::fasthash::FastMap<Vec<u8>, u64>,
    generation: u64,
}

impl Refused {
    /// Starts a walk.
    pub fn begin(&mut self) {
        self.generation += 1;
    }

    /// A label set (its key bytes) was refused in this walk; true the first
    /// time it is.
    pub fn refuse(&mut self, key: &[u8]) -> bool {
        if let Some(g) = self.seen.get_mut(key) {
            *g = self.generation;
            return false;
        }
        self.seen.insert(key.to_vec(), self.generation);
        true
    }

    /// Ends a complete walk: label sets no longer in the map are forgotten.
    pub fn finish(&mut self) {
        let g = self.generation;
        self.seen.retain(|_, s| *s == g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bee_object::schema::FieldKind;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    fn field(name: &str, offset: usize, kind: FieldKind) -> Field {
        Field::new(name, offset, kind)
    }

    /// `struct { u32 pid; char comm[8]; ipv4_addr daddr; u8 ip6[16] as in6_addr;
    /// s16 delta; u32 vals[2]; u64 value; }` with `le` added by the caller.
    fn plan(extra: &[Field]) -> Plan {
        let mut fields = vec![
            field("pid", 0, FieldKind::Unsigned(4)),
            field("comm", 4, FieldKind::Str(8)),
            field("daddr", 12, FieldKind::Ipv4),
            field("addr6", 16, FieldKind::Ipv6),
            field("delta", 32, FieldKind::Signed(2)),
            field("vals", 36, FieldKind::IntArray { elem: 4, signed: false, len: 2 }),
            field("value", 48, FieldKind::Unsigned(8)),
        ];
        fields.extend_from_slice(extra);
        Plan { type_name: "struct ev".into(), size: 64, fields }
    }

    fn record() -> Vec<u8> {
        let mut r = vec![0u8; 64];
        r[0..4].copy_from_slice(&4242u32.to_le_bytes());
        r[4..8].copy_from_slice(b"bash");
        r[12..16].copy_from_slice(&[10, 0, 0, 1]);
        r[31] = 1; // ::1
        r[32..34].copy_from_slice(&(-7i16).to_le_bytes());
        r[48..56].copy_from_slice(&9u64.to_le_bytes());
        r
    }

    fn names(fields: &[Field]) -> Vec<&str> {
        fields.iter().map(|f| f.name.as_str()).collect()
    }

    fn cfg(labels: Option<&[&str]>, drop: &[&str]) -> MapConfig {
        MapConfig {
            labels: labels.map(|l| l.iter().map(|s| s.to_string()).collect()),
            drop: drop.iter().map(|s| s.to_string()).collect(),
            ..MapConfig::default()
        }
    }

    #[test]
    fn label_names_are_sanitized() {
        for (field, want) in [
            ("comm", "comm"),
            ("in_x", "in_x"),
            ("a.b-c d", "a_b_c_d"),
            ("héllo", "h_llo"),
            ("", "field_"),
            ("9lives", "field_9lives"),
            ("__name__", "field___name__"),
            ("_x", "_x"),
            ("probe", "field_probe"),
            ("le", "field_le"),
            ("probes", "probes"),
        ] {
            assert_eq!(label_name(field), want, "{field:?}");
        }
    }

    #[test]
    fn label_values_render_as_text() {
        let p = plan(&[
            field("up", 56, FieldKind::Bool(1)),
            field("state", 57, FieldKind::Enum { size: 1, signed: false, values: vec![(0, "IDLE".into())] }),
            field("other", 58, FieldKind::Enum { size: 1, signed: false, values: vec![(0, "IDLE".into())] }),
        ]);
        let mut rec = record();
        rec[56] = 1;
        rec[58] = 3;
        let fields = label_fields(&p);
        assert_eq!(names(&fields), vec!["pid", "comm", "daddr", "addr6", "delta", "value", "up", "state", "other"]);
        assert_eq!(
            label_values(&fields, &rec),
            vec!["4242", "bash", "10.0.0.1", "::1", "-7", "9", "true", "IDLE", "3"]
        );
        // a record too short for a field gives an empty value, not a panic
        assert_eq!(label_values(&fields, &rec[..14]), vec!["4242", "bash", "", "", "", "", "", "", ""]);
        let pairs = label_pairs(&["pid".to_string(), "comm".to_string()], &fields, &rec);
        let got: Vec<(&str, &str)> = pairs.iter().map(|p| (p.name(), p.value())).collect();
        assert_eq!(got, vec![("pid", "4242"), ("comm", "bash")]);
    }

    #[test]
    fn same_key_compares_every_byte() {
        // every width class: bytes, 4/8/16-byte loads from both ends, memcmp
        for n in 0..=80 {
            let a: Vec<u8> = (0..n as u8).map(|b| b.wrapping_mul(37)).collect();
            assert!(same_key(&a, &a.clone()), "width {n}");
            for i in 0..n {
                let mut b = a.clone();
                b[i] ^= 1;
                assert!(!same_key(&a, &b), "width {n}, byte {i}");
            }
            if n > 0 {
                assert!(!same_key(&a, &a[..n - 1]), "width {n} against {}", n - 1);
            }
        }
        assert!(same_key(&[], &[]));
    }

    #[test]
    fn adjacent_label_fields_are_one_copy() {
        let p = plan(&[]);
        let fields = label_fields(&p);
        // pid+comm+daddr+addr6 (0..32), delta (32..34), value (48..56)
        assert_eq!(key_ranges(&fields), vec![0..34, 48..56]);
        let mut k = LabelKey::new(&fields);
        let rec = record();
        assert_eq!(k.of(&rec).map(<[u8]>::len), Some(42));
        assert_eq!(k.of(&rec[..40]), None);
        // one contiguous run: the key is the record's own bytes
        let mut one = LabelKey::new(&fields[..2]);
        assert_eq!(one.of(&rec).map(<[u8]>::as_ptr), Some(rec.as_ptr()));
        assert_eq!(LabelKey::new(&[]).of(&rec), Some(&[][..]));
    }

    #[test]
    fn decoded_labels_that_render_alike_are_one_key() -> TestResult {
        let p = plan(&[]);
        let settings: std::collections::BTreeMap<String, bee_decoders::FieldSettings> =
            toml_edit_free("pid = { decode = \"regexp\", regexp = \"^1$\" }")?;
        let ctx = bee_decoders::Context::system();
        let (_, p) = bee_decoders::decorate_map("p", "m", None, &p, &settings, &ctx)?;
        let fields: Vec<Field> = p.fields[..2].to_vec();
        let mut k = LabelKey::new(&fields);
        let mut rec = record();
        let a = k.of(&rec).map(<[u8]>::to_vec);
        rec[0..4].copy_from_slice(&7u32.to_le_bytes());
        let b = k.of(&rec).map(<[u8]>::to_vec);
        rec[0..4].copy_from_slice(&1u32.to_le_bytes());
        let c = k.of(&rec).map(<[u8]>::to_vec);
        assert_eq!(a, b, "4242 and 7 are both `other`");
        assert_ne!(a, c);
        assert_eq!(label_values(&fields, &rec), vec!["1", "bash"]);
        // the decoded field is its text, the undecoded one its raw bytes
        let mut want = b"1\xff".to_vec();
        want.extend_from_slice(&rec[4..12]);
        assert_eq!(c, Some(want));
        // undecoded fields keep the raw bytes as their key
        let mut raw = LabelKey::new(&plan(&[]).fields[..2]);
        assert_eq!(raw.of(&rec).map(<[u8]>::len), Some(12));
        Ok(())
    }

    /// Field settings from TOML.
    fn toml_edit_free<T: serde::de::DeserializeOwned>(s: &str) -> std::result::Result<T, Box<dyn std::error::Error>> {
        Ok(toml::from_str(s)?)
    }

    #[test]
    fn select_narrows_by_labels_drop_and_exclude() -> TestResult {
        let p = plan(&[]);
        let all = select("m", &p, &cfg(None, &[]), &["value"])?;
        assert_eq!(names(&all), vec!["pid", "comm", "daddr", "addr6", "delta"], "arrays and the value are not labels");
        let only = select("m", &p, &cfg(Some(&["comm", "pid"]), &[]), &["value"])?;
        assert_eq!(names(&only), vec!["pid", "comm"], "in the struct's order");
        let dropped = select("m", &p, &cfg(None, &["comm", "addr6"]), &[])?;
        assert_eq!(names(&dropped), vec!["pid", "daddr", "delta", "value"]);
        let both = select("m", &p, &cfg(Some(&["comm", "pid"]), &["pid"]), &[])?;
        assert_eq!(names(&both), vec!["comm"]);
        // the excluded field goes even when named
        let named = select("m", &p, &cfg(Some(&["value", "pid"]), &[]), &["value"])?;
        assert_eq!(names(&named), vec!["pid"]);
        Ok(())
    }

    #[test]
    fn select_refuses_unknown_and_array_fields() {
        let p = plan(&[]);
        let err = |c: MapConfig| select("m", &p, &c, &[]).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            err(cfg(Some(&["comn"]), &[])),
            "map m: label setting names `comn`, which is not a field (fields: pid, comm, daddr, addr6, delta, vals, value)"
        );
        assert!(err(cfg(None, &["nosuch"])).contains("label setting names `nosuch`"));
        assert_eq!(err(cfg(Some(&["vals"]), &[])), "map m: field `vals` is an array and cannot be a label");
        assert_eq!(err(cfg(None, &["vals"])), "map m: field `vals` is an array and cannot be a label");
    }

    #[test]
    fn value_field_is_configured_or_le_or_value() -> TestResult {
        let p = plan(&[]);
        let with_le = plan(&[field("le", 56, FieldKind::Unsigned(8))]);
        let none = cfg(None, &[]);
        assert_eq!(value_field("m", &p, &none, Output::Gauge)?.name, "value");
        assert_eq!(value_field("m", &with_le, &none, Output::Hist)?.name, "le");
        assert_eq!(value_field("m", &with_le, &none, Output::Gauge)?.name, "value", "le only for hist");
        assert_eq!(value_field("m", &p, &none, Output::Hist)?.name, "value");
        let delta = MapConfig { value: Some("delta".into()), ..MapConfig::default() };
        assert_eq!(value_field("m", &p, &delta, Output::Gauge)?.name, "delta");
        let err = |plan: &Plan, c: &MapConfig, o| {
            value_field("m", plan, c, o).err().map(|e| e.to_string()).unwrap_or_default()
        };
        let comm = MapConfig { value: Some("comm".into()), ..MapConfig::default() };
        assert_eq!(err(&p, &comm, Output::Gauge), "map m: value field `comm` is not a number");
        let nosuch = MapConfig { value: Some("nosuch".into()), ..MapConfig::default() };
        assert!(err(&p, &nosuch, Output::Gauge)
            .starts_with("map m: no value field for gauge output: name a field `nosuch`"));
        let no_value = Plan { type_name: "struct k".into(), size: 8, fields: p.fields[..2].to_vec() };
        assert_eq!(
            err(&no_value, &none, Output::Hist),
            "map m: no value field for hist output: name a field `le` or `value` or set `value = \"FIELD\"` in [probes.NAME.maps.m] (numeric fields: pid)"
        );
        Ok(())
    }

    #[test]
    fn slot_field_is_configured_or_slot_or_bucket() -> TestResult {
        let key = |f: Vec<Field>| Plan { type_name: "struct hk".into(), size: 16, fields: f };
        let none = cfg(None, &[]);
        let k = key(vec![field("cpu", 0, FieldKind::Unsigned(4)), field("bucket", 4, FieldKind::Unsigned(4))]);
        assert_eq!(slot_field("p", "m", &k, &none)?.name, "bucket");
        let k = key(vec![field("bucket", 0, FieldKind::Unsigned(4)), field("slot", 4, FieldKind::Signed(4))]);
        assert_eq!(slot_field("p", "m", &k, &none)?.name, "slot", "slot before bucket");
        let cpu = MapConfig { slot: Some("cpu".into()), ..MapConfig::default() };
        let k = key(vec![field("cpu", 0, FieldKind::Unsigned(4)), field("slot", 4, FieldKind::Unsigned(4))]);
        assert_eq!(slot_field("p", "m", &k, &cpu)?.name, "cpu");
        let err = |k: &Plan, c: &MapConfig| slot_field("p", "m", k, c).err().map(|e| e.to_string()).unwrap_or_default();
        let k = key(vec![field("cpu", 0, FieldKind::Unsigned(4))]);
        assert_eq!(
            err(&k, &none),
            "map m: hist key struct hk has no slot field `slot` or `bucket`: set `slot = \"FIELD\"` in [probes.p.maps.m]"
        );
        let k = key(vec![field("slot", 0, FieldKind::Enum { size: 4, signed: false, values: vec![] })]);
        assert_eq!(err(&k, &none), "map m: slot field `slot` must be an integer");
        let k = key(vec![field("slot", 0, FieldKind::Bool(1))]);
        assert_eq!(err(&k, &none), "map m: slot field `slot` must be an integer");
        Ok(())
    }

    #[test]
    fn refused_label_sets_count_once_while_they_stay() {
        let mut r = Refused::default();
        r.begin();
        assert!(r.refuse(b"a"));
        assert!(r.refuse(b"b"));
        assert!(!r.refuse(b"a"), "the same set twice in one walk");
        r.finish();
        // next walk: `a` is still refused (not counted again), `b` left the map
        r.begin();
        assert!(!r.refuse(b"a"));
        r.finish();
        r.begin();
        assert!(r.refuse(b"b"), "a set that left and came back counts again");
        r.finish();
    }
}
