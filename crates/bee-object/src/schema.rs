//! From a probe's BTF to decode plans: which maps exist, what their keys and
//! values look like, and where every field sits. Computed once per map at load.

use crate::btf::{Btf, Kind, TypeId};
use crate::error::{Error, Result};

/// A map declared in one of the object's `.maps*` sections, as BTF describes it.
#[derive(Debug, Clone)]
pub struct MapDef {
    pub name: String,
    /// The ELF section the map was declared in (`.maps`, `.maps.print`, ...).
    pub section: String,
    pub map_type: Option<u32>,
    pub key: Option<TypeId>,
    pub value: Option<TypeId>,
}

/// How the bytes of one field are turned into a value.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    Unsigned(u8),
    Signed(u8),
    Bool(u8),
    /// `char[N]`: a string up to the first NUL, or all N bytes.
    Str(usize),
    Enum {
        size: u8,
        signed: bool,
        values: Vec<(i64, String)>,
    },
    /// `ipv4_addr`: 4 bytes in network order.
    Ipv4,
    /// `ipv6_addr` (16 bytes) or `struct in6_addr`.
    Ipv6,
    /// `duration`: u64 nanoseconds.
    Duration,
    /// `ktime` (u64 nanoseconds of `bpf_ktime_get_ns`, CLOCK_MONOTONIC) or
    /// `ktime_boot` (`bpf_ktime_get_boot_ns`, CLOCK_BOOTTIME): read as a u64;
    /// a front end renders it as wall-clock time (bee-decoders).
    Ktime {
        boot: bool,
    },
    F32,
    F64,
    Pointer,
    /// An array of integers (logged as a JSON array, never a label).
    IntArray {
        elem: u8,
        signed: bool,
        len: usize,
    },
    /// A bitfield: `bits` bits starting `shift` bits into the field's first byte.
    Bits {
        shift: u8,
        bits: u8,
        signed: bool,
    },
}

impl FieldKind {
    /// Bytes this field reads starting at its offset.
    pub fn width(&self) -> usize {
        match self {
            FieldKind::Unsigned(n) | FieldKind::Signed(n) | FieldKind::Bool(n) => *n as usize,
            FieldKind::Enum { size, .. } => *size as usize,
            FieldKind::Str(n) => *n,
            FieldKind::Ipv4 | FieldKind::F32 => 4,
            FieldKind::Ipv6 => 16,
            FieldKind::Duration | FieldKind::F64 | FieldKind::Pointer | FieldKind::Ktime { .. } => 8,
            FieldKind::IntArray { elem, len, .. } => *elem as usize * *len,
            FieldKind::Bits { shift, bits, .. } => (*shift as usize + *bits as usize).div_ceil(8),
        }
    }

    /// Whether the field can be a Prometheus label.
    pub fn is_labelable(&self) -> bool {
        !matches!(self, FieldKind::IntArray { .. })
    }

    /// Whether the field can be a metric value.
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            FieldKind::Unsigned(_)
                | FieldKind::Signed(_)
                | FieldKind::Bool(_)
                | FieldKind::Duration
                | FieldKind::Ktime { .. }
                | FieldKind::F32
                | FieldKind::F64
                | FieldKind::Bits { .. }
        )
    }
}

/// One decoded field: its flattened name, byte offset and kind, and how a
/// front end renders it when its configuration names a decoder.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    pub name: String,
    pub offset: usize,
    pub kind: FieldKind,
    /// A decoder (`[probes.NAME.maps.MAP.fields.FIELD] decode = "…"`, or a
    /// typedef such as `ktime`), set by a front end; `None` in plans read
    /// from BTF.
    pub render: Option<crate::decode::Renderer>,
}

impl Field {
    /// A field rendered as its kind says.
    pub fn new(name: impl Into<String>, offset: usize, kind: FieldKind) -> Self {
        Field { name: name.into(), offset, kind, render: None }
    }
}

/// The decode plan of one key or value type.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// C name of the type (for messages).
    pub type_name: String,
    /// Size of the type in bytes as BTF declares it.
    pub size: usize,
    pub fields: Vec<Field>,
}

impl Plan {
    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// Every map of the object's `.maps*` sections.
pub fn map_defs(btf: &Btf) -> Result<Vec<MapDef>> {
    let mut out = Vec::new();
    for (section, vars) in btf.map_sections() {
        for v in vars {
            let var =
                btf.get(v.type_id).ok_or_else(|| Error::btf(section, format!("dangling type id {}", v.type_id)))?;
            let Kind::Var { type_id, .. } = var.kind else { continue };
            let name = var.name.clone();
            let def_id = btf
                .resolve(type_id)
                .ok_or_else(|| Error::Map { map: name.clone(), reason: "unresolvable definition type".into() })?;
            let mut def = MapDef { name, section: section.to_string(), map_type: None, key: None, value: None };
            if let Some(Kind::Struct { members, .. }) = btf.get(def_id).map(|t| &t.kind) {
                for m in members {
                    let pointee = match btf.resolve(m.type_id).and_then(|t| btf.get(t)).map(|t| &t.kind) {
                        Some(Kind::Ptr(t)) => *t,
                        _ => continue,
                    };
                    match m.name.as_str() {
                        "key" => def.key = Some(pointee),
                        "value" => def.value = Some(pointee),
                        "type" => {
                            if let Some(Kind::Array { len, .. }) = btf.get(pointee).map(|t| &t.kind) {
                                def.map_type = Some(*len);
                            }
                        }
                        _ => {}
                    }
                }
            }
            out.push(def);
        }
    }
    Ok(out)
}

/// Builds the decode plan of type `id` for map `map` (`role` is "key" or
/// "value", used as the field name when the type is a scalar).
pub fn plan(btf: &Btf, id: TypeId, map: &str, role: &str) -> Result<Plan> {
    let size = btf.size_of(id).ok_or_else(|| Error::Schema {
        map: map.to_string(),
        field: role.to_string(),
        reason: "type has no size (void, function or incomplete struct)".into(),
    })? as usize;
    let type_name = type_name(btf, id);
    let mut b = Builder { btf, map, fields: Vec::new() };
    let rid = btf.resolve(id).unwrap_or(id);
    let is_struct = matches!(btf.get(rid).map(|t| &t.kind), Some(Kind::Struct { .. })) && !is_special(btf, id);
    if is_struct {
        b.structure(rid, "", 0, 0)?;
    } else {
        b.field(id, role, 0, 0, 0)?;
    }
    let mut names: Vec<&str> = b.fields.iter().map(|f| f.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::Schema {
            map: map.to_string(),
            field: w[0].to_string(),
            reason: "two members flatten to the same name".into(),
        });
    }
    for f in &b.fields {
        if f.offset + f.kind.width() > size {
            return Err(Error::Schema {
                map: map.to_string(),
                field: f.name.clone(),
                reason: format!("ends at byte {} beyond the type's size {size}", f.offset + f.kind.width()),
            });
        }
    }
    Ok(Plan { type_name, size, fields: b.fields })
}

fn type_name(btf: &Btf, id: TypeId) -> String {
    let Some(id) = btf.skip_qualifiers(id) else { return "?".into() };
    match btf.get(id) {
        Some(t) if !t.name.is_empty() => match t.kind {
            Kind::Struct { .. } => format!("struct {}", t.name),
            Kind::Union { .. } => format!("union {}", t.name),
            Kind::Enum { .. } => format!("enum {}", t.name),
            _ => t.name.clone(),
        },
        Some(_) => "<anonymous>".into(),
        None => "?".into(),
    }
}

/// Typedef names and structs with a meaning of their own.
fn special_name(btf: &Btf, id: TypeId) -> Option<&str> {
    let mut id = btf.skip_qualifiers(id)?;
    for _ in 0..8 {
        let t = btf.get(id)?;
        match (&t.kind, t.name.as_str()) {
            (Kind::Typedef(_), n @ ("ipv4_addr" | "ipv6_addr" | "duration" | "ktime" | "ktime_boot")) => {
                return Some(n)
            }
            (Kind::Struct { .. }, "in6_addr") => return Some("in6_addr"),
            (Kind::Typedef(next), _) => id = btf.skip_qualifiers(*next)?,
            _ => return None,
        }
    }
    None
}

fn is_special(btf: &Btf, id: TypeId) -> bool {
    special_name(btf, id).is_some()
}

struct Builder<'a> {
    btf: &'a Btf,
    map: &'a str,
    fields: Vec<Field>,
}

const MAX_NESTING: usize = 8;
/// Bound on flattened fields, so a hostile BTF cannot make plans explode.
const MAX_FIELDS: usize = 1024;

impl Builder<'_> {
    fn err(&self, field: &str, reason: impl Into<String>) -> Error {
        Error::Schema { map: self.map.to_string(), field: field.to_string(), reason: reason.into() }
    }

    fn structure(&mut self, id: TypeId, prefix: &str, base: usize, depth: usize) -> Result<()> {
        if depth > MAX_NESTING {
            return Err(self.err(prefix, "structs nested too deeply"));
        }
        let members = match self.btf.get(id).map(|t| &t.kind) {
            Some(Kind::Struct { members, .. }) => members.clone(),
            _ => return Err(self.err(prefix, "not a struct")),
        };
        for m in &members {
            let name = match (prefix.is_empty(), m.name.is_empty()) {
                (_, true) => prefix.to_string(),
                (true, false) => m.name.clone(),
                (false, false) => format!("{prefix}_{}", m.name),
            };
            if m.bitfield_size > 0 {
                self.bitfield(m.type_id, &name, base, m.bit_offset, m.bitfield_size)?;
                continue;
            }
            if m.bit_offset % 8 != 0 {
                return Err(self.err(&name, "member is not byte-aligned"));
            }
            self.field(m.type_id, &name, base + (m.bit_offset / 8) as usize, depth + 1, m.bit_offset)?;
        }
        Ok(())
    }

    fn bitfield(&mut self, id: TypeId, name: &str, base: usize, bit_off: u32, bits: u32) -> Result<()> {
        let rid = self.btf.resolve(id).unwrap_or(id);
        let signed = match self.btf.get(rid).map(|t| &t.kind) {
            Some(Kind::Int { signed, .. }) => *signed,
            Some(Kind::Enum { signed, .. }) => *signed,
            _ => return Err(self.err(name, "bitfield of a non-integer type")),
        };
        if bits > 64 {
            return Err(self.err(name, "bitfield wider than 64 bits"));
        }
        let shift = (bit_off % 8) as u8;
        if shift as u32 + bits > 64 {
            return Err(self.err(name, "bitfield spans more than 8 bytes"));
        }
        self.push(name, base + (bit_off / 8) as usize, FieldKind::Bits { shift, bits: bits as u8, signed })
    }

    fn push(&mut self, name: &str, offset: usize, kind: FieldKind) -> Result<()> {
        if self.fields.len() >= MAX_FIELDS {
            return Err(self.err(name, format!("more than {MAX_FIELDS} fields after flattening")));
        }
        self.fields.push(Field::new(name, offset, kind));
        Ok(())
    }

    fn field(&mut self, id: TypeId, name: &str, offset: usize, depth: usize, _bits: u32) -> Result<()> {
        let btf = self.btf;
        if let Some(special) = special_name(btf, id) {
            let size = btf.size_of(id).unwrap_or(0);
            return match (special, size) {
                ("ipv4_addr", 4) => self.push(name, offset, FieldKind::Ipv4),
                // upstream solo_types.h declares `typedef u32 ipv6_addr`, which holds only
                // 4 bytes; render what it holds the way upstream does (as an IPv4 address)
                ("ipv6_addr", 4) => self.push(name, offset, FieldKind::Ipv4),
                ("ipv6_addr" | "in6_addr", 16) => self.push(name, offset, FieldKind::Ipv6),
                ("duration", 8) => self.push(name, offset, FieldKind::Duration),
                ("ktime", 8) => self.push(name, offset, FieldKind::Ktime { boot: false }),
                ("ktime_boot", 8) => self.push(name, offset, FieldKind::Ktime { boot: true }),
                (s, n) => Err(self.err(name, format!("{s} must not be {n} bytes"))),
            };
        }
        let rid = btf.resolve(id).ok_or_else(|| self.err(name, "unresolvable type (typedef loop?)"))?;
        let t = btf.get(rid).ok_or_else(|| self.err(name, format!("dangling type id {rid}")))?;
        match &t.kind {
            Kind::Int { size, signed, is_bool, bits, bit_offset, .. } => {
                let n = int_size(*size).ok_or_else(|| {
                    self.err(name, format!("{}-byte integers are not supported (8 to 64 bits are)", size))
                })?;
                if *bit_offset != 0 || (*bits != 0 && *bits != u32::from(n) * 8) {
                    return Err(self.err(name, "integers with an odd bit layout are not supported"));
                }
                let kind = if *is_bool {
                    FieldKind::Bool(n)
                } else if *signed {
                    FieldKind::Signed(n)
                } else {
                    FieldKind::Unsigned(n)
                };
                self.push(name, offset, kind)
            }
            Kind::Enum { size, signed, values } => {
                let n = int_size(*size).ok_or_else(|| self.err(name, "enum of unsupported size"))?;
                let values = values.iter().map(|e| (e.value, e.name.clone())).collect();
                self.push(name, offset, FieldKind::Enum { size: n, signed: *signed, values })
            }
            Kind::Float { size: 4 } => self.push(name, offset, FieldKind::F32),
            Kind::Float { size: 8 } => self.push(name, offset, FieldKind::F64),
            Kind::Float { size } => Err(self.err(name, format!("{size}-byte floats are not supported"))),
            Kind::Ptr(_) => self.push(name, offset, FieldKind::Pointer),
            Kind::Struct { .. } => self.structure(rid, name, offset, depth),
            Kind::Array { elem, len } => self.array(*elem, *len, name, offset),
            Kind::Union { .. } => Err(self.err(name, "unions are not supported: use a struct or a plain integer")),
            Kind::Fwd => Err(self.err(name, "incomplete (forward-declared) type")),
            other => Err(self.err(name, format!("cannot decode a field of BTF kind {}", kind_name(other)))),
        }
    }

    fn array(&mut self, elem: TypeId, len: u32, name: &str, offset: usize) -> Result<()> {
        let btf = self.btf;
        let len = len as usize;
        // `char x[N]` is a string; `u8 x[N]`/`__u8 x[N]` (typedefs) are byte arrays.
        let direct = btf.skip_qualifiers(elem).and_then(|e| btf.get(e));
        if let Some(t) = direct {
            if let Kind::Int { size: 1, .. } = t.kind {
                if t.name.contains("char") {
                    return self.push(name, offset, FieldKind::Str(len));
                }
            }
        }
        let rid = btf.resolve(elem).ok_or_else(|| self.err(name, "unresolvable array element"))?;
        match btf.get(rid).map(|t| &t.kind) {
            Some(Kind::Int { size, signed, is_bool: false, .. }) => {
                let n = int_size(*size).ok_or_else(|| self.err(name, "array of unsupported integers"))?;
                self.push(name, offset, FieldKind::IntArray { elem: n, signed: *signed, len })
            }
            _ => Err(self.err(name, "arrays of anything but integers or chars are not supported")),
        }
    }
}

fn int_size(size: u32) -> Option<u8> {
    matches!(size, 1 | 2 | 4 | 8).then_some(size as u8)
}

fn kind_name(k: &Kind) -> &'static str {
    match k {
        Kind::Void => "void",
        Kind::Func | Kind::FuncProto => "function",
        Kind::Var { .. } => "var",
        Kind::Datasec { .. } => "datasec",
        Kind::DeclTag => "decl_tag",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testbtf::{BtfBuilder, CHAR, SIGNED};

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    fn kinds(plan: &Plan) -> Vec<(&str, usize, FieldKind)> {
        plan.fields.iter().map(|f| (f.name.as_str(), f.offset, f.kind.clone())).collect()
    }

    /// The message of planning `id` as map `m`'s value.
    fn plan_err(btf: &Btf, id: TypeId) -> String {
        plan(btf, id, "m", "value").err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn nested_structs_flatten_and_char_arrays_are_strings() -> TestResult {
        let mut b = BtfBuilder::default();
        let u32_ = b.int("unsigned int", 4, 0);
        let int = b.int("int", 4, SIGNED);
        let chr = b.int("char", 1, SIGNED | CHAR);
        let uchar = b.int("unsigned char", 1, 0);
        let u8_ = b.typedef("u8", uchar);
        let u16_ = b.int("unsigned short", 2, 0);
        let comm = b.array(chr, 16);
        let bytes = b.array(u8_, 4);
        let vals = b.array(int, 3);
        let inner = b.structure("inner", 6, &[("x", u16_, 0), ("y", bytes, 16)]);
        let anon = b.structure("", 4, &[("z", u32_, 0)]);
        let outer = b.structure(
            "outer",
            44,
            &[("pid", u32_, 0), ("comm", comm, 32), ("in", inner, 160), ("vals", vals, 224), ("", anon, 320)],
        );
        let btf = b.parse()?;
        let p = plan(&btf, outer, "m", "value")?;
        assert_eq!(p.type_name, "struct outer");
        assert_eq!(p.size, 44);
        assert_eq!(
            kinds(&p),
            vec![
                ("pid", 0, FieldKind::Unsigned(4)),
                ("comm", 4, FieldKind::Str(16)),
                ("in_x", 20, FieldKind::Unsigned(2)),
                ("in_y", 22, FieldKind::IntArray { elem: 1, signed: false, len: 4 }),
                ("vals", 28, FieldKind::IntArray { elem: 4, signed: true, len: 3 }),
                // an anonymous member's fields keep their own names
                ("z", 40, FieldKind::Unsigned(4)),
            ]
        );
        assert!(p.field("comm").is_some_and(|f| f.kind.is_labelable() && !f.kind.is_numeric()));
        assert!(p.field("vals").is_some_and(|f| !f.kind.is_labelable()));
        Ok(())
    }

    #[test]
    fn scalars_and_special_typedefs() -> TestResult {
        let mut b = BtfBuilder::default();
        let u64_ = b.int("unsigned long long", 8, 0);
        let u32_ = b.int("unsigned int", 4, 0);
        let u16_ = b.int("unsigned short", 2, 0);
        let dur = b.typedef("duration", u64_);
        let ip4 = b.typedef("ipv4_addr", u32_);
        let bad_ip = b.typedef("ipv4_addr", u16_);
        let arr16 = b.array(u32_, 4);
        let ip6 = b.typedef("ipv6_addr", arr16);
        let dbl = b.float("double", 8);
        let half = b.float("_Float16", 2);
        let e = b.enumeration("state", 4, false, &[("UP", 1)]);
        let s = b.structure("ev", 40, &[("d", dur, 0), ("a", ip4, 64), ("b", ip6, 96), ("f", dbl, 256), ("e", e, 224)]);
        let btf = b.parse()?;
        // a scalar key or value is one field named after its role
        assert_eq!(kinds(&plan(&btf, u64_, "m", "value")?), vec![("value", 0, FieldKind::Unsigned(8))]);
        assert_eq!(kinds(&plan(&btf, ip4, "m", "key")?), vec![("key", 0, FieldKind::Ipv4)]);
        assert_eq!(
            kinds(&plan(&btf, s, "m", "value")?),
            vec![
                ("d", 0, FieldKind::Duration),
                ("a", 8, FieldKind::Ipv4),
                ("b", 12, FieldKind::Ipv6),
                ("f", 32, FieldKind::F64),
                ("e", 28, FieldKind::Enum { size: 4, signed: false, values: vec![(1, "UP".into())] }),
            ]
        );
        assert_eq!(plan_err(&btf, bad_ip), "map m: field `value`: ipv4_addr must not be 2 bytes");
        assert_eq!(plan_err(&btf, half), "map m: field `value`: 2-byte floats are not supported");
        Ok(())
    }

    #[test]
    fn bitfields_become_bits_fields() -> TestResult {
        let mut b = BtfBuilder::default();
        let uint = b.int("unsigned int", 4, 0);
        let int = b.int("int", 4, SIGNED);
        let s = b.bitfields("flags", 4, &[("a", uint, 0, 3), ("b", int, 3, 5), ("c", uint, 13, 7)]);
        let btf = b.parse()?;
        let p = plan(&btf, s, "m", "value")?;
        assert_eq!(
            kinds(&p),
            vec![
                ("a", 0, FieldKind::Bits { shift: 0, bits: 3, signed: false }),
                ("b", 0, FieldKind::Bits { shift: 3, bits: 5, signed: true }),
                ("c", 1, FieldKind::Bits { shift: 5, bits: 7, signed: false }),
            ]
        );
        assert_eq!(p.fields[2].kind.width(), 2, "5 + 7 bits span two bytes");
        assert!(p.fields.iter().all(|f| f.kind.is_numeric()));
        Ok(())
    }

    #[test]
    fn refused_bitfields_and_layouts() -> TestResult {
        let mut b = BtfBuilder::default();
        let uint = b.int("unsigned int", 4, 0);
        let dbl = b.float("double", 8);
        let inner = b.structure("inner", 4, &[("x", uint, 0)]);
        let on_struct = b.bitfields("s1", 4, &[("x", inner, 0, 3)]);
        let on_float = b.bitfields("s2", 8, &[("x", dbl, 0, 3)]);
        let too_wide = b.bitfields("s3", 16, &[("x", uint, 0, 65)]);
        let spans = b.bitfields("s4", 16, &[("x", uint, 7, 58)]);
        let unaligned = b.structure("s5", 8, &[("x", uint, 4)]);
        let past_end = b.structure("s6", 2, &[("x", uint, 0)]);
        let twice = b.structure("s7", 8, &[("a", inner, 0), ("a_x", uint, 32)]);
        let btf = b.parse()?;
        let f = |id| plan_err(&btf, id);
        assert_eq!(f(on_struct), "map m: field `x`: bitfield of a non-integer type");
        assert_eq!(f(on_float), "map m: field `x`: bitfield of a non-integer type");
        assert_eq!(f(too_wide), "map m: field `x`: bitfield wider than 64 bits");
        assert_eq!(f(spans), "map m: field `x`: bitfield spans more than 8 bytes");
        assert_eq!(f(unaligned), "map m: field `x`: member is not byte-aligned");
        assert_eq!(f(past_end), "map m: field `x`: ends at byte 4 beyond the type's size 2");
        assert_eq!(f(twice), "map m: field `a_x`: two members flatten to the same name");
        Ok(())
    }

    #[test]
    fn unsupported_kinds_are_named() -> TestResult {
        let mut b = BtfBuilder::default();
        let uint = b.int("unsigned int", 4, 0);
        let wide = b.int("__int128", 16, SIGNED);
        let odd = b.int("u24", 3, 0);
        let un = b.union("u", 4, &[("a", uint, 0)]);
        let fwd = b.fwd("later");
        let fp = b.func_proto();
        let pfp = b.ptr(fp);
        let inner = b.structure("inner", 4, &[("x", uint, 0)]);
        let structs = b.array(inner, 2);
        let matrix_row = b.array(uint, 2);
        let matrix = b.array(matrix_row, 2);
        let var = b.var("v", uint);
        let member = |b: &mut BtfBuilder, name: &str, t: TypeId, size: u32| b.structure(name, size, &[("f", t, 0)]);
        let s_wide = member(&mut b, "s1", wide, 16);
        let s_odd = member(&mut b, "s2", odd, 4);
        let s_un = member(&mut b, "s3", un, 4);
        let s_fwd = member(&mut b, "s4", fwd, 4);
        let s_fp = member(&mut b, "s5", fp, 4);
        let s_pfp = member(&mut b, "s6", pfp, 8);
        let s_structs = member(&mut b, "s7", structs, 8);
        let s_matrix = member(&mut b, "s8", matrix, 16);
        let s_var = member(&mut b, "s9", var, 4);
        let s_dangling = member(&mut b, "s10", 999, 4);
        let btf = b.parse()?;
        let f = |id| plan_err(&btf, id);
        assert_eq!(f(s_wide), "map m: field `f`: 16-byte integers are not supported (8 to 64 bits are)");
        assert_eq!(f(s_odd), "map m: field `f`: 3-byte integers are not supported (8 to 64 bits are)");
        assert_eq!(f(s_un), "map m: field `f`: unions are not supported: use a struct or a plain integer");
        assert_eq!(f(s_fwd), "map m: field `f`: incomplete (forward-declared) type");
        assert_eq!(f(s_fp), "map m: field `f`: cannot decode a field of BTF kind function");
        assert_eq!(f(s_var), "map m: field `f`: cannot decode a field of BTF kind var");
        // a function pointer is a pointer
        assert_eq!(kinds(&plan(&btf, s_pfp, "m", "value")?), vec![("f", 0, FieldKind::Pointer)]);
        let arrays = "map m: field `f`: arrays of anything but integers or chars are not supported";
        assert_eq!(f(s_structs), arrays);
        assert_eq!(f(s_matrix), arrays);
        assert_eq!(f(s_dangling), "map m: field `f`: unresolvable type (typedef loop?)");
        // a type without a size cannot be a key or value at all
        assert_eq!(f(fwd), "map m: field `value`: type has no size (void, function or incomplete struct)");
        assert_eq!(f(0), "map m: field `value`: type has no size (void, function or incomplete struct)");
        assert_eq!(f(999), "map m: field `value`: type has no size (void, function or incomplete struct)");
        Ok(())
    }

    #[test]
    fn deep_nesting_is_refused() -> TestResult {
        let mut b = BtfBuilder::default();
        let mut t = b.int("int", 4, SIGNED);
        for i in 0..12 {
            t = b.structure(&format!("s{i}"), 4, &[("f", t, 0)]);
        }
        let btf = b.parse()?;
        assert!(plan_err(&btf, t).ends_with("structs nested too deeply"), "{}", plan_err(&btf, t));
        Ok(())
    }

    #[test]
    fn map_defs_read_type_key_and_value() -> TestResult {
        let mut b = BtfBuilder::default();
        let int = b.int("int", 4, SIGNED);
        let ev = b.structure("ev", 4, &[("pid", int, 0)]);
        let type_arr = b.array(int, 27); // BPF_MAP_TYPE_RINGBUF
        let ptype = b.ptr(type_arr);
        let pvalue = b.ptr(ev);
        let pkey = b.ptr(int);
        let def = b.structure("", 24, &[("type", ptype, 0), ("key", pkey, 64), ("value", pvalue, 128)]);
        let var = b.var("events", def);
        b.datasec(".maps.print", &[(var, 0, 24)]);
        let btf = b.parse()?;
        let defs = map_defs(&btf)?;
        assert_eq!(defs.len(), 1);
        let d = &defs[0];
        assert_eq!((d.name.as_str(), d.section.as_str()), ("events", ".maps.print"));
        assert_eq!((d.map_type, d.key, d.value), (Some(27), Some(int), Some(ev)));
        // a DATASEC entry pointing nowhere is an error naming the section
        let mut b = BtfBuilder::default();
        b.datasec(".maps", &[(42, 0, 8)]);
        let e = map_defs(&b.parse()?).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(e, ".maps: invalid BTF: dangling type id 42");
        Ok(())
    }
}
