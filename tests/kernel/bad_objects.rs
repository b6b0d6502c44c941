//! Hostile and unsupported objects: a verifier log or a section name that is
//! not UTF-8 (libbpf-rs' own print callback aborted the process on both), a
//! struct_ops map (libbpf crashed inside bpf_map__init_kern_struct_ops), a
//! program type beed does not run. Each is one failed probe with a clear
//! error, never a crash, and the other probes keep running. Needs root.

use crate::common;

use std::path::Path;
use std::process::Command;

use common::{compile_to, is_root, sample, start, TestResult};

const HEAD: &str = "#include \"vmlinux.h\"\n#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_tracing.h>\n";
const COUNTER: &str = "struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 8); __type(key, u32); __type(value, u64); } counter_x SEC(\".maps\");\n";
const LICENSE: &str = "char LICENSE[] SEC(\"license\") = \"GPL\";\n";

/// Writes C source `body` (bytes: it may hold Latin-1) and compiles it.
fn object(dir: &Path, name: &str, body: &[u8], defines: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
    let src = dir.join(format!("{name}.bpf.c"));
    let mut text = HEAD.as_bytes().to_vec();
    text.extend_from_slice(body);
    text.extend_from_slice(LICENSE.as_bytes());
    std::fs::write(&src, text)?;
    let out = dir.join(format!("{name}.bpf.o"));
    compile_to(&src, &out, defines)?;
    Ok(out.display().to_string())
}

#[test]
fn hostile_objects_fail_alone() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    // the verifier rejects the unchecked dereference and quotes its source
    // line, Latin-1 comment included, from the BTF line info
    let mut latin1 = COUNTER.as_bytes().to_vec();
    latin1.extend_from_slice(b"SEC(\"tracepoint/syscalls/sys_enter_getppid\")\nint unchecked(void *ctx)\n{\n\tu32 k = 0;\n\tu64 *v = bpf_map_lookup_elem(&counter_x, &k);\n\treturn *v; /* r\xe9sum\xe9 */\n}\n");
    let latin1 = object(d, "latin1", &latin1, &[])?;
    // a section name with a byte >= 0x80: libbpf names it in its messages
    let mut badsec = COUNTER.as_bytes().to_vec();
    badsec
        .extend_from_slice(b"SEC(\"tracepoint/syscalls/sys_enter_getppid\\xe9\")\nint hit(void *ctx) { return 0; }\n");
    let badsec = object(d, "badsec", &badsec, &[])?;
    // struct_ops, the spelling of libbpf's examples and a STRUCT_OPS map in .maps
    let ops = b"SEC(\"struct_ops/beed_init\")\nvoid BPF_PROG(beed_init, struct sock *sk) {}\n\
        SEC(\".struct_ops\")\nstruct tcp_congestion_ops beed_cc = { .init = (void *)beed_init, .name = \"beed_cc\" };\n";
    let ops = object(d, "ops", ops, &[])?;
    let opsmap = b"struct { __uint(type, BPF_MAP_TYPE_STRUCT_OPS); __uint(max_entries, 1); __type(key, int); __type(value, struct tcp_congestion_ops); } cc_map SEC(\".maps\");\n\
        SEC(\"tracepoint/syscalls/sys_enter_getppid\")\nint hit(void *ctx) { return 0; }\n";
    let opsmap = object(d, "opsmap", opsmap, &[])?;
    // a socket filter: a program type beed does not attach
    let sock = object(d, "sock", b"SEC(\"socket\")\nint filter(void *skb) { return 0; }\n", &[])?;

    let probes = [("latin1", &latin1), ("badsec", &badsec), ("ops", &ops), ("opsmap", &opsmap), ("sock", &sock)];
    let mut cfg =
        String::from("[metrics]\nlisten = \"127.0.0.1:{port}\"\n[events]\noutput = \"none\"\n[probes.exitsnoop]\n");
    for (name, obj) in &probes {
        cfg.push_str(&format!("[probes.{name}]\nobject = \"{obj}\"\n"));
    }

    // --check-config names every unsupported object without the kernel
    std::fs::write(d.join("check.toml"), cfg.replace("{port}", "0"))?;
    let out = Command::new(env!("CARGO_BIN_EXE_beed")).arg("--check-config").arg(d.join("check.toml")).output()?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("probe ops: error: ") && text.contains("program type `struct_ops` is not supported"),
        "{text}"
    );
    assert!(text.contains("map cc_map: ") && text.contains("map type STRUCT_OPS is not supported by beed"), "{text}");
    assert!(text.contains("probe sock: error: ") && text.contains("program type `socket` is not supported"), "{text}");
    assert!(text.contains("probe latin1: ok") && text.contains("probe badsec: ok"), "{text}");
    assert!(!text.contains("panicked"), "{text}");

    // beed runs: each bad probe is down with its reason, the built-in runs
    let beed = start(d, &cfg)?;
    let log = beed.log.join("\n");
    assert!(log.contains("probe latin1 failed") && log.contains("the verifier rejected program unchecked"), "{log}");
    assert!(log.contains("r\u{fffd}sum\u{fffd}"), "the verifier's source line, converted lossily: {log}");
    assert!(log.contains("probe badsec failed") && log.contains("sys_enter_getppid\u{fffd}"), "{log}");
    let text = beed.scrape()?;
    assert_eq!(sample(&text, "beed_probe_up", &[("probe", "exitsnoop")]), Some(1.0), "{text}");
    for (name, _) in &probes {
        assert_eq!(sample(&text, "beed_probe_up", &[("probe", name)]), Some(0.0), "{name}: {text}");
    }
    // and still works: a process exit is an event
    assert!(Command::new("true").status()?.success());
    assert!(beed
        .wait_sample("beed_events_total", &[("probe", "exitsnoop")], None, std::time::Duration::from_secs(1))?
        .is_some());
    let (status, log) = beed.terminate();
    assert!(status.is_some_and(|s| s.success()), "{log}");
    Ok(())
}
