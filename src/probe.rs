//! Probe lifecycle: read the object, find its watched maps and their decode
//! plans in BTF, open it with libbpf (CO-RE), load, attach every program.

use std::path::PathBuf;
use std::time::Duration;

use libbpf_rs::{MapCore, MapHandle, MapType, Object, ObjectBuilder};

use crate::btf::Btf;
use crate::config::{MapConfig, ProbeConfig, ProbeSource};
use crate::convention::Output;
use crate::elf::Elf;
use crate::error::{Error, Result};
use crate::logging::capture_libbpf;
use crate::schema::{self, Plan};
use crate::sinks::labels;

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
    links: Vec<crate::attach::Attachment>,
    object: Object,
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
    /// `enum bpf_map_type` from the definition.
    pub map_type: Option<u32>,
    pub key: Option<Plan>,
    pub value: Option<Plan>,
}

/// Reads the watched maps and their plans from an object's BTF, without
/// touching the kernel (used at load and by tests/tools).
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
        specs.push(MapSpec { name: def.name, output, map_type: def.map_type, key, value });
    }
    Ok(specs)
}

/// Largest probe object (or `btf_path` file) beed reads: a probe's object
/// is kilobytes, a kernel's whole BTF some megabytes.
pub const MAX_OBJECT_BYTES: u64 = 256 << 20;

fn object_bytes(cfg: &ProbeConfig) -> Result<(std::borrow::Cow<'static, [u8]>, String)> {
    match &cfg.source {
        ProbeSource::Builtin(b) => Ok(((*b).into(), format!("built-in probe {}", cfg.name))),
        ProbeSource::File(p) => {
            let bytes = crate::fsread::read_regular(p, MAX_OBJECT_BYTES)
                .map_err(|cause| Error::Io { path: p.clone(), cause })?;
            Ok((bytes.into(), p.display().to_string()))
        }
    }
}

/// `enum bpf_map_type` numbers beed watches.
const RINGBUF: u32 = 27;
const PERF_EVENT_ARRAY: u32 = 4;
const KEYED: [u32; 6] = [1, 2, 5, 6, 9, 10]; // HASH, ARRAY, PERCPU_HASH, PERCPU_ARRAY, LRU_HASH, LRU_PERCPU_HASH

/// A probe whose configuration was checked against its object, without the
/// kernel: everything `--check-config` can know.
pub struct Checked {
    what: String,
    /// The object as libbpf gets it (section-suffix spelling merged).
    bytes: Vec<u8>,
    specs: Vec<MapSpec>,
    var_writes: Vec<(usize, Vec<u8>)>,
}

impl Checked {
    /// The watched maps.
    pub fn specs(&self) -> &[MapSpec] {
        &self.specs
    }

    /// The object, as a path or `built-in probe NAME`.
    pub fn what(&self) -> &str {
        &self.what
    }
}

/// Checks a probe's configuration against its object: supported map and
/// program types, watched maps and their types, every `[probes.NAME.maps]`,
/// `vars` and `attach` name, label, value and slot fields, map sizes.
pub fn check(cfg: &ProbeConfig) -> Result<Checked> {
    let (bytes, what) = object_bytes(cfg)?;
    if let Some(b) = &cfg.btf_path {
        // libbpf reads it with blocking, unbounded reads: make sure it is a file
        crate::fsread::read_regular(b, MAX_OBJECT_BYTES).map_err(|cause| Error::Io { path: b.clone(), cause })?;
    }
    let (elf, btf) = parse_object(&bytes, &what)?;
    let specs = specs_of(&btf)?;
    let defs = schema::map_defs(&btf)?;
    for (name, mc) in &cfg.maps {
        let setting = |reason: String| Error::Setting { what: format!("probes.{}.maps.{name}", cfg.name), reason };
        let watched = specs.iter().find(|s| s.name == *name);
        let only_size = MapConfig { max_entries: None, ..mc.clone() } == MapConfig::default();
        if watched.is_none() && !(only_size && defs.iter().any(|d| d.name == *name)) {
            let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            return Err(setting(format!(
                "the object has no watched map `{name}` (watched maps: {}{})",
                known.join(", "),
                if only_size { "; max_entries may name any map" } else { "" }
            )));
        }
        if let (Some(n), Some(def)) = (mc.max_entries, defs.iter().find(|d| d.name == *name)) {
            if def.map_type == Some(RINGBUF) && !(n.is_power_of_two() && n >= 4096) {
                return Err(setting(format!(
                    "max_entries = {n}: a ring buffer's size is in bytes, a power of two and at least 4096"
                )));
            }
        }
    }
    for spec in &specs {
        let default_cfg = MapConfig::default();
        check_map(&cfg.name, spec, cfg.maps.get(&spec.name).unwrap_or(&default_cfg))?;
    }
    let programs = elf.programs();
    for prog in cfg.attach.keys() {
        if !programs.iter().any(|(p, _)| p == prog) {
            let known: Vec<&str> = programs.iter().map(|(p, _)| p.as_str()).collect();
            return Err(Error::Setting {
                what: format!("probes.{}.attach.{prog}", cfg.name),
                reason: format!("the object has no program `{prog}` (programs: {})", known.join(", ")),
            });
        }
    }
    let var_writes = crate::vars::plan(&elf, &btf, &cfg.name, &cfg.vars)?;
    if !var_writes.is_empty() && elf.section_index(".rodata").is_none() {
        return Err(Error::Setting {
            what: format!("probes.{}.vars", cfg.name),
            reason: "the object has no .rodata map to set `const volatile` variables in".into(),
        });
    }
    // section-suffix spelling (.maps.print, ...): merge into one .maps for libbpf
    let bytes = crate::normalize::normalize(&bytes, &what)?.into_owned();
    Ok(Checked { what, bytes, specs, var_writes })
}

/// Checks one watched map: its type, its key and value types, and its
/// settings (label, value and slot fields).
fn check_map(probe: &str, spec: &MapSpec, cfg: &MapConfig) -> Result<()> {
    let err = |reason: String| Error::Map { map: spec.name.clone(), reason };
    let value = spec
        .value
        .as_ref()
        .ok_or_else(|| err("has no BTF value type: declare it with __type(value, struct your_event)".into()))?;
    match spec.map_type {
        Some(RINGBUF | PERF_EVENT_ARRAY) => match spec.output {
            Output::Print => {}
            Output::Counter => {
                labels::select(&spec.name, value, cfg, &[])?;
            }
            output => {
                let v = labels::value_field(&spec.name, value, cfg, output)?;
                labels::select(&spec.name, value, cfg, &[v.name.as_str()])?;
            }
        },
        Some(t) if KEYED.contains(&t) => {
            let key =
                spec.key.as_ref().ok_or_else(|| err("has no BTF key type: declare it with __type(key, ...)".into()))?;
            if spec.output != Output::Print {
                let numeric = value.fields.len() == 1 && value.fields[0].kind.is_numeric();
                if !numeric {
                    return Err(err(format!(
                        "a {} map's value must be one number (u64, s64, duration, ...), not {}",
                        spec.output, value.type_name
                    )));
                }
            }
            match spec.output {
                Output::Print => {}
                Output::Hist => {
                    let slot = labels::slot_field(probe, &spec.name, key, cfg)?;
                    labels::select(&spec.name, key, cfg, &[slot.name.as_str()])?;
                }
                _ => {
                    labels::select(&spec.name, key, cfg, &[])?;
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
    Ok(())
}

/// Loads a checked probe into the kernel (verifier included) without
/// attaching anything: `--check-config --load`.
pub fn verify(cfg: &ProbeConfig, checked: &Checked) -> Result<()> {
    open_and_load(cfg, checked).map(drop)
}

/// Opens the checked object with libbpf, sizes its maps, sets its variables
/// and loads it.
fn open_and_load(cfg: &ProbeConfig, checked: &Checked) -> Result<Object> {
    let what = &checked.what;
    let mut builder = ObjectBuilder::default();
    builder.name(&cfg.name).map_err(|e| Error::libbpf(format!("{what}: naming object"), e))?;
    if let Some(btf) = &cfg.btf_path {
        builder.btf_custom_path(btf).map_err(|e| Error::libbpf(format!("{what}: btf_path {}", btf.display()), e))?;
    }
    let mut open =
        builder.open_memory(&checked.bytes).map_err(|e| Error::libbpf(format!("{what}: opening object"), e))?;

    // A bee ringbuf carries its event type as value, which the kernel refuses
    // for RINGBUF maps: keep the type (read from BTF above) and zero the size.
    // Same for a PERF_EVENT_ARRAY, whose key and value must be 4 bytes.
    let mut rodata_done = checked.var_writes.is_empty();
    let mut sizes = Vec::new();
    for mut m in open.maps_mut() {
        let name = m.name().to_string_lossy().into_owned();
        let sizing = |e| Error::libbpf(format!("map {name}: resizing for the kernel"), e);
        if let Some(n) = cfg.maps.get(&name).and_then(|c| c.max_entries) {
            m.set_max_entries(n).map_err(sizing)?;
        }
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
            for (off, val) in &checked.var_writes {
                let dst = off.checked_add(val.len()).and_then(|end| data.get_mut(*off..end)).ok_or_else(|| {
                    Error::Map { map: name.clone(), reason: format!("variable at offset {off} lies outside .rodata") }
                })?;
                dst.copy_from_slice(val);
            }
            rodata_done = true;
        }
        sizes.push((name, map_bytes(m.map_type(), m.key_size(), m.value_size(), m.max_entries())));
    }
    if !rodata_done {
        return Err(Error::Setting {
            what: format!("probes.{}.vars", cfg.name),
            reason: "the object has no .rodata map to set `const volatile` variables in".into(),
        });
    }

    let (loaded, log) = capture_libbpf(|| open.load());
    loaded.map_err(|e| load_error(cfg, checked, &sizes, &log, e))
}

/// Approximate kernel memory of a map, for messages.
fn map_bytes(t: MapType, key: u32, value: u32, entries: u32) -> u64 {
    match t {
        MapType::RingBuf => u64::from(entries),
        _ => (u64::from(key) + u64::from(value)).saturating_mul(u64::from(entries)),
    }
}

/// `16 MiB`, `512 KiB`, `100 B`.
fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// The error of a failed load, with the likeliest cause: a map the kernel
/// had no memory for, missing kernel BTF, a verifier rejection (with its
/// log), a program type the kernel lacks.
fn load_error(cfg: &ProbeConfig, checked: &Checked, sizes: &[(String, u64)], log: &str, e: libbpf_rs::Error) -> Error {
    let what = &checked.what;
    // libbpf: "map 'NAME': failed to create: -ENOMEM" (or E2BIG)
    let failed_map = log.lines().find_map(|l| {
        let rest = l.split("map '").nth(1)?;
        let (name, tail) = rest.split_once('\'')?;
        tail.contains("failed to create").then(|| name.to_string())
    });
    if let Some(map) = failed_map {
        let too_big = e.kind() == libbpf_rs::ErrorKind::TooBig || log.contains("E2BIG");
        if too_big || log.contains("ENOMEM") || e.kind() == libbpf_rs::ErrorKind::OutOfMemory {
            let bytes = sizes.iter().find(|(n, _)| *n == map).map_or(0, |(_, b)| *b);
            let reason = format!(
                "{what}: the kernel could not create it ({}, about {} of kernel memory): make it smaller with `max_entries = N` in [probes.{}.maps.{map}]",
                if too_big { "E2BIG: larger than the kernel allows" } else { "ENOMEM: not enough memory" },
                human_bytes(bytes),
                cfg.name,
            );
            return Error::Map { map, reason };
        }
    }
    let tail: Vec<&str> =
        log.lines().filter(|l| !l.contains("BPF token")).rev().take(12).collect::<Vec<_>>().into_iter().rev().collect();
    let section = log.lines().find_map(|l| l.split("prog '").nth(1).and_then(|s| s.split('\'').next())).unwrap_or("");
    let section_hint = if log.contains("failed to find valid kernel BTF") {
        format!(
            " (no kernel BTF: this kernel lacks /sys/kernel/btf/vmlinux; set `btf_path = \"/path/to/vmlinux.btf\"` in [probes.{}])",
            cfg.name
        )
    } else if log.contains("END PROG LOAD LOG") && !log.contains("Operation not permitted") {
        format!(" (the verifier rejected program {section}; its log follows)")
    } else {
        object_prog_section(&checked.bytes, section).map_or(String::new(), |s| crate::attach::hint(&s, &e, None))
    };
    Error::Libbpf {
        what: format!(
            "{what}: loading into the kernel failed{section_hint}{}{}",
            if tail.is_empty() { "" } else { "; libbpf/verifier log:\n  " },
            tail.join("\n  ")
        ),
        cause: e,
    }
}

/// Loads and attaches one probe.
pub fn load(cfg: &ProbeConfig) -> Result<Probe> {
    let mut probe = open(cfg)?;
    probe.attach(&cfg.attach)?;
    Ok(probe)
}

/// Loads one probe into the kernel (verifier included) without attaching
/// it: a reload loads the new version while the old one still runs.
pub fn open(cfg: &ProbeConfig) -> Result<Probe> {
    let checked = check(cfg)?;
    let object = open_and_load(cfg, &checked)?;
    let programs = object.progs().map(|p| p.name().to_string_lossy().into_owned()).collect();
    let maps = watched_maps(&object, checked.specs)?;
    let lost = lost_map(&object)?;
    Ok(Probe {
        lost,
        name: cfg.name.clone(),
        interval: cfg.interval,
        map_configs: cfg.maps.clone(),
        maps,
        programs,
        links: Vec::new(),
        object,
    })
}

impl Probe {
    /// Attaches every program (`attach` gives targets by program name).
    /// On failure nothing of this probe stays attached.
    pub fn attach(&mut self, attach: &std::collections::BTreeMap<String, crate::config::AttachConfig>) -> Result<()> {
        self.links.clear();
        for prog in self.object.progs_mut() {
            let name = prog.name().to_string_lossy().into_owned();
            let section = prog.section().to_string_lossy().into_owned();
            match crate::attach::attach(&prog, &section, attach.get(&name)) {
                Ok(l) => self.links.extend(l),
                Err(e) => {
                    self.links.clear();
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Detaches every program; the object and its maps stay loaded, so
    /// [`Probe::attach`] can resume where it stopped.
    pub fn detach(&mut self) {
        self.links.clear();
    }
}

/// The loaded watched maps, with handles of their own.
fn watched_maps(object: &Object, specs: Vec<MapSpec>) -> Result<Vec<WatchedMap>> {
    let mut maps = Vec::new();
    for spec in specs {
        let Some(map) = object.maps().find(|m| m.name().to_string_lossy() == spec.name) else {
            continue;
        };
        let err = |reason: &str| Error::Map { map: spec.name.clone(), reason: reason.to_string() };
        let value = spec.value.ok_or_else(|| err("has no BTF value type"))?;
        let map_type = map.map_type();
        let key = match map_type {
            MapType::RingBuf | MapType::PerfEventArray => None,
            _ => Some(spec.key.ok_or_else(|| err("has no BTF key type"))?),
        };
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
    Ok(maps)
}

/// The probe's `beed_lost` map, if it declares one.
fn lost_map(object: &Object) -> Result<Option<LostMap>> {
    match object.maps().find(|m| m.name() == LOST_MAP) {
        Some(m) if matches!(m.map_type(), MapType::Array | MapType::PercpuArray) && m.value_size() == 8 => {
            Ok(Some(LostMap {
                handle: MapHandle::try_from(&m)
                    .map_err(|e| Error::libbpf(format!("map {LOST_MAP}: duplicating its fd"), e))?,
                key_size: m.key_size(),
                value_size: m.value_size(),
                percpu: m.map_type() == MapType::PercpuArray,
            }))
        }
        Some(_) => {
            Err(Error::Map { map: LOST_MAP.into(), reason: "must be an ARRAY or PERCPU_ARRAY with u64 values".into() })
        }
        None => Ok(None),
    }
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
