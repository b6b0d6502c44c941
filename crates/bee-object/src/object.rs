//! An object as beed sees it before libbpf does: its sections and BTF, once
//! its map and program types are known to be ones beed supports, and its
//! watched maps with their decode plans.

use crate::btf::Btf;
use crate::convention::Output;
use crate::elf::Elf;
use crate::error::{Error, Result};
use crate::schema::{self, Plan};

/// `enum bpf_map_type` numbers beed watches.
pub mod map_type {
    pub const HASH: u32 = 1;
    pub const ARRAY: u32 = 2;
    pub const PERF_EVENT_ARRAY: u32 = 4;
    pub const PERCPU_HASH: u32 = 5;
    pub const PERCPU_ARRAY: u32 = 6;
    pub const LRU_HASH: u32 = 9;
    pub const LRU_PERCPU_HASH: u32 = 10;
    pub const RINGBUF: u32 = 27;
    /// Maps walked on a timer.
    pub const KEYED: [u32; 6] = [HASH, ARRAY, PERCPU_HASH, PERCPU_ARRAY, LRU_HASH, LRU_PERCPU_HASH];
}

/// Name of the map a probe counts its own drops in.
pub const LOST_MAP: &str = "beed_lost";

/// What a watched map looks like before libbpf loads anything.
#[derive(Debug, Clone)]
pub struct MapSpec {
    pub name: String,
    pub output: Output,
    /// `enum bpf_map_type` from the definition.
    pub map_type: Option<u32>,
    pub key: Option<Plan>,
    pub value: Option<Plan>,
}

impl MapSpec {
    /// Checks that the map can be watched: a ring buffer or perf event
    /// array with a value type, or a keyed map with key and value types
    /// (one number as value for metric outputs). Returns the value plan.
    pub fn check_watchable(&self) -> Result<&Plan> {
        let err = |reason: String| Error::Map { map: self.name.clone(), reason };
        let value = self
            .value
            .as_ref()
            .ok_or_else(|| err("has no BTF value type: declare it with __type(value, struct your_event)".into()))?;
        match self.map_type {
            Some(map_type::RINGBUF | map_type::PERF_EVENT_ARRAY) => {}
            Some(t) if map_type::KEYED.contains(&t) => {
                if self.key.is_none() {
                    return Err(err("has no BTF key type: declare it with __type(key, ...)".into()));
                }
                if self.output != Output::Print {
                    let numeric = value.fields.len() == 1 && value.fields[0].kind.is_numeric();
                    if !numeric {
                        return Err(err(format!(
                            "a {} map's value must be one number (u64, s64, duration, ...), not {}",
                            self.output, value.type_name
                        )));
                    }
                }
            }
            other => {
                return Err(err(format!(
                    "map type {} cannot be watched (use RINGBUF, PERF_EVENT_ARRAY, HASH, LRU_HASH, ARRAY or their per-CPU variants)",
                    other.map_or("(none)".to_string(), crate::validate::map_type_name)
                )))
            }
        }
        Ok(value)
    }

    /// Whether records arrive through a ring buffer or perf buffer (else
    /// the map is walked).
    pub fn is_event_map(&self) -> bool {
        matches!(self.map_type, Some(map_type::RINGBUF | map_type::PERF_EVENT_ARRAY))
    }
}

/// Reads the watched maps and their plans from an object's BTF, without
/// touching the kernel.
pub fn inspect(bytes: &[u8], what: &str) -> Result<Vec<MapSpec>> {
    let (_, btf) = parse_object(bytes, what)?;
    specs_of(&btf)
}

/// The object's ELF sections and BTF, once its map and program types are
/// known to be ones beed supports.
pub fn parse_object<'a>(bytes: &'a [u8], what: &str) -> Result<(Elf<'a>, Btf)> {
    let elf = Elf::parse(bytes, what)?;
    let Some(btf_data) = elf.section_data(".BTF") else {
        return Err(Error::btf(what, "the object has no .BTF section: compile with clang -g"));
    };
    let btf = Btf::parse(btf_data, what)?;
    crate::validate::check(&elf, &btf, what)?;
    Ok((elf, btf))
}

/// The watched maps (named by the convention) of an object's BTF.
pub fn specs_of(btf: &Btf) -> Result<Vec<MapSpec>> {
    let mut specs = Vec::new();
    for def in schema::map_defs(btf)? {
        let Some(output) = Output::of_map(&def.name, &def.section) else { continue };
        let value = match def.value {
            Some(v) => Some(schema::plan(btf, v, &def.name, "value")?),
            None => None,
        };
        let key = match def.key {
            Some(k) => Some(schema::plan(btf, k, &def.name, "key")?),
            None => None,
        };
        specs.push(MapSpec { name: def.name, output, map_type: def.map_type, key, value });
    }
    Ok(specs)
}
