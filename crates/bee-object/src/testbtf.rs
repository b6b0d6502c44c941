//! Hand-built raw BTF for the unit tests: a header, a string section and
//! type records written the way the kernel's `btf.h` lays them out, so each
//! test states exactly the types it parses.

use crate::btf::{Btf, TypeId};
use crate::error::Result;

/// `BTF_INT_SIGNED`, `BTF_INT_CHAR`, `BTF_INT_BOOL`.
pub const SIGNED: u32 = 1;
pub const CHAR: u32 = 2;
pub const BOOL: u32 = 4;

/// Raw BTF under construction; ids are handed out in order from 1.
pub struct BtfBuilder {
    types: Vec<u8>,
    strings: Vec<u8>,
    next: TypeId,
}

impl Default for BtfBuilder {
    fn default() -> Self {
        BtfBuilder { types: Vec::new(), strings: vec![0], next: 1 }
    }
}

impl BtfBuilder {
    /// Adds `s` to the string section; its offset.
    pub fn str(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    /// Appends raw words to the type section.
    pub fn words(&mut self, words: &[u32]) {
        for w in words {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
    }

    /// The common 12-byte record start; the new type's id.
    pub fn record(&mut self, name: &str, kind: u32, vlen: u32, kind_flag: bool, size_or_type: u32) -> TypeId {
        let name = self.str(name);
        self.words(&[name, u32::from(kind_flag) << 31 | kind << 24 | vlen, size_or_type]);
        self.next += 1;
        self.next - 1
    }

    /// `int`-kind type of `size` bytes with `enc` (SIGNED, CHAR, BOOL).
    pub fn int(&mut self, name: &str, size: u32, enc: u32) -> TypeId {
        let id = self.record(name, 1, 0, false, size);
        self.words(&[(enc << 24) | (size * 8)]);
        id
    }

    pub fn ptr(&mut self, to: TypeId) -> TypeId {
        self.record("", 2, 0, false, to)
    }

    pub fn array(&mut self, elem: TypeId, len: u32) -> TypeId {
        let id = self.record("", 3, 0, false, 0);
        self.words(&[elem, elem, len]);
        id
    }

    /// A struct of byte-addressed members: (name, type, bit offset).
    pub fn structure(&mut self, name: &str, size: u32, members: &[(&str, TypeId, u32)]) -> TypeId {
        self.members(4, name, size, false, members)
    }

    /// A struct with bitfields (kind_flag set): (name, type, bit offset, bitfield size).
    pub fn bitfields(&mut self, name: &str, size: u32, members: &[(&str, TypeId, u32, u32)]) -> TypeId {
        let packed: Vec<_> = members.iter().map(|&(n, t, off, bits)| (n, t, bits << 24 | off)).collect();
        self.members(4, name, size, true, &packed)
    }

    pub fn union(&mut self, name: &str, size: u32, members: &[(&str, TypeId, u32)]) -> TypeId {
        self.members(5, name, size, false, members)
    }

    fn members(&mut self, kind: u32, name: &str, size: u32, flag: bool, members: &[(&str, TypeId, u32)]) -> TypeId {
        let id = self.record(name, kind, members.len() as u32, flag, size);
        for &(n, t, off) in members {
            let n = self.str(n);
            self.words(&[n, t, off]);
        }
        id
    }

    /// A 32-bit-value enum.
    pub fn enumeration(&mut self, name: &str, size: u32, signed: bool, values: &[(&str, i32)]) -> TypeId {
        let id = self.record(name, 6, values.len() as u32, signed, size);
        for &(n, v) in values {
            let n = self.str(n);
            self.words(&[n, v as u32]);
        }
        id
    }

    pub fn fwd(&mut self, name: &str) -> TypeId {
        self.record(name, 7, 0, false, 0)
    }

    pub fn typedef(&mut self, name: &str, to: TypeId) -> TypeId {
        self.record(name, 8, 0, false, to)
    }

    pub fn volatile(&mut self, to: TypeId) -> TypeId {
        self.record("", 9, 0, false, to)
    }

    pub fn constant(&mut self, to: TypeId) -> TypeId {
        self.record("", 10, 0, false, to)
    }

    pub fn func_proto(&mut self) -> TypeId {
        self.record("", 13, 0, false, 0)
    }

    pub fn var(&mut self, name: &str, to: TypeId) -> TypeId {
        let id = self.record(name, 14, 0, false, to);
        self.words(&[1]); // global
        id
    }

    /// A DATASEC of (var type id, offset, size).
    pub fn datasec(&mut self, name: &str, vars: &[(TypeId, u32, u32)]) -> TypeId {
        let id = self.record(name, 15, vars.len() as u32, false, 0);
        for &(t, off, size) in vars {
            self.words(&[t, off, size]);
        }
        id
    }

    pub fn float(&mut self, name: &str, size: u32) -> TypeId {
        self.record(name, 16, 0, false, size)
    }

    /// The raw BTF: header (24 bytes), types, strings.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&0xeb9fu16.to_le_bytes());
        out.extend_from_slice(&[1, 0]); // version, flags
        let tlen = self.types.len() as u32;
        for w in [24, 0, tlen, tlen, self.strings.len() as u32] {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }

    pub fn parse(&self) -> Result<Btf> {
        Btf::parse(&self.bytes(), "test.o")
    }
}
