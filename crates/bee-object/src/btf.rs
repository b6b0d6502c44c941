//! A bounds-checked parser of raw BTF (the `.BTF` section of a BPF object).
//! Only reads; hostile input yields errors, never panics.

use crate::elf::{cstr_at, u16_at, u32_at};
use crate::error::{Error, Result};

/// A BTF type id (0 is `void`).
pub type TypeId = u32;

/// A struct or union member.
#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub type_id: TypeId,
    /// Offset from the start of the struct, in bits.
    pub bit_offset: u32,
    /// Non-zero for bitfields.
    pub bitfield_size: u32,
}

/// An enumerator.
#[derive(Debug, Clone)]
pub struct Enumerator {
    pub name: String,
    pub value: i64,
}

/// One variable of a DATASEC.
#[derive(Debug, Clone)]
pub struct SecVar {
    pub type_id: TypeId,
    pub offset: u32,
    pub size: u32,
}

/// The kinds of BTF type beed distinguishes.
#[derive(Debug, Clone)]
pub enum Kind {
    Void,
    Int { size: u32, signed: bool, is_char: bool, is_bool: bool, bits: u32, bit_offset: u32 },
    Ptr(TypeId),
    Array { elem: TypeId, len: u32 },
    Struct { size: u32, members: Vec<Member> },
    Union { size: u32, members: Vec<Member> },
    Enum { size: u32, signed: bool, values: Vec<Enumerator> },
    Fwd,
    Typedef(TypeId),
    Volatile(TypeId),
    Const(TypeId),
    Restrict(TypeId),
    Func,
    FuncProto,
    Var { type_id: TypeId, linkage: u32 },
    Datasec { size: u32, vars: Vec<SecVar> },
    Float { size: u32 },
    DeclTag,
    TypeTag(TypeId),
}

/// A named type.
#[derive(Debug, Clone)]
pub struct Type {
    pub name: String,
    pub kind: Kind,
    /// Where its record sits in the type section (for rewriting).
    pub raw: std::ops::Range<usize>,
}

/// Parsed BTF: types indexed by id (index 0 is void).
#[derive(Debug)]
pub struct Btf {
    pub types: Vec<Type>,
    /// Header length, and the type and string sections' bytes.
    pub hdr_len: usize,
    pub type_data: Vec<u8>,
    pub string_data: Vec<u8>,
}

const BTF_MAGIC: u16 = 0xeb9f;
const MAX_RESOLVE_DEPTH: usize = 32;

impl Btf {
    /// Parses raw BTF bytes; `what` names the object in errors.
    pub fn parse(data: &[u8], what: &str) -> Result<Self> {
        let bad = |r: String| Error::btf(what, r);
        let magic = u16_at(data, 0).ok_or_else(|| bad("truncated header".into()))?;
        if magic == BTF_MAGIC.swap_bytes() {
            return Err(bad("big-endian BTF is not supported".into()));
        }
        if magic != BTF_MAGIC {
            return Err(bad(format!("bad magic {magic:#x}")));
        }
        let hdr = |o| u32_at(data, o).ok_or_else(|| bad("truncated header".into()));
        let hdr_len = hdr(4)? as usize;
        if hdr_len < 24 {
            return Err(bad(format!("header length {hdr_len} is shorter than the 24-byte BTF header")));
        }
        let (type_off, type_len) = (hdr(8)? as usize, hdr(12)? as usize);
        let (str_off, str_len) = (hdr(16)? as usize, hdr(20)? as usize);
        let section = |off: usize, len: usize, name: &str| {
            let start = hdr_len.checked_add(off);
            let end = start.and_then(|s| s.checked_add(len));
            match (start, end) {
                (Some(s), Some(e)) if e <= data.len() => Ok(&data[s..e]),
                _ => Err(bad(format!("{name} section runs past the end of the BTF data"))),
            }
        };
        let tdata = section(type_off, type_len, "type")?;
        let strings = section(str_off, str_len, "string")?;
        let name_at = |off: u32| -> Result<String> {
            cstr_at(strings, off as usize)
                .map(str::to_string)
                .ok_or_else(|| bad(format!("string offset {off} is out of range or not UTF-8")))
        };

        let mut types = vec![Type { name: String::new(), kind: Kind::Void, raw: 0..0 }];
        let mut p = 0usize;
        while p < tdata.len() {
            let rd = |o: usize| u32_at(tdata, p + o).ok_or_else(|| bad(format!("type {} is truncated", types.len())));
            let start = p;
            let name = name_at(rd(0)?)?;
            let info = rd(4)?;
            let size_or_type = rd(8)?;
            let vlen = (info & 0xffff) as usize;
            let kind_flag = info >> 31 == 1;
            let kind_no = (info >> 24) & 0x1f;
            p += 12;
            // bound vlen by what is left so a hostile count cannot make us allocate wildly
            let remaining = tdata.len().saturating_sub(p);
            let rd = |o: usize| {
                u32_at(tdata, p + o).ok_or_else(|| bad(format!("type {} ({name}) is truncated", types.len())))
            };
            let kind = match kind_no {
                0 => Kind::Void,
                1 => {
                    let enc = rd(0)?;
                    p += 4;
                    Kind::Int {
                        size: size_or_type,
                        signed: enc >> 24 & 1 == 1,
                        is_char: enc >> 24 & 2 == 2,
                        is_bool: enc >> 24 & 4 == 4,
                        bits: enc & 0xff,
                        bit_offset: (enc >> 16) & 0xff,
                    }
                }
                2 => Kind::Ptr(size_or_type),
                3 => {
                    let (elem, len) = (rd(0)?, rd(8)?);
                    p += 12;
                    Kind::Array { elem, len }
                }
                4 | 5 => {
                    if vlen * 12 > remaining {
                        return Err(bad(format!("type {} ({name}) is truncated", types.len())));
                    }
                    let mut members = Vec::with_capacity(vlen);
                    for i in 0..vlen {
                        let off = rd(i * 12 + 8)?;
                        members.push(Member {
                            name: name_at(rd(i * 12)?)?,
                            type_id: rd(i * 12 + 4)?,
                            bit_offset: if kind_flag { off & 0xff_ffff } else { off },
                            bitfield_size: if kind_flag { off >> 24 } else { 0 },
                        });
                    }
                    p += vlen * 12;
                    if kind_no == 4 {
                        Kind::Struct { size: size_or_type, members }
                    } else {
                        Kind::Union { size: size_or_type, members }
                    }
                }
                6 | 19 => {
                    let stride = if kind_no == 6 { 8 } else { 12 };
                    if vlen * stride > remaining {
                        return Err(bad(format!("type {} ({name}) is truncated", types.len())));
                    }
                    let mut values = Vec::with_capacity(vlen);
                    for i in 0..vlen {
                        let lo = rd(i * stride + 4)?;
                        let value = if kind_no == 6 {
                            if kind_flag {
                                lo as i32 as i64
                            } else {
                                lo as i64
                            }
                        } else {
                            ((rd(i * stride + 8)? as u64) << 32 | lo as u64) as i64
                        };
                        values.push(Enumerator { name: name_at(rd(i * stride)?)?, value });
                    }
                    p += vlen * stride;
                    Kind::Enum { size: size_or_type, signed: kind_flag, values }
                }
                7 => Kind::Fwd,
                8 => Kind::Typedef(size_or_type),
                9 => Kind::Volatile(size_or_type),
                10 => Kind::Const(size_or_type),
                11 => Kind::Restrict(size_or_type),
                12 => Kind::Func,
                13 => {
                    if vlen * 8 > remaining {
                        return Err(bad(format!("type {} ({name}) is truncated", types.len())));
                    }
                    p += vlen * 8;
                    Kind::FuncProto
                }
                14 => {
                    let linkage = rd(0)?;
                    p += 4;
                    Kind::Var { type_id: size_or_type, linkage }
                }
                15 => {
                    if vlen * 12 > remaining {
                        return Err(bad(format!("type {} ({name}) is truncated", types.len())));
                    }
                    let mut vars = Vec::with_capacity(vlen);
                    for i in 0..vlen {
                        vars.push(SecVar { type_id: rd(i * 12)?, offset: rd(i * 12 + 4)?, size: rd(i * 12 + 8)? });
                    }
                    p += vlen * 12;
                    Kind::Datasec { size: size_or_type, vars }
                }
                16 => Kind::Float { size: size_or_type },
                17 => {
                    p += 4;
                    Kind::DeclTag
                }
                18 => Kind::TypeTag(size_or_type),
                k => return Err(bad(format!("type {} has unknown kind {k}", types.len()))),
            };
            types.push(Type { name, kind, raw: start..p });
        }
        Ok(Btf { types, hdr_len, type_data: tdata.to_vec(), string_data: strings.to_vec() })
    }

    /// The type with id `id`, or an error naming the dangling reference.
    pub fn get(&self, id: TypeId) -> Option<&Type> {
        self.types.get(id as usize)
    }

    /// Follows typedefs and qualifiers to the underlying type id.
    pub fn resolve(&self, mut id: TypeId) -> Option<TypeId> {
        for _ in 0..MAX_RESOLVE_DEPTH {
            match &self.get(id)?.kind {
                Kind::Typedef(t) | Kind::Volatile(t) | Kind::Const(t) | Kind::Restrict(t) | Kind::TypeTag(t) => id = *t,
                _ => return Some(id),
            }
        }
        None
    }

    /// Follows qualifiers only (keeps typedefs, whose names carry meaning).
    pub fn skip_qualifiers(&self, mut id: TypeId) -> Option<TypeId> {
        for _ in 0..MAX_RESOLVE_DEPTH {
            match &self.get(id)?.kind {
                Kind::Volatile(t) | Kind::Const(t) | Kind::Restrict(t) | Kind::TypeTag(t) => id = *t,
                _ => return Some(id),
            }
        }
        None
    }

    /// Size in bytes of a type, if it has one.
    pub fn size_of(&self, id: TypeId) -> Option<u64> {
        self.size_of_depth(id, 0)
    }

    fn size_of_depth(&self, id: TypeId, depth: usize) -> Option<u64> {
        if depth > MAX_RESOLVE_DEPTH {
            return None;
        }
        let id = self.resolve(id)?;
        match &self.get(id)?.kind {
            Kind::Int { size, .. }
            | Kind::Struct { size, .. }
            | Kind::Union { size, .. }
            | Kind::Enum { size, .. }
            | Kind::Float { size } => Some(*size as u64),
            Kind::Ptr(_) => Some(8),
            Kind::Array { elem, len } => self.size_of_depth(*elem, depth + 1)?.checked_mul(*len as u64),
            _ => None,
        }
    }

    /// Finds every DATASEC whose name is `.maps` or starts with `.maps.`.
    pub fn map_sections(&self) -> impl Iterator<Item = (&str, &[SecVar])> {
        self.types.iter().filter_map(|t| match &t.kind {
            Kind::Datasec { vars, .. } if t.name == ".maps" || t.name.starts_with(".maps.") => {
                Some((t.name.as_str(), vars.as_slice()))
            }
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testbtf::{BtfBuilder, BOOL, CHAR, SIGNED};

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    /// The error message of parsing `data`.
    fn parse_err(data: &[u8]) -> String {
        Btf::parse(data, "obj.o").err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn header_strings_struct_int_and_array() -> TestResult {
        let mut b = BtfBuilder::default();
        let int = b.int("int", 4, SIGNED);
        let chr = b.int("char", 1, SIGNED | CHAR);
        let boolean = b.int("_Bool", 1, BOOL);
        let arr = b.array(int, 3);
        let s = b.structure("ev", 16, &[("pid", int, 0), ("vals", arr, 32)]);
        let btf = b.parse()?;
        assert_eq!(btf.hdr_len, 24);
        assert_eq!(btf.types.len(), 6, "void and the five types");
        assert!(matches!(btf.types[0].kind, Kind::Void));
        let t = btf.get(int).ok_or("no int")?;
        assert_eq!(t.name, "int");
        assert!(matches!(
            t.kind,
            Kind::Int { size: 4, signed: true, is_char: false, is_bool: false, bits: 32, bit_offset: 0 }
        ));
        assert!(matches!(btf.get(chr).map(|t| &t.kind), Some(Kind::Int { size: 1, is_char: true, .. })));
        assert!(matches!(btf.get(boolean).map(|t| &t.kind), Some(Kind::Int { is_bool: true, signed: false, .. })));
        assert!(matches!(btf.get(arr).map(|t| &t.kind), Some(Kind::Array { elem, len: 3 }) if *elem == int));
        let ev = btf.get(s).ok_or("no struct")?;
        assert_eq!(ev.name, "ev");
        let Kind::Struct { size: 16, members } = &ev.kind else { return Err(format!("{:?}", ev.kind).into()) };
        let got: Vec<(&str, u32, u32, u32)> =
            members.iter().map(|m| (m.name.as_str(), m.type_id, m.bit_offset, m.bitfield_size)).collect();
        assert_eq!(got, vec![("pid", int, 0, 0), ("vals", arr, 32, 0)]);
        assert_eq!(btf.size_of(arr), Some(12));
        assert_eq!(btf.size_of(s), Some(16));
        // each record's raw range covers exactly its bytes: 12 + 4 for an int
        assert_eq!(btf.types[int as usize].raw, 0..16);
        assert_eq!(btf.type_data.len(), btf.types.last().map_or(0, |t| t.raw.end));
        Ok(())
    }

    #[test]
    fn bitfield_members_enums_floats_and_qualifiers() -> TestResult {
        let mut b = BtfBuilder::default();
        let uint = b.int("unsigned int", 4, 0);
        let bf = b.bitfields("flags", 4, &[("a", uint, 0, 3), ("b", uint, 3, 13)]);
        let e = b.enumeration("color", 4, true, &[("RED", -1), ("BLUE", 7)]);
        let f = b.float("double", 8);
        let c = b.constant(uint);
        let v = b.volatile(c);
        let td = b.typedef("u32", v);
        let btf = b.parse()?;
        let Some(Kind::Struct { members, .. }) = btf.get(bf).map(|t| &t.kind) else { return Err("no struct".into()) };
        let got: Vec<(u32, u32)> = members.iter().map(|m| (m.bit_offset, m.bitfield_size)).collect();
        assert_eq!(got, vec![(0, 3), (3, 13)]);
        let Some(Kind::Enum { size: 4, signed: true, values }) = btf.get(e).map(|t| &t.kind) else {
            return Err("no enum".into());
        };
        let got: Vec<(&str, i64)> = values.iter().map(|v| (v.name.as_str(), v.value)).collect();
        assert_eq!(got, vec![("RED", -1), ("BLUE", 7)]);
        assert_eq!(btf.size_of(f), Some(8));
        // resolve goes through typedefs and qualifiers, skip_qualifiers keeps the typedef
        assert_eq!(btf.resolve(td), Some(uint));
        assert_eq!(btf.skip_qualifiers(v), Some(uint));
        assert_eq!(btf.skip_qualifiers(td), Some(td));
        assert_eq!(btf.size_of(td), Some(4));
        Ok(())
    }

    #[test]
    fn map_sections_are_the_maps_datasecs() -> TestResult {
        let mut b = BtfBuilder::default();
        let int = b.int("int", 4, SIGNED);
        let v1 = b.var("events", int);
        let v2 = b.var("counts", int);
        let v3 = b.var("x", int);
        b.datasec(".maps.print", &[(v1, 0, 4)]);
        b.datasec(".maps", &[(v2, 0, 4)]);
        b.datasec(".data", &[(v3, 0, 4)]);
        b.datasec(".mapsx", &[(v3, 0, 4)]);
        let btf = b.parse()?;
        let got: Vec<(&str, Vec<u32>)> =
            btf.map_sections().map(|(n, vars)| (n, vars.iter().map(|v| v.type_id).collect())).collect();
        assert_eq!(got, vec![(".maps.print", vec![v1]), (".maps", vec![v2])]);
        Ok(())
    }

    #[test]
    fn truncated_header_and_bad_magic() {
        for data in [&[][..], &[0x9f][..], &[0x9f, 0xeb, 1, 0][..], &[0x9f, 0xeb, 1, 0, 24, 0, 0, 0, 0, 0][..]] {
            assert_eq!(parse_err(data), "obj.o: invalid BTF: truncated header", "{data:?}");
        }
        let mut data = BtfBuilder::default().bytes();
        data[0] = 0x34;
        data[1] = 0x12;
        assert_eq!(parse_err(&data), "obj.o: invalid BTF: bad magic 0x1234");
        data[0] = 0xeb;
        data[1] = 0x9f;
        assert_eq!(parse_err(&data), "obj.o: invalid BTF: big-endian BTF is not supported");
        let mut data = BtfBuilder::default().bytes();
        data[4] = 16;
        assert!(parse_err(&data).contains("header length 16 is shorter than the 24-byte BTF header"));
    }

    #[test]
    fn sections_past_the_end() {
        let mut b = BtfBuilder::default();
        b.int("int", 4, SIGNED);
        let good = b.bytes();
        let mut data = good.clone();
        data[12..16].copy_from_slice(&u32::MAX.to_le_bytes()); // type_len
        assert_eq!(parse_err(&data), "obj.o: invalid BTF: type section runs past the end of the BTF data");
        let mut data = good.clone();
        data[16..20].copy_from_slice(&u32::MAX.to_le_bytes()); // str_off: no overflow, an error
        assert_eq!(parse_err(&data), "obj.o: invalid BTF: string section runs past the end of the BTF data");
        assert_eq!(
            parse_err(&good[..good.len() - 1]),
            "obj.o: invalid BTF: string section runs past the end of the BTF data"
        );
    }

    #[test]
    fn string_offset_out_of_range() {
        let mut b = BtfBuilder::default();
        b.words(&[999, 1 << 24, 4, 32]); // an int whose name is at offset 999
        assert_eq!(parse_err(&b.bytes()), "obj.o: invalid BTF: string offset 999 is out of range or not UTF-8");
        // a member name too
        let mut b = BtfBuilder::default();
        b.record("s", 4, 1, false, 4);
        b.words(&[1000, 0, 0]);
        assert!(parse_err(&b.bytes()).contains("string offset 1000 is out of range"));
    }

    #[test]
    fn truncated_records_unknown_kinds_and_hostile_counts() {
        let mut b = BtfBuilder::default();
        b.int("int", 4, SIGNED);
        let mut data = b.bytes();
        // type_len 14: the int's encoding word is cut short
        data[12..16].copy_from_slice(&14u32.to_le_bytes());
        assert!(parse_err(&data).contains("type 1 (int) is truncated"), "{}", parse_err(&data));
        // a struct claiming 65535 members with none following
        let mut b = BtfBuilder::default();
        b.record("big", 4, 0xffff, false, 8);
        assert_eq!(parse_err(&b.bytes()), "obj.o: invalid BTF: type 1 (big) is truncated");
        let mut b = BtfBuilder::default();
        b.record("e", 6, 0xffff, false, 4);
        assert_eq!(parse_err(&b.bytes()), "obj.o: invalid BTF: type 1 (e) is truncated");
        let mut b = BtfBuilder::default();
        b.record("x", 31, 0, false, 0);
        assert_eq!(parse_err(&b.bytes()), "obj.o: invalid BTF: type 1 has unknown kind 31");
    }

    #[test]
    fn type_ids_out_of_range_are_none() -> TestResult {
        let mut b = BtfBuilder::default();
        let dangling = b.ptr(99); // parse does not chase references
        let td = b.typedef("t", 99);
        let arr = b.array(99, 2);
        let btf = b.parse()?;
        assert!(btf.get(99).is_none());
        assert!(btf.get(u32::MAX).is_none());
        assert_eq!(btf.resolve(99), None);
        assert_eq!(btf.resolve(td), None);
        assert_eq!(btf.size_of(dangling), Some(8));
        assert_eq!(btf.size_of(arr), None);
        Ok(())
    }

    #[test]
    fn typedef_loops_resolve_to_none() -> TestResult {
        let mut b = BtfBuilder::default();
        let a = b.typedef("a", 2);
        let c = b.typedef("b", a);
        let btf = b.parse()?;
        assert_eq!(btf.resolve(a), None);
        assert_eq!(btf.resolve(c), None);
        assert_eq!(btf.size_of(a), None);
        // an array of itself has no size either (depth-bounded)
        let mut b = BtfBuilder::default();
        let arr = b.array(1, 2);
        assert_eq!(b.parse()?.size_of(arr), None);
        Ok(())
    }
}
