//! Probe lifecycle: read the object, find its watched maps and their decode
//! plans in BTF, open it with libbpf (CO-RE), load, attach every program.

use std::path::PathBuf;
use std::time::Duration;

use libbpf_rs::{MapCore, MapHandle, MapType, Object, ObjectBuilder};

use crate::btf::Btf;
use crate::config::{ProbeConfig, ProbeSource};
use crate::convention::Output;
use crate::elf::Elf;
use crate::error::{Error, Result};
use crate::logging::capture_libbpf;
use crate::schema::{self, Plan};

/// A watched map of a loaded probe.
#[derive(Debug)]
pub struct WatchedMap {
    pub name: String,
    pub output: Output,
    pub map_type: MapType,
    /// Decode plan of the key (maps with keys only).
    pub key: Option<Plan>,
    /// Decode plan of the value (the event type for ringbufs).
    pub value: Plan,
    pub handle: MapHandle,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
}

/// A probe's `beed_lost` map.
#[derive(Debug)]
pub struct LostMap {
    pub handle: MapHandle,
    pub key_size: u32,
    pub value_size: u32,
    pub percpu: bool,
}

/// Name of the map a probe counts its own drops in.
pub const LOST_MAP: &str = "beed_lost";

/// A loaded and attached probe. Dropping it detaches and unloads it.
pub struct Probe {
    pub name: String,
    pub interval: Duration,
    pub map_configs: std::collections::BTreeMap<String, crate::config::MapConfig>,
    pub maps: Vec<WatchedMap>,
    pub programs: Vec<String>,
    /// The probe's own drop counter: an ARRAY or PERCPU_ARRAY named
    /// `beed_lost` whose u64 values count events the program could not
    /// submit (e.g. `bpf_ringbuf_reserve` failed); exported as
    /// `beed_events_lost_total{probe}`.
    pub lost: Option<LostMap>,
    _links: Vec<crate::attach::Attachment>,
    _object: Object,
}

impl Probe {
    /// The `[probes.NAME.maps.MAP]` settings of a map, if any.
    pub fn map_config(&self, map: &str) -> Option<&crate::config::MapConfig> {
        self.map_configs.get(map)
    }
}

/// What a watched map looks like before libbpf loads anything.
#[derive(Debug, Clone)]
pub struct MapSpec {
    pub name: String,
    pub output: Output,
    pub key: Option<Plan>,
    pub value: Option<Plan>,
}

/// Reads the watched maps and their plans from an object's BTF, without
/// touching the kernel (used at load and by tests/tools).
pub fn inspect(bytes: &[u8], what: &str) -> Result<Vec<MapSpec>> {
    let (_, btf) = parse_object(bytes, what)?;
    specs_of(&btf)
}

/// The object's ELF sections and BTF.
pub fn parse_object<'a>(bytes: &'a [u8], what: &str) -> Result<(Elf<'a>, Btf)> {
    let elf = Elf::parse(bytes, what)?;
    let Some(btf_data) = elf.section_data(".BTF") else {
        return Err(Error::btf(what, "the object has no .BTF section: compile with clang -g"));
    };
    let btf = Btf::parse(btf_data, what)?;
    Ok((elf, btf))
}

fn specs_of(btf: &Btf) -> Result<Vec<MapSpec>> {
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
        specs.push(MapSpec { name: def.name, output, key, value });
    }
    Ok(specs)
}

fn object_bytes(cfg: &ProbeConfig) -> Result<(std::borrow::Cow<'static, [u8]>, String)> {
    match &cfg.source {
        ProbeSource::Builtin(b) => Ok(((*b).into(), format!("built-in probe {}", cfg.name))),
        ProbeSource::File(p) => {
            let bytes = std::fs::read(p).map_err(|source| Error::Io { path: p.clone(), source })?;
            Ok((bytes.into(), p.display().to_string()))
        }
    }
}

/// Loads and attaches one probe.
pub fn load(cfg: &ProbeConfig) -> Result<Probe> {
    let (bytes, what) = object_bytes(cfg)?;
    let (elf, btf) = parse_object(&bytes, &what)?;
    let specs = specs_of(&btf)?;
    for name in cfg.maps.keys() {
        if !specs.iter().any(|s| s.name == *name) {
            let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            return Err(Error::Setting {
                what: format!("probes.{}.maps.{name}", cfg.name),
                reason: format!("the object has no watched map `{name}` (watched maps: {})", known.join(", ")),
            });
        }
    }
    let var_writes = crate::vars::plan(&elf, &btf, &cfg.name, &cfg.vars)?;
    // section-suffix spelling (.maps.print, ...): merge into one .maps for libbpf
    let bytes = crate::normalize::normalize(&bytes, &what)?;

    let mut builder = ObjectBuilder::default();
    builder.name(&cfg.name).map_err(|e| Error::libbpf(format!("{what}: naming object"), e))?;
    if let Some(btf) = &cfg.btf_path {
        builder.btf_custom_path(btf).map_err(|e| Error::libbpf(format!("{what}: btf_path {}", btf.display()), e))?;
    }
    let mut open = builder.open_memory(&bytes).map_err(|e| Error::libbpf(format!("{what}: opening object"), e))?;

    // A bee ringbuf carries its event type as value, which the kernel refuses
    // for RINGBUF maps: keep the type (read from BTF above) and zero the size.
    // Same for a PERF_EVENT_ARRAY, whose key and value must be 4 bytes.
    let mut rodata_done = var_writes.is_empty();
    for mut m in open.maps_mut() {
        let name = m.name().to_string_lossy().into_owned();
        let sizing = |e| Error::libbpf(format!("map {name}: resizing for the kernel"), e);
        if m.map_type() == MapType::RingBuf && m.value_size() != 0 {
            m.set_value_size(0).map_err(sizing)?;
        }
        if m.map_type() == MapType::PerfEventArray {
            if m.value_size() != 4 {
                m.set_value_size(4).map_err(sizing)?;
            }
            if m.key_size() != 4 {
                m.set_key_size(4).map_err(sizing)?;
            }
        }
        if !rodata_done && name.ends_with(".rodata") {
            let data = m.initial_value_mut().ok_or_else(|| Error::Map {
                map: name.clone(),
                reason: "has no initial value to set variables in".into(),
            })?;
            for (off, val) in &var_writes {
                let dst = data.get_mut(*off..off + val.len()).ok_or_else(|| Error::Map {
                    map: name.clone(),
                    reason: format!("variable at offset {off} lies outside .rodata"),
                })?;
                dst.copy_from_slice(val);
            }
            rodata_done = true;
        }
    }
    if !rodata_done {
        return Err(Error::Setting {
            what: format!("probes.{}.vars", cfg.name),
            reason: "the object has no .rodata map to set `const volatile` variables in".into(),
        });
    }

    let (loaded, log) = capture_libbpf(|| open.load());
    let object = loaded.map_err(|e| {
        let tail: Vec<&str> = log.lines().filter(|l| !l.contains("BPF token")).rev().take(12).collect::<Vec<_>>().into_iter().rev().collect();
        let section = log
            .lines()
            .find_map(|l| l.split("prog '").nth(1).and_then(|s| s.split('\'').next()))
            .unwrap_or("");
        let section_hint = if log.contains("failed to find valid kernel BTF") {
            format!(
                " (no kernel BTF: this kernel lacks /sys/kernel/btf/vmlinux; set `btf_path = \"/path/to/vmlinux.btf\"` in [probes.{}])",
                cfg.name
            )
        } else if log.contains("END PROG LOAD LOG") && !log.contains("Operation not permitted") {
            format!(" (the verifier rejected program {section}; its log follows)")
        } else {
            object_prog_section(&bytes, section).map_or(String::new(), |s| crate::attach::hint(&s, &e, None))
        };
        Error::Libbpf {
            what: format!(
                "{what}: loading into the kernel failed{section_hint}{}{}",
                if tail.is_empty() { "" } else { "; libbpf/verifier log:\n  " },
                tail.join("\n  ")
            ),
            source: e,
        }
    })?;

    for prog in cfg.attach.keys() {
        if !object.progs().any(|p| p.name().to_string_lossy() == *prog) {
            let known: Vec<String> = object.progs().map(|p| p.name().to_string_lossy().into_owned()).collect();
            return Err(Error::Setting {
                what: format!("probes.{}.attach.{prog}", cfg.name),
                reason: format!("the object has no program `{prog}` (programs: {})", known.join(", ")),
            });
        }
    }
    let mut links = Vec::new();
    let mut programs = Vec::new();
    for prog in object.progs_mut() {
        let name = prog.name().to_string_lossy().into_owned();
        let section = prog.section().to_string_lossy().into_owned();
        let attached = crate::attach::attach(&prog, &section, cfg.attach.get(&name))?;
        links.extend(attached);
        programs.push(name);
    }

    let mut maps = Vec::new();
    for spec in specs {
        let Some(map) = object.maps().find(|m| m.name().to_string_lossy() == spec.name) else {
            continue;
        };
        let map_type = map.map_type();
        let err = |reason: String| Error::Map { map: spec.name.clone(), reason };
        let value = spec
            .value
            .ok_or_else(|| err("has no BTF value type: declare it with __type(value, struct your_event)".into()))?;
        let key = match map_type {
            MapType::RingBuf | MapType::PerfEventArray => None,
            MapType::Hash | MapType::LruHash | MapType::Array | MapType::PercpuHash
            | MapType::LruPercpuHash | MapType::PercpuArray => Some(spec.key.ok_or_else(|| {
                err("has no BTF key type: declare it with __type(key, ...)".into())
            })?),
            other => {
                return Err(err(format!(
                    "map type {other:?} cannot be watched (use RINGBUF, PERF_EVENT_ARRAY, HASH, LRU_HASH, ARRAY or their per-CPU variants)"
                )))
            }
        };
        if key.is_some() && matches!(spec.output, Output::Counter | Output::Gauge | Output::Hist) {
            let numeric = value.fields.len() == 1 && value.fields[0].kind.is_numeric();
            if !numeric {
                return Err(err(format!(
                    "a {} map's value must be one number (u64, s64, duration, ...), not {}",
                    spec.output, value.type_name
                )));
            }
        }
        let handle = MapHandle::try_from(&map)
            .map_err(|e| Error::libbpf(format!("map {}: duplicating its fd", spec.name), e))?;
        maps.push(WatchedMap {
            name: spec.name,
            output: spec.output,
            map_type,
            key,
            value,
            key_size: map.key_size(),
            value_size: map.value_size(),
            max_entries: map.max_entries(),
            handle,
        });
    }

    let lost = match object.maps().find(|m| m.name() == LOST_MAP) {
        Some(m) if matches!(m.map_type(), MapType::Array | MapType::PercpuArray) && m.value_size() == 8 => {
            Some(LostMap {
                handle: MapHandle::try_from(&m)
                    .map_err(|e| Error::libbpf(format!("map {LOST_MAP}: duplicating its fd"), e))?,
                key_size: m.key_size(),
                value_size: m.value_size(),
                percpu: m.map_type() == MapType::PercpuArray,
            })
        }
        Some(_) => {
            return Err(Error::Map {
                map: LOST_MAP.into(),
                reason: "must be an ARRAY or PERCPU_ARRAY with u64 values".into(),
            })
        }
        None => None,
    };
    Ok(Probe {
        lost,
        name: cfg.name.clone(),
        interval: cfg.interval,
        map_configs: cfg.maps.clone(),
        maps,
        programs,
        _links: links,
        _object: object,
    })
}

/// The section of program `prog` in the object, for error hints.
fn object_prog_section(bytes: &[u8], prog: &str) -> Option<String> {
    if prog.is_empty() {
        return None;
    }
    let mut b = ObjectBuilder::default();
    let open = b.open_memory(bytes).ok()?;
    let s =
        open.progs().find(|p| p.name().to_string_lossy() == prog).map(|p| p.section().to_string_lossy().into_owned());
    s
}

/// Where a probe comes from, for status lines.
pub fn describe_source(cfg: &ProbeConfig) -> String {
    match &cfg.source {
        ProbeSource::Builtin(_) => "built-in".into(),
        ProbeSource::File(p) => PathBuf::from(p).display().to_string(),
    }
}
