//! Object normalization for the section-suffix spelling of the bee
//! convention (`} events SEC(".maps.print");`), which libbpf rejects.
//!
//! Every `.maps*` section is merged into one new `.maps` section appended to
//! the object (the old ones are renamed so libbpf skips them), the map
//! symbols move into it (`st_shndx`/`st_value`), `.rel.maps*` sections are
//! merged the same way, and the BTF `DATASEC`s of those sections become one
//! `.maps` DATASEC (size 0, so libbpf fixes the offsets from the symbols);
//! the emptied DATASECs turn into a harmless 12-byte `const void` so no
//! BTF type id shifts. The keyword of each map is read beforehand from the
//! original BTF (see `probe::inspect`). Objects without `.maps.<kw>`
//! sections are returned unchanged.

use std::borrow::Cow;

use crate::btf::{Btf, Kind};
use crate::elf::{u16_at, u32_at, u64_at};
use crate::error::{Error, Result};

const SHT_REL: u32 = 9;
const SHT_SYMTAB: u32 = 2;
const SYM_SIZE: usize = 24;
const REL_SIZE: usize = 16;
const BTF_KIND_CONST: u32 = 10;
const BTF_KIND_DATASEC: u32 = 15;

struct Shdr {
    name: u32,
    kind: u32,
    flags: u64,
    offset: u64,
    size: u64,
    link: u32,
    info: u32,
    align: u64,
    entsize: u64,
}

impl Shdr {
    fn read(d: &[u8], h: usize) -> Option<Shdr> {
        Some(Shdr {
            name: u32_at(d, h)?,
            kind: u32_at(d, h + 4)?,
            flags: u64_at(d, h + 8)?,
            offset: u64_at(d, h + 24)?,
            size: u64_at(d, h + 32)?,
            link: u32_at(d, h + 40)?,
            info: u32_at(d, h + 44)?,
            align: u64_at(d, h + 48)?,
            entsize: u64_at(d, h + 56)?,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.name.to_le_bytes());
        out.extend_from_slice(&self.kind.to_le_bytes());
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes()); // addr
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
        out.extend_from_slice(&self.link.to_le_bytes());
        out.extend_from_slice(&self.info.to_le_bytes());
        out.extend_from_slice(&self.align.to_le_bytes());
        out.extend_from_slice(&self.entsize.to_le_bytes());
    }

    fn data<'a>(&self, d: &'a [u8]) -> Option<&'a [u8]> {
        let start = usize::try_from(self.offset).ok()?;
        let end = start.checked_add(usize::try_from(self.size).ok()?)?;
        d.get(start..end)
    }
}

fn name_of(strtab: &[u8], off: u32) -> &str {
    crate::elf::cstr_at(strtab, off as usize).unwrap_or("")
}

fn is_maps(name: &str) -> bool {
    name == ".maps" || name.starts_with(".maps.")
}

fn align8(v: &mut Vec<u8>) {
    while v.len() % 8 != 0 {
        v.push(0);
    }
}

/// Returns the object libbpf can open: `bytes` itself when it has no
/// `.maps.<keyword>` section, else a rewritten copy.
pub fn normalize<'a>(bytes: &'a [u8], what: &str) -> Result<Cow<'a, [u8]>> {
    let bad = |r: &str| Error::elf(what, r);
    let elf = crate::elf::Elf::parse(bytes, what)?;
    if !elf.sections.iter().any(|s| s.name.starts_with(".maps.")) {
        return Ok(Cow::Borrowed(bytes));
    }
    let shoff = u64_at(bytes, 40).ok_or_else(|| bad("truncated header"))? as usize;
    let shnum = u16_at(bytes, 60).ok_or_else(|| bad("truncated header"))? as usize;
    let shstrndx = u16_at(bytes, 62).ok_or_else(|| bad("truncated header"))? as usize;
    if u16_at(bytes, 58) != Some(64) {
        return Err(bad("section header entries are not 64 bytes"));
    }
    if shnum + 3 >= 0xff00 {
        return Err(bad("too many sections to add the merged .maps section"));
    }
    let mut shdrs = Vec::with_capacity(shnum);
    for i in 0..shnum {
        shdrs.push(Shdr::read(bytes, shoff + i * 64).ok_or_else(|| bad("truncated section header"))?);
    }
    let shstr = shdrs.get(shstrndx).and_then(|s| s.data(bytes)).ok_or_else(|| bad("bad section name table"))?.to_vec();
    let names: Vec<String> = shdrs.iter().map(|s| name_of(&shstr, s.name).to_string()).collect();

    let mut out = bytes.to_vec();
    align8(&mut out);
    let mut new_shstr = shstr.clone();
    let mut add_name = |n: &str| {
        let off = new_shstr.len() as u32;
        new_shstr.extend_from_slice(n.as_bytes());
        new_shstr.push(0);
        off
    };

    // 1. merged .maps data; base offset of every old .maps* section in it
    let maps_idx = shdrs.len();
    let mut merged = Vec::new();
    let mut base = vec![None; shdrs.len()];
    for (i, s) in shdrs.iter().enumerate() {
        if !is_maps(&names[i]) || s.kind == SHT_REL {
            continue;
        }
        align8(&mut merged);
        base[i] = Some(merged.len() as u64);
        merged.extend_from_slice(s.data(bytes).ok_or_else(|| bad(&format!("section {} is truncated", names[i])))?);
    }
    // 2. merged .rel.maps (relocations inside map definitions: map-in-map, prog arrays)
    let mut rels = Vec::new();
    let mut rel_link = 0;
    for (i, s) in shdrs.iter().enumerate() {
        let target = s.info as usize;
        if s.kind != SHT_REL || target >= shdrs.len() || base[target].is_none() {
            continue;
        }
        let data = s.data(bytes).ok_or_else(|| bad(&format!("section {} is truncated", names[i])))?;
        rel_link = s.link;
        let shift = base[target].unwrap_or(0);
        for r in data.chunks_exact(REL_SIZE) {
            let off = u64_at(r, 0).unwrap_or(0).wrapping_add(shift);
            rels.extend_from_slice(&off.to_le_bytes());
            rels.extend_from_slice(&r[8..16]);
        }
    }
    // 3. move map symbols into the new section
    let symtab = shdrs.iter().position(|s| s.kind == SHT_SYMTAB).ok_or_else(|| bad("no symbol table"))?;
    let sym_start = shdrs[symtab].offset as usize;
    let sym_len = shdrs[symtab].size as usize;
    if sym_start.checked_add(sym_len).is_none_or(|e| e > bytes.len()) {
        return Err(bad("symbol table is truncated"));
    }
    for off in (sym_start..sym_start + sym_len).step_by(SYM_SIZE) {
        if off + SYM_SIZE > sym_start + sym_len {
            break;
        }
        let shndx = u16_at(&out, off + 6).unwrap_or(0) as usize;
        let info = out[off + 4];
        let Some(Some(b)) = base.get(shndx) else { continue };
        if info & 0xf == 3 {
            continue; // STT_SECTION symbol of the old section: leave it
        }
        let value = u64_at(&out, off + 8).unwrap_or(0).wrapping_add(*b);
        out[off + 6..off + 8].copy_from_slice(&(maps_idx as u16).to_le_bytes());
        out[off + 8..off + 16].copy_from_slice(&value.to_le_bytes());
    }
    // 4. BTF: one .maps DATASEC
    let btf_idx = names.iter().position(|n| n == ".BTF").ok_or_else(|| Error::btf(what, "no .BTF section"))?;
    let btf_data = shdrs[btf_idx].data(bytes).ok_or_else(|| bad(".BTF is truncated"))?;
    let new_btf = merge_map_datasecs(btf_data, what)?;

    // 5. rename old sections, append new ones
    for (i, s) in shdrs.iter_mut().enumerate() {
        let targets_maps = s.kind == SHT_REL && base.get(s.info as usize).is_some_and(Option::is_some);
        if base[i].is_some() || targets_maps {
            s.name = add_name(&format!(".bee.normalized{}", names[i]));
        }
    }
    let maps_name = add_name(".maps");
    let rel_name = add_name(".rel.maps");
    let shstr_name = add_name(".shstrtab");

    let append = |out: &mut Vec<u8>, data: &[u8]| {
        align8(out);
        let off = out.len() as u64;
        out.extend_from_slice(data);
        off
    };
    let maps_off = append(&mut out, &merged);
    shdrs.push(Shdr {
        name: maps_name,
        kind: 1,  // PROGBITS
        flags: 3, // WRITE | ALLOC
        offset: maps_off,
        size: merged.len() as u64,
        link: 0,
        info: 0,
        align: 8,
        entsize: 0,
    });
    if !rels.is_empty() {
        let off = append(&mut out, &rels);
        shdrs.push(Shdr {
            name: rel_name,
            kind: SHT_REL,
            flags: 0x40, // INFO_LINK
            offset: off,
            size: rels.len() as u64,
            link: rel_link,
            info: maps_idx as u32,
            align: 8,
            entsize: REL_SIZE as u64,
        });
    }
    let btf_off = append(&mut out, &new_btf);
    shdrs[btf_idx].offset = btf_off;
    shdrs[btf_idx].size = new_btf.len() as u64;
    let new_shstr_idx = shdrs.len();
    let shstr_off = append(&mut out, &new_shstr);
    shdrs.push(Shdr {
        name: shstr_name,
        kind: 3, // STRTAB
        flags: 0,
        offset: shstr_off,
        size: new_shstr.len() as u64,
        link: 0,
        info: 0,
        align: 1,
        entsize: 0,
    });
    align8(&mut out);
    let new_shoff = out.len() as u64;
    for s in &shdrs {
        s.write(&mut out);
    }
    out[40..48].copy_from_slice(&new_shoff.to_le_bytes());
    out[60..62].copy_from_slice(&(shdrs.len() as u16).to_le_bytes());
    out[62..64].copy_from_slice(&(new_shstr_idx as u16).to_le_bytes());
    Ok(Cow::Owned(out))
}

/// Rewrites raw BTF so that every `.maps*` DATASEC is one `.maps` DATASEC
/// (at the id of the first one); the others become `const void`.
pub fn merge_map_datasecs(data: &[u8], what: &str) -> Result<Vec<u8>> {
    let btf = Btf::parse(data, what)?;
    let ids: Vec<usize> = btf
        .types
        .iter()
        .enumerate()
        .filter(|(_, t)| matches!(t.kind, Kind::Datasec { .. }) && is_maps(&t.name))
        .map(|(i, _)| i)
        .collect();
    let Some(&first) = ids.first() else { return Ok(data.to_vec()) };
    let mut strings = btf.string_data.clone();
    let name_off = match find_string(&strings, ".maps") {
        Some(o) => o,
        None => {
            let o = strings.len();
            strings.extend_from_slice(b".maps\0");
            o
        }
    };
    let mut vars = Vec::new();
    for &i in &ids {
        if let Kind::Datasec { vars: v, .. } = &btf.types[i].kind {
            vars.extend(v.iter().map(|v| (v.type_id, v.size)));
        }
    }
    if vars.len() > 0xffff {
        return Err(Error::btf(what, "too many maps"));
    }
    let mut types = Vec::with_capacity(btf.type_data.len() + 12 * vars.len());
    for (i, t) in btf.types.iter().enumerate().skip(1) {
        if i == first {
            types.extend_from_slice(&(name_off as u32).to_le_bytes());
            types.extend_from_slice(&(BTF_KIND_DATASEC << 24 | vars.len() as u32).to_le_bytes());
            types.extend_from_slice(&0u32.to_le_bytes()); // size 0: libbpf fills it in
            for (type_id, size) in &vars {
                types.extend_from_slice(&type_id.to_le_bytes());
                types.extend_from_slice(&0u32.to_le_bytes()); // offset: libbpf fixes it from the symbol
                types.extend_from_slice(&size.to_le_bytes());
            }
        } else if ids.contains(&i) {
            types.extend_from_slice(&0u32.to_le_bytes());
            types.extend_from_slice(&(BTF_KIND_CONST << 24).to_le_bytes());
            types.extend_from_slice(&0u32.to_le_bytes());
        } else {
            let raw = btf.type_data.get(t.raw.clone()).ok_or_else(|| Error::btf(what, "type record out of range"))?;
            types.extend_from_slice(raw);
        }
    }
    let hdr_len = btf.hdr_len;
    let mut out = Vec::with_capacity(hdr_len + types.len() + strings.len());
    out.extend_from_slice(&data[..hdr_len.min(data.len())]);
    out.resize(hdr_len, 0);
    // header: magic/version/flags/hdr_len kept; type_off, type_len, str_off, str_len rewritten
    out[8..12].copy_from_slice(&0u32.to_le_bytes());
    out[12..16].copy_from_slice(&(types.len() as u32).to_le_bytes());
    out[16..20].copy_from_slice(&(types.len() as u32).to_le_bytes());
    out[20..24].copy_from_slice(&(strings.len() as u32).to_le_bytes());
    out.extend_from_slice(&types);
    out.extend_from_slice(&strings);
    Ok(out)
}

fn find_string(strings: &[u8], s: &str) -> Option<usize> {
    let mut off = 0;
    for part in strings.split(|&b| b == 0) {
        if part == s.as_bytes() {
            return Some(off);
        }
        off += part.len() + 1;
    }
    None
}
