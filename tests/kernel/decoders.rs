//! Field decoders end to end (crates/bee-decoders): a probe compiled from
//! tests/fixtures/decoders.bpf.c records every openat() return of processes
//! named `beedec*`; beed decodes the return value as an errno name, the
//! address of vfs_read as a kernel symbol, the cgroup id as the cgroup's path
//! and container (a real podman container), a `ktime` as wall-clock time,
//! and stamps each JSON line with the time it read the record. Needs root;
//! the container test needs podman and runc (`make container-deps`).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{fixture, is_root, repo, Beed, TestResult};

/// The watched maps' decoders, as an operator writes them.
const FIELDS: &str = "\
[probes.dec.maps.print_opens.fields]
ret = { decode = \"errno\" }
cgroup = { decode = \"cgroup\" }
func = { decode = \"ksym\" }
[probes.dec.maps.counter_fails.fields]
ret = { decode = \"errno\" }
cgroup = { decode = \"cgroup\", parts = [\"container\"] }
";

fn start(dir: &Path) -> Result<Beed, String> {
    let obj = dir.join("decoders.bpf.o");
    common::compile_to(&fixture("decoders.bpf.c"), &obj, &[])?;
    let cfg = format!(
        "[metrics]\nlisten = \"127.0.0.1:{{port}}\"\n[events]\noutput = \"stdout\"\n\
         [probes.dec]\nobject = \"{}\"\n{FIELDS}",
        obj.display()
    );
    common::start(dir, &cfg)
}

/// A copy of `cat` called `name` (its comm), in `dir`.
fn cat_named(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let path = dir.join(name);
    std::fs::copy("/bin/cat", &path).map_err(|e| format!("copying /bin/cat: {e}"))?;
    Ok(path)
}

fn now_ns() -> i128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as i128)
}

/// Nanoseconds since the epoch of an RFC 3339 time, parsed by date(1)
/// (not by beed's code).
fn parse_time(t: &str) -> Result<i128, String> {
    let out = Command::new("date").args(["-u", "-d", t, "+%s%N"]).output().map_err(|e| e.to_string())?;
    let s = String::from_utf8_lossy(&out.stdout);
    s.trim().parse().map_err(|_| format!("date cannot parse {t:?}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// Whether `ns` lies within a second of [before, after].
fn near(ns: i128, before: i128, after: i128) -> bool {
    ns >= before - 1_000_000_000 && ns <= after + 1_000_000_000
}

/// Names /proc/kallsyms gives address `addr`.
fn kallsyms_at(addr: u64) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string("/proc/kallsyms").map_err(|e| e.to_string())?;
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let a = u64::from_str_radix(it.next()?, 16).ok()?;
            let name = it.nth(1)?;
            (a == addr).then(|| name.to_string())
        })
        .collect())
}

/// This process's cgroup v2 path (children start in it).
fn own_cgroup() -> Result<String, String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| e.to_string())?;
    text.lines().find_map(|l| l.strip_prefix("0::")).map(str::to_string).ok_or("no cgroup v2 line".into())
}

#[test]
fn errno_ksym_ktime_cgroup_and_timestamps() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let mut beed = start(dir.path())?;
    let cat = cat_named(dir.path(), "beedeccat")?;
    let before = now_ns();
    let st = Command::new(&cat).arg("/nonexistent/beed-decoders").stderr(Stdio::null()).status()?;
    assert!(!st.success(), "cat of a missing file fails");
    let ev = beed
        .wait_event(Duration::from_secs(10), |v| v["entry"]["comm"] == "beedeccat" && v["entry"]["ret"] == "ENOENT")
        .ok_or_else(|| format!("no ENOENT event:\n{}", beed.log.join("\n")))?;
    let after = now_ns();
    let e = &ev["entry"];
    // the line's own time and the probe's ktime, both on the wall clock
    let time = parse_time(ev["time"].as_str().ok_or("no time")?)?;
    assert!(near(time, before, after), "time {} not within a second of the test's clock", ev["time"]);
    let ts = parse_time(e["ts"].as_str().ok_or("ts is not a time")?)?;
    assert!(near(ts, before, after), "ts {} not within a second of the test's clock", e["ts"]);
    assert!(ts <= time, "the kernel saw the call before beed read it: {} > {}", e["ts"], ev["time"]);
    // the address libbpf resolved for vfs_read, named back by the decoder
    let raw = e["func_raw"].as_u64().ok_or("func_raw is not a number")?;
    let names = kallsyms_at(raw)?;
    assert!(names.iter().any(|n| n == "vfs_read"), "kallsyms at {raw:#x}: {names:?}");
    assert!(names.iter().any(|n| e["func"] == n.as_str()), "func {} not one of {names:?}", e["func"]);
    // the cgroup this test (and its child) runs in; not a container
    assert_eq!(e["cgroup"], own_cgroup()?.as_str());
    assert_eq!(e["cgroup_container_id"], "");
    // a successful open keeps its descriptor: errno names only negative values of a signed field
    let ok = beed
        .wait_event(Duration::from_secs(10), |v| {
            v["entry"]["comm"] == "beedeccat" && v["entry"]["ret"].as_i64().is_some_and(|r| r >= 0)
        })
        .ok_or("no successful open (the loader opens libc)")?;
    assert!(ok["entry"]["ret"].is_i64(), "{ok}");
    // the metric's label: decoded too
    let got = beed.wait_sample(
        "ebpf_solo_io_counter_fails",
        &[("comm", "beedeccat"), ("ret", "ENOENT")],
        Some(1.0),
        Duration::from_secs(10),
    )?;
    assert!(got.is_some_and(|v| v >= 1.0), "{}", beed.scrape()?);
    Ok(())
}

#[test]
fn timestamps_can_be_unix_ns_or_absent() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    for (setting, check) in [
        ("unix_ns", (|v: &serde_json::Value| v["time"].is_u64()) as fn(&serde_json::Value) -> bool),
        ("none", |v: &serde_json::Value| v.get("time").is_none()),
    ] {
        let dir = tempfile::tempdir()?;
        let obj = dir.path().join("decoders.bpf.o");
        common::compile_to(&fixture("decoders.bpf.c"), &obj, &[])?;
        let cfg = format!(
            "[metrics]\nlisten = \"127.0.0.1:{{port}}\"\n[events]\noutput = \"stdout\"\ntimestamp = \"{setting}\"\n\
             [probes.dec]\nobject = \"{}\"\n",
            obj.display()
        );
        let mut beed = common::start(dir.path(), &cfg)?;
        let before = now_ns();
        Command::new(cat_named(dir.path(), "beedects")?).arg("/dev/null").status()?;
        let ev = beed
            .wait_event(Duration::from_secs(10), |v| v["entry"]["comm"] == "beedects")
            .ok_or_else(|| format!("{setting}: no event:\n{}", beed.log.join("\n")))?;
        assert!(check(&ev), "{setting}: {ev}");
        if let Some(t) = ev["time"].as_u64() {
            assert!(near(i128::from(t), before, now_ns()), "{setting}: {ev}");
        }
        // no decoders configured: the raw return value, and ktime still converted
        assert!(ev["entry"]["ret"].is_i64() && ev["entry"]["ts"].is_string(), "{ev}");
    }
    Ok(())
}

/// Runs podman with the flags this machine needs (DESIGN.md section 6).
fn podman(args: &[&str]) -> Result<String, String> {
    let out = Command::new("podman")
        .args(["--runtime", "runc", "--cgroup-manager", "cgroupfs"])
        .args(args)
        .env("CONTAINERS_CONF", repo().join("deploy/container/containers.conf"))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("podman {args:?}: {e} (make container-deps)"))?;
    if !out.status.success() {
        return Err(format!("podman {args:?}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A root filesystem holding `cat` as /beedecctr and the libraries it needs.
fn rootfs(dir: &Path) -> Result<PathBuf, String> {
    let root = dir.join("rootfs");
    let copy = |from: &Path, to: &Path| -> Result<(), String> {
        if let Some(p) = to.parent() {
            std::fs::create_dir_all(p).map_err(|e| e.to_string())?;
        }
        std::fs::copy(from, to).map(|_| ()).map_err(|e| format!("copying {}: {e}", from.display()))
    };
    copy(Path::new("/bin/cat"), &root.join("beedecctr"))?;
    let ldd = Command::new("ldd").arg("/bin/cat").output().map_err(|e| e.to_string())?;
    for lib in String::from_utf8_lossy(&ldd.stdout).split_whitespace().filter(|w| w.starts_with('/')) {
        let real = std::fs::canonicalize(lib).map_err(|e| e.to_string())?;
        copy(&real, &root.join(lib.trim_start_matches('/')))?;
    }
    for d in ["proc", "sys", "dev", "etc", "tmp"] {
        std::fs::create_dir_all(root.join(d)).map_err(|e| e.to_string())?;
    }
    Ok(root)
}

/// Removes the test's container and image, whatever happened.
struct PodmanGuard {
    container: String,
    image: String,
}

impl Drop for PodmanGuard {
    fn drop(&mut self) {
        let _ = podman(&["rm", "-f", &self.container]);
        let _ = podman(&["rmi", "-f", &self.image]);
    }
}

#[test]
fn cgroup_names_a_podman_container() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let tag = std::process::id();
    let guard =
        PodmanGuard { container: format!("beedec-{tag}"), image: format!("localhost/beed-decoders-test:{tag}") };
    let root = rootfs(dir.path())?;
    let tar = dir.path().join("rootfs.tar");
    let st = Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&tar).arg(".").status()?;
    assert!(st.success(), "tar of the root filesystem");
    podman(&["import", &tar.display().to_string(), &guard.image])?;
    let mut beed = start(dir.path())?;
    let cidfile = dir.path().join("cid");
    podman(&[
        "run",
        "--name",
        &guard.container,
        "--cidfile",
        &cidfile.display().to_string(),
        &guard.image,
        "/beedecctr",
        "/etc/hostname",
        "/nonexistent/beed-decoders",
    ])
    .err(); // cat fails on the missing file: the container exits 1
    let cid = std::fs::read_to_string(&cidfile)?.trim().to_string();
    assert_eq!(cid.len(), 64, "container id {cid:?}");
    let ev = beed
        .wait_event(Duration::from_secs(10), |v| v["entry"]["comm"] == "beedecctr" && v["entry"]["ret"] == "ENOENT")
        .ok_or_else(|| format!("no event from the container:\n{}", beed.log.join("\n")))?;
    let e = &ev["entry"];
    assert_eq!(e["cgroup_container_id"], cid.as_str(), "{ev}");
    assert_eq!(e["cgroup_container"], guard.container.as_str(), "{ev}");
    let path = e["cgroup"].as_str().unwrap_or("");
    assert!(path.ends_with(&format!("libpod-{cid}")) || path.contains(&format!("libpod-{cid}/")), "{ev}");
    assert_eq!((e["cgroup_pod"].as_str(), e["cgroup_namespace"].as_str()), (Some(""), Some("")), "not a pod");
    // the metric's label is the container's name
    let got = beed.wait_sample(
        "ebpf_solo_io_counter_fails",
        &[("comm", "beedecctr"), ("cgroup", &guard.container), ("ret", "ENOENT")],
        Some(1.0),
        Duration::from_secs(10),
    )?;
    assert!(got.is_some_and(|v| v >= 1.0), "{}", beed.scrape()?);
    drop(guard);
    Ok(())
}

#[test]
fn decoders_that_cannot_apply_fail_check_config() -> TestResult {
    if !is_root() {
        return Err("run as root (make test)".into());
    }
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let obj = d.join("decoders.bpf.o");
    common::compile_to(&fixture("decoders.bpf.c"), &obj, &[])?;
    let probe = format!("[probes.dec]\nobject = \"{}\"\n", obj.display());
    let at = "probes.dec.maps.print_opens.fields.";
    let cases = [
        (
            "pid = { decode = \"ksym\" }",
            format!("{at}pid: decoder `ksym` needs an 8-byte integer or pointer field, not a 4-byte unsigned integer"),
        ),
        (
            "comm = { decode = \"errno\" }",
            format!("{at}comm: decoder `errno` needs an integer field, not a string (char[16])"),
        ),
        ("ret = { decode = \"errnos\" }", format!("{at}ret: unknown decoder `errnos` (decoders: ksym, cgroup,")),
        ("comm = { decode = \"regexp\", regexp = \"[a-\" }", format!("{at}comm: regexp `[a-` does not compile")),
        (
            "nosuch = { decode = \"hex\" }",
            format!("{at}nosuch: map `print_opens` has no field `nosuch` (fields: pid, comm,"),
        ),
    ];
    for (i, (fields, want)) in cases.iter().enumerate() {
        let path = d.join(format!("case{i}.toml"));
        std::fs::write(&path, format!("{probe}[probes.dec.maps.print_opens.fields]\n{fields}\n"))?;
        let (code, text) = common::check_config(&path, &[])?;
        assert_eq!(code, Some(1), "case {i} accepted:\n{text}");
        assert!(text.contains(want.as_str()), "case {i}: want {want:?}:\n{text}");
    }
    // the same decoder on a counter map's label field is fine
    let path = d.join("fine.toml");
    std::fs::write(&path, format!("{probe}[probes.dec.maps.counter_fails.fields]\nret = {{ decode = \"errno\" }}\n"))?;
    let (code, text) = common::check_config(&path, &[])?;
    assert_eq!(code, Some(0), "{text}");
    Ok(())
}
