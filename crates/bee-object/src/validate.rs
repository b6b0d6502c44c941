//! What beed accepts before libbpf sees an object: an explicit list of map
//! types and program types. libbpf does things for some others that beed
//! has no business doing (a `STRUCT_OPS` map makes libbpf register kernel
//! callbacks, and crashed it inside `bpf_map__init_kern_struct_ops` when the
//! object did not match the kernel); anything not listed here is a clear
//! per-probe error, in `--check-config` and at load, naming the map or the
//! program and its section.

use crate::btf::Btf;
use crate::elf::{Elf, SHF_EXECINSTR};
use crate::error::{Error, Result};
use crate::schema;

/// Map types beed creates (`enum bpf_map_type` numbers and names).
pub const MAP_TYPES: &[(u32, &str)] = &[
    (1, "HASH"),
    (2, "ARRAY"),
    (3, "PROG_ARRAY"),
    (4, "PERF_EVENT_ARRAY"),
    (5, "PERCPU_HASH"),
    (6, "PERCPU_ARRAY"),
    (7, "STACK_TRACE"),
    (9, "LRU_HASH"),
    (10, "LRU_PERCPU_HASH"),
    (11, "LPM_TRIE"),
    (12, "ARRAY_OF_MAPS"),
    (13, "HASH_OF_MAPS"),
    (14, "DEVMAP"),
    (16, "CPUMAP"),
    (17, "XSKMAP"),
    (22, "QUEUE"),
    (23, "STACK"),
    (24, "SK_STORAGE"),
    (25, "DEVMAP_HASH"),
    (27, "RINGBUF"),
    (28, "INODE_STORAGE"),
    (29, "TASK_STORAGE"),
    (30, "BLOOM_FILTER"),
    (32, "CGRP_STORAGE"),
];

/// Names of map types beed refuses, for the error message.
const REFUSED_MAP_TYPES: &[(u32, &str)] = &[
    (0, "UNSPEC"),
    (8, "CGROUP_ARRAY"),
    (15, "SOCKMAP"),
    (18, "SOCKHASH"),
    (19, "CGROUP_STORAGE"),
    (20, "REUSEPORT_SOCKARRAY"),
    (21, "PERCPU_CGROUP_STORAGE"),
    (26, "STRUCT_OPS"),
    (31, "USER_RINGBUF"),
    (33, "ARENA"),
];

/// Program section kinds beed attaches (the part of `SEC("…")` before the
/// first `/` or `.`; `.s` sleepable and `.multi` variants included).
pub const PROGRAM_KINDS: &[&str] = &[
    "tracepoint",
    "tp",
    "raw_tp",
    "raw_tracepoint",
    "tp_btf",
    "kprobe",
    "kretprobe",
    "ksyscall",
    "kretsyscall",
    "fentry",
    "fexit",
    "fmod_ret",
    "lsm",
    "iter",
    "uprobe",
    "uretprobe",
    "usdt",
    "perf_event",
    "xdp",
    "tc",
    "classifier",
    "tcx",
];

/// The kind of attach point a section name asks for (`?` marks programs
/// libbpf does not load by default).
pub fn section_kind(section: &str) -> &str {
    section.trim_start_matches('?').split(['/', '.']).next().unwrap_or("")
}

/// `HASH`, `STRUCT_OPS`, or the number of a type beed does not know.
pub fn map_type_name(t: u32) -> String {
    MAP_TYPES.iter().chain(REFUSED_MAP_TYPES).find(|(n, _)| *n == t).map_or(format!("{t}"), |(_, s)| s.to_string())
}

/// Checks every map definition and program section of an object.
pub fn check(elf: &Elf<'_>, btf: &Btf, what: &str) -> Result<()> {
    for def in schema::map_defs(btf)? {
        let Some(t) = def.map_type else {
            return Err(Error::Map {
                map: def.name,
                reason: format!(
                    "{what}: the definition in section {} has no `type` (declare it with __uint(type, BPF_MAP_TYPE_…))",
                    def.section
                ),
            });
        };
        if !MAP_TYPES.iter().any(|(n, _)| *n == t) {
            return Err(Error::Map {
                map: def.name,
                reason: format!(
                    "{what}: map type {} is not supported by beed (supported: {})",
                    map_type_name(t),
                    MAP_TYPES.iter().map(|(_, s)| *s).collect::<Vec<_>>().join(", ")
                ),
            });
        }
    }
    for s in &elf.sections {
        if s.name.starts_with(".struct_ops") {
            return Err(Error::Unsupported {
                what: what.to_string(),
                reason: format!(
                    "section {}: struct_ops maps (kernel callbacks such as TCP congestion control) are not supported by beed",
                    s.name.escape_debug()
                ),
            });
        }
        if s.kind != 1 || s.flags & SHF_EXECINSTR == 0 || s.size == 0 || s.name == ".text" {
            continue;
        }
        let kind = section_kind(&s.name);
        if !PROGRAM_KINDS.contains(&kind) {
            return Err(Error::Unsupported {
                what: what.to_string(),
                reason: format!(
                    "program section SEC(\"{}\"): program type `{kind}` is not supported by beed (supported: {})",
                    s.name.escape_debug(),
                    PROGRAM_KINDS.join(", ")
                ),
            });
        }
    }
    Ok(())
}
