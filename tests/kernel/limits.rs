//! Kernel limits met by ordinary probes: map sizes set from config before
//! load (`[probes.X.maps.M] max_entries`), a map the kernel cannot create
//! named with its size and that setting, and the kernel's limit of 64 BPF
//! programs per tracepoint named when the 65th probe attaches. Needs root.

use crate::common;

use common::{compile, compile_to, fixture, is_root, sample, start, TestResult};

const MAIN: &str =
    "[metrics]\nlisten = \"127.0.0.1:{port}\"\n[events]\noutput = \"none\"\n[poll]\ninterval = \"100ms\"\n";

#[test]
fn map_sizes_come_from_config() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let obj = compile(&fixture("user_probe.bpf.c"), dir.path())?;
    let cfg = format!(
        "{MAIN}[probes.small]\nobject = \"{o}\"\n[probes.small.maps.counter_getppid]\nmax_entries = 7\n\
         [probes.small.maps.print_calls]\nmax_entries = 4096\n\
         [probes.huge]\nobject = \"{o}\"\n[probes.huge.maps.counter_getppid]\nmax_entries = 4294967295\n",
        o = obj.display()
    );
    let beed = start(dir.path(), &cfg)?;
    let text = beed.scrape()?;
    let small = [("probe", "small"), ("map", "counter_getppid")];
    assert_eq!(sample(&text, "beed_map_max_entries", &small), Some(7.0), "{text}");
    assert_eq!(sample(&text, "beed_probe_up", &[("probe", "small")]), Some(1.0), "{text}");
    assert_eq!(sample(&text, "beed_probe_up", &[("probe", "huge")]), Some(0.0), "{text}");
    let log = beed.log.join("\n");
    assert!(
        log.contains("probe huge failed: map counter_getppid:")
            && log.contains("the kernel could not create it (E2BIG")
            && log.contains("96.0 GiB")
            && log.contains("`max_entries = N` in [probes.huge.maps.counter_getppid]"),
        "{log}"
    );
    Ok(())
}

#[test]
fn the_tracepoint_program_limit_is_named() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("tp.bpf.c");
    std::fs::write(
        &src,
        "#include \"vmlinux.h\"\n#include <bpf/bpf_helpers.h>\n\
         SEC(\"tracepoint/syscalls/sys_enter_acct\")\nint hit(void *ctx) { return 0; }\n\
         char LICENSE[] SEC(\"license\") = \"GPL\";\n",
    )?;
    let obj = dir.path().join("tp.bpf.o");
    compile_to(&src, &obj, &[])?;
    // nothing else on this machine traces acct(): 64 attach, the 65th cannot
    let mut cfg = String::from(MAIN);
    for i in 0..65 {
        cfg.push_str(&format!("[probes.tp{i:02}]\nobject = \"{}\"\n", obj.display()));
    }
    let beed = start(dir.path(), &cfg)?;
    let text = beed.scrape()?;
    let up = text.lines().filter(|l| l.starts_with("beed_probe_up{") && l.ends_with(" 1")).count();
    let down: Vec<&str> = text.lines().filter(|l| l.starts_with("beed_probe_up{") && l.ends_with(" 0")).collect();
    assert_eq!((up, down.len()), (64, 1), "{text}");
    let log = beed.log.join("\n");
    assert!(log.contains("the kernel allows at most 64 BPF programs on one tracepoint"), "{log}");
    Ok(())
}
