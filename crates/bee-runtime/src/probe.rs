//! Probe lifecycle: read the object, find its watched maps and their decode
//! plans in BTF, open it with libbpf (CO-RE), load, attach every program.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::Duration;

use bee_object::convention::Output;
use bee_object::object::{map_type, specs_of, MapSpec};
use bee_object::schema::{self, Plan};
use bee_object::validate::section_kind;
use bee_object::{parse_object, LOST_MAP};
use libbpf_rs::{MapCore, MapHandle, MapType, Object, ObjectBuilder, OpenMapMut, OpenObject};

use crate::cause::{self, Code, Confinement, Facts, LoadCause};
use crate::error::{Error, LoadError, Result};
use crate::libbpf_log::capture_libbpf;
use crate::spec::{AttachTarget, ObjectSource, ProbeSpec};

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

/// A loaded and attached probe. Dropping it detaches and unloads it.
pub struct Probe {
    pub name: String,
    pub interval: Duration,
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

/// Largest probe object (or `btf_path` file) beed reads: a probe's object
/// is kilobytes, a kernel's whole BTF some megabytes.
pub const MAX_OBJECT_BYTES: u64 = 256 << 20;

/// A probe's object as read: its bytes and a name for messages (the path,
/// or `built-in probe NAME`).
pub struct ObjectBytes {
    what: String,
    bytes: Cow<'static, [u8]>,
}

impl ObjectBytes {
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn what(&self) -> &str {
        &self.what
    }
}

/// Reads a probe's object (a file is read once, bounded, and must be a
/// regular file; bytes are borrowed).
pub fn read_object(spec: &ProbeSpec) -> Result<ObjectBytes> {
    match &spec.object {
        ObjectSource::Bytes { bytes, .. } => {
            Ok(ObjectBytes { what: format!("built-in probe {}", spec.name), bytes: bytes.clone() })
        }
        ObjectSource::Image { reference, bytes } => {
            Ok(ObjectBytes { what: format!("image {reference}"), bytes: bytes.clone() })
        }
        ObjectSource::Unavailable { what, reason } => {
            Err(Error::Setting { what: what.clone(), reason: reason.clone() })
        }
        ObjectSource::File(p) => {
            let bytes = crate::fsread::read_regular(p, MAX_OBJECT_BYTES)
                .map_err(|cause| Error::Io { path: p.clone(), cause })?;
            Ok(ObjectBytes { what: p.display().to_string(), bytes: bytes.into() })
        }
    }
}

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

/// Checks a probe's specification against its object without the kernel:
/// supported map and program types, watched maps and their types, every
/// `max_entries`, `vars` and `attach` name.
pub fn check(spec: &ProbeSpec, object: &ObjectBytes) -> Result<Checked> {
    let what = object.what.clone();
    if let Some(b) = &spec.btf_path {
        // libbpf reads it with blocking, unbounded reads: make sure it is a file
        crate::fsread::read_regular(b, MAX_OBJECT_BYTES).map_err(|cause| Error::Io { path: b.clone(), cause })?;
    }
    let (elf, btf) = parse_object(&object.bytes, &what)?;
    let specs = specs_of(&btf)?;
    let defs = schema::map_defs(&btf)?;
    for (name, &n) in &spec.max_entries {
        let setting = |reason: String| Error::Setting { what: format!("probes.{}.maps.{name}", spec.name), reason };
        let Some(def) = defs.iter().find(|d| d.name == *name) else {
            let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            return Err(setting(format!(
                "the object has no watched map `{name}` (watched maps: {}; max_entries may name any map)",
                known.join(", "),
            )));
        };
        if def.map_type == Some(map_type::RINGBUF) && !(n.is_power_of_two() && n >= 4096) {
            return Err(setting(format!(
                "max_entries = {n}: a ring buffer's size is in bytes, a power of two and at least 4096"
            )));
        }
    }
    for s in &specs {
        s.check_watchable()?;
    }
    let programs = elf.programs();
    for prog in spec.attach.keys() {
        if !programs.iter().any(|(p, _)| p == prog) {
            let known: Vec<&str> = programs.iter().map(|(p, _)| p.as_str()).collect();
            return Err(Error::Setting {
                what: format!("probes.{}.attach.{prog}", spec.name),
                reason: format!("the object has no program `{prog}` (programs: {})", known.join(", ")),
            });
        }
    }
    let var_writes = bee_object::vars::plan(&elf, &btf, &spec.name, &spec.vars)?;
    if !var_writes.is_empty() && elf.section_index(".rodata").is_none() {
        return Err(no_rodata(&spec.name));
    }
    // section-suffix spelling (.maps.print, ...): merge into one .maps for libbpf
    let bytes = bee_object::normalize::normalize(&object.bytes, &what)?.into_owned();
    Ok(Checked { what, bytes, specs, var_writes })
}

impl Probe {
    /// Where each of its programs' run count and time are read.
    pub fn program_stats(&self) -> Vec<crate::progstats::ProgramStats> {
        crate::progstats::of(&self.object)
    }
}

/// Loads a checked probe into the kernel (verifier included) without
/// attaching anything: `--check-config --load`.
pub fn verify(cfg: &ProbeSpec, checked: &Checked) -> Result<()> {
    open_and_load(cfg, checked).map(drop)
}

/// Opens the checked object with libbpf, sizes its maps, sets its variables
/// and loads it.
fn open_and_load(cfg: &ProbeSpec, checked: &Checked) -> Result<Object> {
    let mut open = open_object(cfg, checked)?;
    let mut vars_set = checked.var_writes.is_empty();
    let mut sizes = Vec::new();
    for mut m in open.maps_mut() {
        let name = m.name().to_string_lossy().into_owned();
        size_map(&mut m, &name, cfg.max_entries.get(&name).copied())?;
        if !vars_set && name.ends_with(".rodata") {
            set_vars(&mut m, &name, &checked.var_writes)?;
            vars_set = true;
        }
        sizes.push((name, map_bytes(m.map_type(), m.key_size(), m.value_size(), m.max_entries())));
    }
    if !vars_set {
        return Err(no_rodata(&cfg.name));
    }
    load(open, cfg, checked, &sizes)
}

/// Opens the checked object with libbpf (CO-RE against `btf_path` if set).
fn open_object(cfg: &ProbeSpec, checked: &Checked) -> Result<OpenObject> {
    let what = &checked.what;
    let mut builder = ObjectBuilder::default();
    builder.name(&cfg.name).map_err(|e| Error::libbpf(format!("{what}: naming object"), e))?;
    if let Some(btf) = &cfg.btf_path {
        builder.btf_custom_path(btf).map_err(|e| Error::libbpf(format!("{what}: btf_path {}", btf.display()), e))?;
    }
    builder.open_memory(&checked.bytes).map_err(|e| Error::libbpf(format!("{what}: opening object"), e))
}

/// Sets a map's size from `max_entries` (when configured) and its key and
/// value sizes as the kernel wants them. A bee ringbuf carries its event
/// type as value, which the kernel refuses for RINGBUF maps: keep the type
/// (read from BTF) and zero the size. Same for a PERF_EVENT_ARRAY, whose key
/// and value must be 4 bytes.
fn size_map(m: &mut OpenMapMut<'_>, name: &str, max_entries: Option<u32>) -> Result<()> {
    let sizing = |e| Error::libbpf(format!("map {name}: resizing for the kernel"), e);
    if let Some(n) = max_entries {
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
    Ok(())
}

/// Writes the configured `const volatile` variables into `.rodata` map `m`.
fn set_vars(m: &mut OpenMapMut<'_>, name: &str, writes: &[(usize, Vec<u8>)]) -> Result<()> {
    let err = |reason: String| Error::Map { map: name.to_string(), reason };
    let data = m.initial_value_mut().ok_or_else(|| err("has no initial value to set variables in".into()))?;
    for (off, val) in writes {
        let dst = off
            .checked_add(val.len())
            .and_then(|end| data.get_mut(*off..end))
            .ok_or_else(|| err(format!("variable at offset {off} lies outside .rodata")))?;
        dst.copy_from_slice(val);
    }
    Ok(())
}

/// `vars` are set but the object has nowhere to put them.
fn no_rodata(probe: &str) -> Error {
    Error::Setting {
        what: format!("probes.{probe}.vars"),
        reason: "the object has no .rodata map to set `const volatile` variables in".into(),
    }
}

/// Loads the opened object (verifier included), capturing libbpf's log for
/// the error.
fn load(open: OpenObject, cfg: &ProbeSpec, checked: &Checked, sizes: &[(String, u64)]) -> Result<Object> {
    let (loaded, log) = capture_libbpf(|| open.load());
    loaded.map_err(|e| load_error(cfg, checked, sizes, &log, e))
}

/// Approximate kernel memory of a map, for messages.
fn map_bytes(t: MapType, key: u32, value: u32, entries: u32) -> u64 {
    match t {
        MapType::RingBuf => u64::from(entries),
        _ => (u64::from(key) + u64::from(value)).saturating_mul(u64::from(entries)),
    }
}

/// The error of a failed load, with the likeliest cause (see
/// [`cause::classify_load`]): a map the kernel had no memory for, missing
/// kernel BTF, a verifier rejection (with its log), or what the failing
/// program's section kind explains.
fn load_error(cfg: &ProbeSpec, checked: &Checked, sizes: &[(String, u64)], log: &str, e: libbpf_rs::Error) -> Error {
    let code = Code::of(&e);
    let cause = cause::classify_load(log, code, sizes, &Confinement::current()).unwrap_or_else(|| {
        let program = cause::failed_program(log).unwrap_or("");
        match object_prog_section(&checked.bytes, program) {
            Some(section) => {
                let facts = Facts::gather(section_kind(&section), cause::attach_target(&section, None));
                cause::program_cause(program, &section, code, &facts)
            }
            None => LoadCause::Other,
        }
    });
    let log = cause::log_tail(log);
    Error::Load(Box::new(LoadError { object: checked.what.clone(), probe: cfg.name.clone(), cause, log, error: e }))
}

/// Loads a checked probe into the kernel (verifier included) without
/// attaching it: a reload loads the new version while the old one still
/// runs.
pub fn open(spec: &ProbeSpec, checked: Checked) -> Result<Probe> {
    let object = open_and_load(spec, &checked)?;
    let programs = object.progs().map(|p| p.name().to_string_lossy().into_owned()).collect();
    let maps = watched_maps(&object, checked.specs)?;
    let lost = lost_map(&object)?;
    Ok(Probe { lost, name: spec.name.clone(), interval: spec.interval, maps, programs, links: Vec::new(), object })
}

impl Probe {
    /// Attaches every program (`attach` gives targets by program name).
    /// On failure nothing of this probe stays attached.
    pub fn attach(&mut self, attach: &BTreeMap<String, AttachTarget>) -> Result<()> {
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
