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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testbtf::{BtfBuilder, BOOL, CHAR, SIGNED};

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    /// One variable of every kind config can set, and a few it cannot.
    struct Vars {
        btf: Btf,
        ids: BTreeMap<&'static str, u32>,
    }

    fn vars() -> Result<Vars> {
        let mut b = BtfBuilder::default();
        let mut ids = BTreeMap::new();
        ids.insert("bool", b.int("_Bool", 1, BOOL));
        for (size, unsigned, signed) in [(1, "u8", "i8"), (2, "u16", "i16"), (4, "u32", "i32"), (8, "u64", "i64")] {
            ids.insert(unsigned, b.int(unsigned, size, 0));
            ids.insert(signed, b.int(signed, size, SIGNED));
        }
        let chr = b.int("char", 1, SIGNED | CHAR);
        ids.insert("comm", b.array(chr, 8));
        let u32_ = ids.get("u32").copied().unwrap_or_default();
        ids.insert("ints", b.array(u32_, 2));
        ids.insert("mode", b.enumeration("mode", 4, false, &[("OFF", 0), ("FAST", 2)]));
        ids.insert("small", b.enumeration("small", 1, true, &[("NEG", -1)]));
        ids.insert("dbl", b.float("double", 8));
        ids.insert("st", b.structure("st", 4, &[("x", u32_, 0)]));
        // `const volatile` as clang writes it
        let c = b.constant(u32_);
        ids.insert("cv", b.volatile(c));
        Ok(Vars { btf: b.parse()?, ids })
    }

    impl Vars {
        fn encode(&self, ty: &str, value: Value) -> std::result::Result<Vec<u8>, String> {
            let type_id = self.ids.get(ty).copied().ok_or_else(|| format!("no type {ty}"))?;
            let var = RodataVar { name: "v".into(), offset: 0, size: 8, type_id };
            encode(&self.btf, "p", &var, &value).map_err(|e| e.to_string())
        }
    }

    #[test]
    fn booleans() -> TestResult {
        let v = vars()?;
        assert_eq!(v.encode("bool", Value::Bool(true))?, vec![1]);
        assert_eq!(v.encode("bool", Value::Bool(false))?, vec![0]);
        // an integer variable takes a boolean as 0 or 1
        assert_eq!(v.encode("u32", Value::Bool(true))?, vec![1, 0, 0, 0]);
        assert_eq!(
            v.encode("bool", Value::Int(1)),
            Err("probes.p.vars.v: cannot set a bool from a TOML integer".into())
        );
        Ok(())
    }

    #[test]
    fn integers_at_their_limits() -> TestResult {
        let v = vars()?;
        let ok = |ty: &str, i: i64| v.encode(ty, Value::Int(i));
        assert_eq!(ok("u8", 255)?, vec![255]);
        assert_eq!(ok("u8", 0)?, vec![0]);
        assert_eq!(ok("i8", -128)?, vec![0x80]);
        assert_eq!(ok("i8", 127)?, vec![0x7f]);
        assert_eq!(ok("u16", 65535)?, vec![0xff, 0xff]);
        assert_eq!(ok("i16", -32768)?, vec![0x00, 0x80]);
        assert_eq!(ok("u32", u32::MAX.into())?, vec![0xff; 4]);
        assert_eq!(ok("i32", i32::MIN.into())?, i32::MIN.to_le_bytes().to_vec());
        assert_eq!(ok("i64", i64::MIN)?, i64::MIN.to_le_bytes().to_vec());
        assert_eq!(ok("i64", i64::MAX)?, i64::MAX.to_le_bytes().to_vec());
        assert_eq!(ok("u64", i64::MAX)?, i64::MAX.to_le_bytes().to_vec());
        assert_eq!(ok("cv", 7)?, vec![7, 0, 0, 0], "through const and volatile");
        for (ty, i, what) in [
            ("u8", 256, "unsigned 8"),
            ("u8", -1, "unsigned 8"),
            ("i8", 128, "signed 8"),
            ("i8", -129, "signed 8"),
            ("u16", 65536, "unsigned 16"),
            ("i16", 32768, "signed 16"),
            ("u32", 1 << 32, "unsigned 32"),
            ("i32", i64::from(i32::MIN) - 1, "signed 32"),
            ("u64", -1, "unsigned 64"),
        ] {
            assert_eq!(ok(ty, i), Err(format!("probes.p.vars.v: {i} does not fit in a {what}-bit integer")), "{ty}");
        }
        Ok(())
    }

    #[test]
    fn enums_by_name_and_by_number() -> TestResult {
        let v = vars()?;
        assert_eq!(v.encode("mode", Value::Str("FAST".into()))?, vec![2, 0, 0, 0]);
        assert_eq!(v.encode("mode", Value::Int(5))?, vec![5, 0, 0, 0], "numbers need not be enumerators");
        assert_eq!(v.encode("small", Value::Str("NEG".into()))?, vec![0xff]);
        assert_eq!(
            v.encode("mode", Value::Str("SLOW".into())),
            Err("probes.p.vars.v: `SLOW` is not one of OFF, FAST".into())
        );
        assert_eq!(v.encode("mode", Value::Int(-1)), Err("probes.p.vars.v: -1 does not fit".into()));
        assert_eq!(v.encode("small", Value::Int(200)), Err("probes.p.vars.v: 200 does not fit".into()));
        Ok(())
    }

    #[test]
    fn strings_need_room_for_their_nul() -> TestResult {
        let v = vars()?;
        assert_eq!(v.encode("comm", Value::Str("bash".into()))?, b"bash\0\0\0\0".to_vec());
        assert_eq!(v.encode("comm", Value::Str("1234567".into()))?, b"1234567\0".to_vec());
        assert_eq!(v.encode("comm", Value::Str(String::new()))?, vec![0; 8]);
        assert_eq!(
            v.encode("comm", Value::Str("12345678".into())),
            Err("probes.p.vars.v: string of 8 bytes does not fit in char[8] with its NUL".into())
        );
        assert_eq!(
            v.encode("ints", Value::Str("ab".into())),
            Err("probes.p.vars.v: only char arrays can be set from a string".into())
        );
        Ok(())
    }

    #[test]
    fn wrong_types_name_both_sides() -> TestResult {
        let v = vars()?;
        for (ty, value, want) in [
            ("u32", Value::Str("1".into()), "cannot set a integer from a TOML string"),
            ("comm", Value::Int(1), "cannot set a array from a TOML integer"),
            ("mode", Value::Bool(true), "cannot set a enum from a TOML boolean"),
            ("st", Value::Int(1), "cannot set a struct from a TOML integer"),
            ("dbl", Value::Int(1), "cannot set a float from a TOML integer"),
            ("u32", Value::Other("float".into()), "cannot set a integer from a TOML float"),
            ("bool", Value::Other("datetime".into()), "cannot set a bool from a TOML datetime"),
            ("comm", Value::Other("array".into()), "cannot set a array from a TOML array"),
        ] {
            assert_eq!(v.encode(ty, value), Err(format!("probes.p.vars.v: {want}")), "{ty}");
        }
        Ok(())
    }
}
