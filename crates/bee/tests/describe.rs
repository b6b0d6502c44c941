//! Golden outputs of `bee describe`, as text and as JSON, for probes of
//! every output kind (print, counter, gauge, hist) on both map kinds (ring
//! buffer, hash map): `bee init` templates and the repo fixture
//! `tests/fixtures/user_probe.bpf.c`, built with the real `bee build`.
//! Needs clang, not root.
//!
//! The goldens are `tests/golden/NAME.txt` and `NAME.json`, with the
//! temporary directory written `$DIR`. `BEE_BLESS=1 cargo test -p bee
//! --test describe` rewrites them: read every change before committing it.

mod common;

use std::path::{Path, PathBuf};

use common::{bee_build, bee_fixture, bee_in, build_template, fail, fixture, tempdir, Error, TestResult};

/// The templates described: every output kind, every map kind, and every
/// program type, the ring buffer and hash map of each output.
const TEMPLATES: &[(&str, &str, &str)] = &[
    ("network", "ring-buffer", "print"),
    ("network", "hash-map", "print"),
    ("file-system", "hash-map", "counter"),
    ("file-system", "ring-buffer", "counter"),
    ("process", "ring-buffer", "gauge"),
    ("process", "hash-map", "gauge"),
    ("syscall-latency", "hash-map", "hist"),
    ("syscall-latency", "ring-buffer", "hist"),
];

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn bless() -> bool {
    std::env::var_os("BEE_BLESS").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Compares `actual` with golden `name`, or rewrites it under BEE_BLESS.
fn check_golden(name: &str, actual: &str) -> TestResult {
    let path = golden_dir().join(name);
    if bless() {
        std::fs::create_dir_all(golden_dir())?;
        std::fs::write(&path, actual)?;
        return Ok(());
    }
    let expected =
        std::fs::read_to_string(&path).map_err(|e| format!("{}: {e} (BEE_BLESS=1 writes it)", path.display()))?;
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (e, a))| e != a)
            .take(5)
            .map(|(i, (e, a))| format!("line {}:\n  golden: {e}\n  actual: {a}", i + 1))
            .collect();
        return Err(fail(format!(
            "bee describe differs from {} (BEE_BLESS=1 rewrites it):\n{}\n--- actual\n{actual}",
            path.display(),
            diff.join("\n")
        )));
    }
    Ok(())
}

/// `bee describe OBJ` as text and as JSON, the directory replaced by `$DIR`.
fn describe(dir: &Path, obj: &Path) -> Result<(String, String), Error> {
    let o = obj.display().to_string();
    let text = bee_in(dir, &["describe", &o])?;
    let json = bee_in(dir, &["describe", "--output", "json", &o])?;
    for r in [&text, &json] {
        if r.code != Some(0) || !r.stderr.is_empty() {
            return Err(fail(format!("bee describe {o}:\n{}", r.show())));
        }
    }
    let d = dir.display().to_string();
    Ok((text.stdout.replace(&d, "$DIR"), json.stdout.replace(&d, "$DIR")))
}

/// Checks the goldens of one object, and what must hold whatever they say.
fn check(dir: &Path, obj: &Path, name: &str) -> TestResult {
    let (text, json) = describe(dir, obj)?;
    let v: serde_json::Value = serde_json::from_str(&json)?;
    let maps = v["maps"].as_array().ok_or("no maps array")?;
    assert!(!maps.is_empty(), "{name}: no watched map:\n{json}");
    for m in maps {
        let map = m["name"].as_str().ok_or("a map without a name")?;
        let output = m["output"].as_str().ok_or("a map without an output")?;
        assert!(map.starts_with(&format!("{output}_")), "{name}: map {map} is not a {output} map");
        if output == "print" {
            assert!(m["metric"].is_null(), "{name}: print map {map} has a metric:\n{json}");
        } else {
            let metric = format!("ebpf_solo_io_{map}");
            assert_eq!(m["metric"].as_str(), Some(metric.as_str()), "{name}: metric of {map}");
            assert!(text.contains(&format!("{metric}{{probe,")), "{name}: text lacks {metric}{{probe,...}}:\n{text}");
            // the value or slot field is no label
            if let Some(vf) = m["value_field"].as_str() {
                let labels = m["labels"].as_array().ok_or("no labels")?;
                assert!(!labels.iter().any(|l| l == vf), "{name}: {map}: value field {vf} is a label:\n{json}");
            }
        }
    }
    assert!(text.contains(&format!("$DIR/{name}.o")), "{name}: text names not the object:\n{text}");
    check_golden(&format!("{name}.txt"), &text)?;
    check_golden(&format!("{name}.json"), &json)
}

#[test]
fn templates() -> TestResult {
    let tmp = tempdir()?;
    for (p, m, o) in TEMPLATES {
        let obj = build_template(tmp.path(), p, m, o)?;
        check(tmp.path(), &obj, &format!("{p}-{m}-{o}.bpf"))?;
    }
    Ok(())
}

#[test]
fn user_probe() -> TestResult {
    let tmp = tempdir()?;
    let obj = bee_build(&fixture("user_probe.bpf.c"), tmp.path(), "user_probe.bpf")?;
    check(tmp.path(), &obj, "user_probe.bpf")
}

/// A var with its default: syscall-latency's `min_ns`.
#[test]
fn vars_and_defaults() -> TestResult {
    let tmp = tempdir()?;
    let obj = build_template(tmp.path(), "syscall-latency", "hash-map", "hist")?;
    let (text, json) = describe(tmp.path(), &obj)?;
    assert!(text.contains("u64 min_ns = 1000000"), "{text}");
    let v: serde_json::Value = serde_json::from_str(&json)?;
    let var = &v["vars"][0];
    assert_eq!((var["name"].as_str(), var["type"].as_str()), (Some("min_ns"), Some("u64")), "{json}");
    assert_eq!(var["default"].as_str(), Some("1000000"), "{json}");
    assert_eq!(v["maps"][0]["value_field"].as_str(), Some("slot"), "{json}");
    Ok(())
}

/// `bee describe x.o | head -1`: the closed pipe ends bee quietly.
#[test]
fn closed_stdout() -> TestResult {
    let tmp = tempdir()?;
    let obj = bee_build(&fixture("user_probe.bpf.c"), tmp.path(), "user_probe.bpf")?;
    let (read, write) = nix::unistd::pipe()?;
    drop(read);
    let out = std::process::Command::new(common::bee())
        .args(["describe", "--output", "json"])
        .arg(&obj)
        .stdout(std::process::Stdio::from(write))
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    Ok(())
}

/// A probe without watched map is still described (bad_input.rs checks
/// the error that follows).
#[test]
fn no_watched_map() -> TestResult {
    let tmp = tempdir()?;
    let obj = bee_build(&bee_fixture("no_watched_map.bpf.c"), tmp.path(), "no_watched_map.bpf")?;
    let ran = bee_in(tmp.path(), &["describe", &obj.display().to_string()])?;
    assert!(ran.stdout.contains("count_getppid  SEC(\"tracepoint/syscalls/sys_enter_getppid\")"), "{}", ran.show());
    assert!(ran.stdout.contains("watched maps:\n  none"), "{}", ran.show());
    Ok(())
}

/// `bee build --arch`: the same probe for x86_64 and aarch64 relocates
/// against each architecture's vmlinux.h (task_struct differs), and both
/// objects are valid bee probes with the same watched map.
#[test]
fn builds_for_each_arch() -> TestResult {
    let dir = tempdir()?;
    let src = dir.path().join("exits.bpf.c");
    let s = src.display().to_string();
    let ran = bee_in(
        dir.path(),
        &["init", "--program-type", "process", "--map", "ring-buffer", "--output-type", "print", "--file", &s],
    )?;
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    let mut objects = Vec::new();
    for arch in ["x86_64", "aarch64"] {
        let out = dir.path().join(format!("exits-{arch}.bpf.o"));
        let o = out.display().to_string();
        let ran = bee_in(dir.path(), &["build", "--arch", arch, &s, "-o", &o])?;
        assert_eq!(ran.code, Some(0), "bee build --arch {arch}: {}", ran.show());
        let (text, _) = describe(dir.path(), &out)?;
        assert!(text.contains("print_exits (print, RINGBUF)"), "{arch}: {text}");
        objects.push(std::fs::read(&out)?);
    }
    assert_ne!(objects[0], objects[1], "x86_64 and aarch64 objects are the same bytes");
    // an unknown architecture is clap's error (exit 2), naming the choices
    let ran = bee_in(dir.path(), &["build", "--arch", "mips", &s])?;
    assert_eq!(ran.code, Some(2), "{}", ran.show());
    Ok(())
}
