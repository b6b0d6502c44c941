//! A minimal, bounds-checked reader of 64-bit little-endian ELF objects:
//! just enough to find sections by name. Never panics on hostile input.

use crate::error::{Error, Result};

/// One section header.
#[derive(Debug, Clone)]
pub struct Section {
    pub name: String,
    pub kind: u32,
    /// `sh_flags` (`SHF_EXECINSTR` marks program code).
    pub flags: u64,
    pub offset: usize,
    pub size: usize,
}

/// A parsed ELF file borrowing its bytes.
#[derive(Debug)]
pub struct Elf<'a> {
    data: &'a [u8],
    pub sections: Vec<Section>,
}

const SHT_NOBITS: u32 = 8;
pub const EM_BPF: u16 = 247;

pub(crate) fn u16_at(d: &[u8], off: usize) -> Option<u16> {
    d.get(off..off.checked_add(2)?)?.try_into().ok().map(u16::from_le_bytes)
}

pub(crate) fn u32_at(d: &[u8], off: usize) -> Option<u32> {
    d.get(off..off.checked_add(4)?)?.try_into().ok().map(u32::from_le_bytes)
}

pub(crate) fn u64_at(d: &[u8], off: usize) -> Option<u64> {
    d.get(off..off.checked_add(8)?)?.try_into().ok().map(u64::from_le_bytes)
}

impl<'a> Elf<'a> {
    /// Parses the ELF header and section table of `data`; `what` names the
    /// object in errors (usually its path).
    pub fn parse(data: &'a [u8], what: &str) -> Result<Self> {
        let bad = |r: &str| Error::elf(what, r);
        if data.len() < 64 || &data[..4] != b"\x7fELF" {
            return Err(bad("no ELF magic (is this a compiled .o file?)"));
        }
        if data[4] != 2 {
            return Err(bad("not a 64-bit ELF object"));
        }
        if data[5] != 1 {
            return Err(bad("big-endian objects are not supported"));
        }
        let machine = u16_at(data, 18).ok_or_else(|| bad("truncated header"))?;
        if machine != EM_BPF {
            return Err(bad(&format!("machine type is {machine}, not BPF (247): compile with clang -target bpf")));
        }
        let shoff = u64_at(data, 40).ok_or_else(|| bad("truncated header"))? as usize;
        let shentsize = u16_at(data, 58).ok_or_else(|| bad("truncated header"))? as usize;
        let shnum = u16_at(data, 60).ok_or_else(|| bad("truncated header"))? as usize;
        let shstrndx = u16_at(data, 62).ok_or_else(|| bad("truncated header"))? as usize;
        if shentsize < 64 {
            return Err(bad("section header entry size is smaller than 64"));
        }
        let table_end = shnum
            .checked_mul(shentsize)
            .and_then(|n| n.checked_add(shoff))
            .ok_or_else(|| bad("section table offset overflows"))?;
        if table_end > data.len() {
            return Err(bad(&format!(
                "section table ({shnum} entries at offset {shoff}) runs past the end of the file ({} bytes): truncated?",
                data.len()
            )));
        }
        let mut raw = Vec::with_capacity(shnum);
        for i in 0..shnum {
            let h = shoff + i * shentsize;
            let field = |o| u32_at(data, h + o).ok_or_else(|| bad("truncated section header"));
            let field64 = |o| u64_at(data, h + o).ok_or_else(|| bad("truncated section header"));
            let name = field(0)?;
            let kind = field(4)?;
            let flags = field64(8)?;
            let offset = field64(24)? as usize;
            let size = field64(32)? as usize;
            if kind != SHT_NOBITS && kind != 0 {
                let end = offset.checked_add(size).ok_or_else(|| bad("section size overflows"))?;
                if end > data.len() {
                    return Err(bad(&format!(
                        "section {i} (offset {offset}, size {size}) runs past the end of the file ({} bytes): truncated?",
                        data.len()
                    )));
                }
            }
            raw.push((name, kind, flags, offset, size));
        }
        let strtab = raw.get(shstrndx).ok_or_else(|| bad("section name table index out of range")).and_then(
            |&(_, _, _, off, size)| {
                off.checked_add(size)
                    .and_then(|end| data.get(off..end))
                    .ok_or_else(|| bad("section name table runs past the end of the file"))
            },
        )?;
        let sections = raw
            .into_iter()
            .map(|(name, kind, flags, offset, size)| Section {
                name: cstr_lossy(strtab, name as usize),
                kind,
                flags,
                offset,
                size,
            })
            .collect();
        Ok(Elf { data, sections })
    }

    /// The bytes of the first section called `name`.
    pub fn section_data(&self, name: &str) -> Option<&'a [u8]> {
        let s = self.sections.iter().find(|s| s.name == name)?;
        if s.kind == SHT_NOBITS {
            return Some(&[]);
        }
        self.data.get(s.offset..s.offset.checked_add(s.size)?)
    }
}

/// `sh_flags` bit of sections holding instructions.
pub const SHF_EXECINSTR: u64 = 0x4;

/// The NUL-terminated string at `off` in `table`, bytes that are not UTF-8
/// replaced (section names are shown to users, whatever they hold).
fn cstr_lossy(table: &[u8], off: usize) -> String {
    let Some(rest) = table.get(off..) else { return String::new() };
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    String::from_utf8_lossy(&rest[..end]).into_owned()
}

/// The NUL-terminated UTF-8 string at `off` in `table`.
pub(crate) fn cstr_at(table: &[u8], off: usize) -> Option<&str> {
    let rest = table.get(off..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    std::str::from_utf8(&rest[..end]).ok()
}

/// One symbol of `.symtab`.
#[derive(Debug, Clone)]
pub struct Symbol {
    pub name: String,
    /// `st_info & 0xf` (2: a function).
    pub kind: u8,
    pub section: usize,
    pub value: u64,
    pub size: u64,
}

impl Elf<'_> {
    /// Every named symbol (empty when the object has no symbol table).
    pub fn symbols(&self) -> Vec<Symbol> {
        let Some(symtab) = self.sections.iter().find(|s| s.kind == 2) else { return Vec::new() };
        let Some(end) = symtab.offset.checked_add(symtab.size) else { return Vec::new() };
        let Some(data) = self.data.get(symtab.offset..end) else { return Vec::new() };
        let strtab = self.section_data(".strtab").unwrap_or(&[]);
        data.chunks_exact(24)
            .filter_map(|s| {
                let name = cstr_at(strtab, u32_at(s, 0)? as usize)?;
                (!name.is_empty()).then(|| Symbol {
                    name: name.to_string(),
                    kind: s.get(4).copied().unwrap_or(0) & 0xf,
                    section: u16_at(s, 6).unwrap_or(0) as usize,
                    value: u64_at(s, 8).unwrap_or(0),
                    size: u64_at(s, 16).unwrap_or(0),
                })
            })
            .collect()
    }

    /// The programs of the object: functions in executable sections other
    /// than `.text` (which holds subprograms), with their section names.
    pub fn programs(&self) -> Vec<(String, String)> {
        self.symbols()
            .into_iter()
            .filter(|s| s.kind == 2)
            .filter_map(|s| {
                let sec = self.sections.get(s.section)?;
                (sec.flags & SHF_EXECINSTR != 0 && sec.name != ".text").then(|| (s.name, sec.name.clone()))
            })
            .collect()
    }

    /// Index of the first section called `name`.
    pub fn section_index(&self, name: &str) -> Option<usize> {
        self.sections.iter().position(|s| s.name == name)
    }
}
