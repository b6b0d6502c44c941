//! In-kernel parameters: `const volatile` globals (`.rodata`) set from
//! `[probes.NAME.vars]` before the object is loaded, checked against BTF.

use std::collections::BTreeMap;

use crate::btf::{Btf, Kind};
use crate::elf::Elf;
use crate::error::{Error, Result};

/// A value to set a variable to, as a front end read it (from TOML, a
/// command line, ...).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Str(String),
    /// Anything else, by the name of its type in the source (`float`,
    /// `array`, ...): always refused, with that name in the message.
    Other(String),
}

impl Value {
    fn type_str(&self) -> &str {
        match self {
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Str(_) => "string",
            Value::Other(t) => t,
        }
    }
}

/// A variable of `.rodata` that config can set.
#[derive(Debug, Clone)]
pub struct RodataVar {
    pub name: String,
    pub offset: usize,
    pub size: usize,
    pub type_id: u32,
}

fn err(probe: &str, var: &str, reason: impl Into<String>) -> Error {
    Error::Setting { what: format!("probes.{probe}.vars.{var}"), reason: reason.into() }
}

/// The `.rodata` variables of an object (from its symbols and BTF).
pub fn rodata_vars(elf: &Elf<'_>, btf: &Btf) -> Vec<RodataVar> {
    let Some(rodata) = elf.section_index(".rodata") else { return Vec::new() };
    let syms = elf.symbols();
    let mut out = Vec::new();
    for t in &btf.types {
        let Kind::Datasec { vars, .. } = &t.kind else { continue };
        if t.name != ".rodata" {
            continue;
        }
        for v in vars {
            let Some(var) = btf.get(v.type_id) else { continue };
            let Kind::Var { type_id, .. } = var.kind else { continue };
            let Some(sym) = syms.iter().find(|s| s.name == var.name && s.section == rodata) else { continue };
            out.push(RodataVar {
                name: var.name.clone(),
                offset: sym.value as usize,
                size: btf.size_of(type_id).unwrap_or(sym.size) as usize,
                type_id,
            });
        }
    }
    out
}

/// Encodes `value` for variable `var`, checking type and range.
pub fn encode(btf: &Btf, probe: &str, var: &RodataVar, value: &Value) -> Result<Vec<u8>> {
    let e = |r: String| err(probe, &var.name, r);
    let id = btf.resolve(var.type_id).ok_or_else(|| e("unresolvable type".into()))?;
    let t = btf.get(id).ok_or_else(|| e("dangling type".into()))?;
    match (&t.kind, value) {
        (Kind::Int { is_bool: true, size, .. }, Value::Bool(b)) => {
            let mut v = vec![0u8; *size as usize];
            if let Some(first) = v.first_mut() {
                *first = u8::from(*b);
            }
            Ok(v)
        }
        (Kind::Int { size, signed, is_bool: false, .. }, Value::Int(i)) => {
            int_bytes(*i, *size, *signed).ok_or_else(|| {
                e(format!(
                    "{i} does not fit in a {}{}-bit integer",
                    if *signed { "signed " } else { "unsigned " },
                    size * 8
                ))
            })
        }
        (Kind::Int { size, .. }, Value::Bool(b)) => {
            int_bytes(i64::from(*b), *size, false).ok_or_else(|| e("does not fit".into()))
        }
        (Kind::Enum { size, values, .. }, Value::Str(s)) => {
            let v = values.iter().find(|v| v.name == *s).ok_or_else(|| {
                let names: Vec<&str> = values.iter().map(|v| v.name.as_str()).collect();
                e(format!("`{s}` is not one of {}", names.join(", ")))
            })?;
            int_bytes(v.value, *size, true).ok_or_else(|| e("enum value does not fit".into()))
        }
        (Kind::Enum { size, signed, .. }, Value::Int(i)) => {
            int_bytes(*i, *size, *signed).ok_or_else(|| e(format!("{i} does not fit")))
        }
        (Kind::Array { elem, len }, Value::Str(s)) => {
            let is_char = btf
                .resolve(*elem)
                .and_then(|x| btf.get(x))
                .is_some_and(|x| matches!(x.kind, Kind::Int { size: 1, .. }));
            if !is_char {
                return Err(e("only char arrays can be set from a string".into()));
            }
            if s.len() >= *len as usize {
                return Err(e(format!("string of {} bytes does not fit in char[{len}] with its NUL", s.len())));
            }
            let mut v = vec![0u8; *len as usize];
            v[..s.len()].copy_from_slice(s.as_bytes());
            Ok(v)
        }
        (kind, value) => Err(e(format!(
            "cannot set a {} from a TOML {}",
            match kind {
                Kind::Int { is_bool: true, .. } => "bool",
                Kind::Int { .. } => "integer",
                Kind::Enum { .. } => "enum",
                Kind::Array { .. } => "array",
                Kind::Struct { .. } => "struct",
                Kind::Float { .. } => "float",
                _ => "value of this type",
            },
            value.type_str()
        ))),
    }
}

fn int_bytes(i: i64, size: u32, signed: bool) -> Option<Vec<u8>> {
    if !matches!(size, 1 | 2 | 4 | 8) {
        return None;
    }
    let bits = size * 8;
    let ok = match (signed, bits) {
        (_, 64) if signed => true,
        (false, 64) => i >= 0,
        (true, b) if b < 64 => i >= -(1i64 << (b - 1)) && i < (1i64 << (b - 1)),
        (false, b) if b < 64 => i >= 0 && i < (1i64 << b),
        _ => false,
    };
    ok.then(|| i.to_le_bytes()[..size as usize].to_vec())
}

/// Resolves every configured variable to (offset, bytes).
pub fn plan(elf: &Elf<'_>, btf: &Btf, probe: &str, wanted: &BTreeMap<String, Value>) -> Result<Vec<(usize, Vec<u8>)>> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let vars = rodata_vars(elf, btf);
    let mut out = Vec::new();
    for (name, value) in wanted {
        let var = vars.iter().find(|v| v.name == *name).ok_or_else(|| {
            let known: Vec<&str> = vars.iter().map(|v| v.name.as_str()).collect();
            err(
                probe,
                name,
                format!(
                    "the object has no `const volatile` variable `{name}` (it has: {})",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ),
            )
        })?;
        let bytes = encode(btf, probe, var, value)?;
        if bytes.len() > var.size {
            return Err(err(probe, name, "value larger than the variable"));
        }
        out.push((var.offset, bytes));
    }
    Ok(out)
}
