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
