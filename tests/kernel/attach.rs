//! Every attach type on this kernel: one object per program type (compiled
//! from tests/fixtures/attach_types.bpf.c), all loaded by one beed, driven by
//! real activity. Types this kernel lacks must fail with an error naming the
//! program, the attach point and the cause, while the others run. Prints the
//! table. Needs root.

use crate::common;

use std::process::Command;
use std::time::Duration;

use common::{fixture, is_root, sample, TestResult};

/// (kind, hit key, needs a feature this kernel may lack)
const KINDS: &[(&str, u32, Option<&str>)] = &[
    ("tracepoint", 1, None),
    ("raw_tp", 2, None),
    ("tp_btf", 3, Some("trampoline")),
    ("kprobe", 4, Some("kprobes")),
    ("kretprobe", 5, Some("kprobes")),
    ("ksyscall", 6, Some("kprobes")),
    ("fentry", 7, Some("trampoline")),
    ("fexit", 8, Some("trampoline")),
    ("lsm", 9, Some("lsm")),
    ("uprobe", 10, None),
    ("uretprobe", 11, None),
    ("perf_event", 12, None),
    ("xdp", 13, None),
    ("tc", 14, None),
    ("iter", 0, None),
];

fn kprobes_enabled() -> bool {
    std::path::Path::new("/sys/bus/event_source/devices/kprobe").exists()
        || std::path::Path::new("/sys/kernel/tracing/kprobe_events").exists()
}

#[test]
fn every_attach_type_attaches_or_fails_clearly() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let target = dir.path().join("uprobe_target");
    assert!(Command::new("cc").arg("-O2").arg("-o").arg(&target).arg(fixture("uprobe_target.c")).status()?.success());
    let mut cfg = String::from(
        "[metrics]\nlisten = \"127.0.0.1:{port}\"\n[events]\noutput = \"none\"\n[poll]\ninterval = \"100ms\"\n",
    );
    for (kind, _, _) in KINDS {
        let obj = dir.path().join(format!("{kind}.bpf.o"));
        common::compile_to(&fixture("attach_types.bpf.c"), &obj, &[&format!("-DKIND_{kind}")])?;
        cfg.push_str(&format!("[probes.{kind}]\nobject = \"{}\"\n", obj.display()));
    }
    let t = target.display();
    cfg.push_str(&format!(
        "[probes.uprobe.attach.prog]\nbinary = \"{t}\"\nfunc = \"bee_target_function\"\n\
         [probes.uretprobe.attach.prog]\nbinary = \"{t}\"\nfunc = \"bee_target_function\"\n\
         [probes.xdp.attach.prog]\ninterface = \"lo\"\n[probes.tc.attach.prog]\ninterface = \"lo\"\n\
         [probes.perf_event.attach.prog]\nfrequency = 199\n"
    ));
    let beed = common::start(dir.path(), &cfg)?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    // uprobe hits, getppid, exec (tp_btf), a loopback connect (kprobe/fentry/lsm/xdp/tc)
    assert!(Command::new(&target).args(["5", &port.to_string()]).status()?.success());
    std::thread::sleep(Duration::from_millis(600));
    let text = beed.scrape()?;
    let log = beed.log.join("\n");
    let mut table = String::from("\nattach type   result\n");
    let mut failures = Vec::new();
    for (kind, key, feature) in KINDS {
        let up = sample(&text, "beed_probe_up", &[("probe", kind)]) == Some(1.0);
        let hits =
            sample(&text, "ebpf_solo_io_counter_hits", &[("probe", kind), ("kind", &key.to_string())]).unwrap_or(0.0);
        let err_line = log.lines().find(|l| l.contains(&format!("probe {kind} failed:"))).unwrap_or("");
        table.push_str(&format!(
            "{kind:<13} {}\n",
            if up { format!("attached, {hits} hits") } else { "clean failure".into() }
        ));
        let ok = match (up, feature) {
            (true, _) => *key == 0 || hits > 0.0,
            (false, None) => false,
            (false, Some("kprobes")) => {
                !kprobes_enabled() && err_line.contains("kprobes are not enabled in this kernel")
            }
            (false, Some(_)) => err_line.contains("refuses BPF trampoline") || err_line.contains("lsm="),
        };
        let names_program =
            up || (err_line.contains("SEC(\"") || err_line.contains(".bpf.o")) && err_line.contains(kind);
        if !ok || !names_program {
            failures.push(format!("{kind}: up={up} hits={hits} error={err_line}"));
        }
    }
    eprintln!("{table}");
    assert!(failures.is_empty(), "{}\n{table}\n{log}", failures.join("\n"));
    Ok(())
}
