//! Bad input to every `bee` command: each fails with exit code ≠ 0 and one
//! clear `bee: error:` line on stderr that names the file, map, field or
//! flag at fault and says what to do; never a panic. Needs clang, not root
//! (the `bee run` cases here all fail before the probe would load; the
//! root-only ones are in bad_input_root.rs).

mod common;

use std::path::{Path, PathBuf};

use common::{bee_build, bee_fixture, bee_in, failed_with, fixture, tempdir, Error, TestResult};

fn user_probe(dir: &Path) -> Result<PathBuf, Error> {
    bee_build(&fixture("user_probe.bpf.c"), dir, "user_probe.bpf")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// `bee build`, `describe` and `run` of a file that is not there.
#[test]
fn missing_file() -> TestResult {
    let tmp = tempdir()?;
    for cmd in [&["build", "nosuch.bpf.c"][..], &["describe", "nosuch.bpf.o"], &["run", "--no-tty", "nosuch.bpf.o"]] {
        let ran = bee_in(tmp.path(), cmd)?;
        let file = cmd.last().copied().unwrap_or_default();
        failed_with(&ran, &[file, "No such file"], true).map_err(|e| format!("bee {}: {e}", cmd.join(" ")))?;
    }
    Ok(())
}

#[test]
fn build_directory() -> TestResult {
    let tmp = tempdir()?;
    let ran = bee_in(tmp.path(), &["build", &s(tmp.path())])?;
    failed_with(&ran, &[&s(tmp.path()), "not a file"], true)?;
    Ok(())
}

/// clang's own diagnostics are shown, then bee's line.
#[test]
fn build_does_not_compile() -> TestResult {
    let tmp = tempdir()?;
    let src = tmp.path().join("broken.bpf.c");
    std::fs::write(&src, "int broken( {\n")?;
    let ran = bee_in(tmp.path(), &["build", "broken.bpf.c"])?;
    failed_with(&ran, &["broken.bpf.c", "clang failed"], false)?;
    assert!(ran.stderr.contains("broken.bpf.c:1:"), "clang's messages are missing:\n{}", ran.show());
    assert!(!tmp.path().join("broken.bpf.o").exists(), "a failed build left an object behind");
    Ok(())
}

/// A probe clang compiles but beed would refuse: `bee build` fails with
/// beed's own message, naming the map.
#[test]
fn build_refuses_what_beed_would() -> TestResult {
    let tmp = tempdir()?;
    let src = tmp.path().join("badhist.bpf.c");
    std::fs::write(
        &src,
        "#include \"vmlinux.h\"\n#include <bpf/bpf_helpers.h>\nstruct pair { u64 a; u64 b; };\n\
         struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 8); __type(key, u32); \
         __type(value, struct pair); } hist_pairs SEC(\".maps\");\n\
         SEC(\"tracepoint/syscalls/sys_enter_getppid\") int f(void *ctx) { u32 k = 0; struct pair p = {}; \
         bpf_map_update_elem(&hist_pairs, &k, &p, BPF_ANY); return 0; }\nchar LICENSE[] SEC(\"license\") = \"GPL\";\n",
    )?;
    let ran = bee_in(tmp.path(), &["build", "badhist.bpf.c"])?;
    failed_with(&ran, &["map hist_pairs", "value must be one number"], true)?;
    Ok(())
}

#[test]
fn build_output_is_input() -> TestResult {
    let tmp = tempdir()?;
    let src = tmp.path().join("probe.bpf.c");
    std::fs::copy(fixture("user_probe.bpf.c"), &src)?;
    let before = std::fs::read(&src)?;
    let ran = bee_in(tmp.path(), &["build", "probe.bpf.c", "-o", "probe.bpf.c"])?;
    failed_with(&ran, &["probe.bpf.c", "overwrite the input", "-o"], true)?;
    assert_eq!(std::fs::read(&src)?, before, "the input was changed");
    Ok(())
}

#[test]
fn describe_not_bpf() -> TestResult {
    let tmp = tempdir()?;
    let ran = bee_in(tmp.path(), &["describe", "/bin/true"])?;
    failed_with(&ran, &["/bin/true", "not a valid BPF ELF object", "clang -target bpf"], true)?;
    std::fs::write(tmp.path().join("text.o"), "not an object\n")?;
    let ran = bee_in(tmp.path(), &["describe", "text.o"])?;
    failed_with(&ran, &["text.o", "not a valid BPF ELF object"], true)?;
    std::fs::write(tmp.path().join("empty.o"), "")?;
    let ran = bee_in(tmp.path(), &["describe", "empty.o"])?;
    failed_with(&ran, &["empty.o", "not a valid BPF ELF object"], true)?;
    Ok(())
}

/// Cut at several lengths: each says the object is invalid, none panics.
#[test]
fn describe_truncated() -> TestResult {
    let tmp = tempdir()?;
    let bytes = std::fs::read(user_probe(tmp.path())?)?;
    let cut = tmp.path().join("cut.bpf.o");
    for len in [16, 64, 600, bytes.len() / 2, bytes.len() - 1] {
        std::fs::write(&cut, bytes.get(..len).ok_or("object too short")?)?;
        let ran = bee_in(tmp.path(), &["describe", "cut.bpf.o"])?;
        failed_with(&ran, &["cut.bpf.o", "not a valid BPF ELF object"], true)?;
    }
    Ok(())
}

/// `bee describe` (which still describes it) and `bee run` of a probe with
/// no watched map; `bee build` only warns.
#[test]
fn no_watched_map() -> TestResult {
    let tmp = tempdir()?;
    let obj = bee_build(&bee_fixture("no_watched_map.bpf.c"), tmp.path(), "no_watched_map.bpf")?;
    for cmd in ["describe", "run"] {
        let ran = bee_in(tmp.path(), &[cmd, &s(&obj)])?;
        failed_with(&ran, &["no_watched_map.bpf.o", "no watched map", "print_"], true)
            .map_err(|e| format!("bee {cmd}: {e}"))?;
    }
    Ok(())
}

/// `bee run OBJ ARGS...` must fail with a line holding every needle.
fn run_fails(obj: &Path, args: &[&str], needles: &[&str]) -> TestResult {
    let o = s(obj);
    let mut all = vec!["run", "--no-tty", "--duration", "1s", o.as_str()];
    all.extend_from_slice(args);
    let dir = obj.parent().ok_or("no directory")?;
    let ran = bee_in(dir, &all)?;
    failed_with(&ran, needles, true).map_err(|e| format!("bee {}: {e}", all.join(" ")))?;
    Ok(())
}

#[test]
fn run_bad_filter() -> TestResult {
    let tmp = tempdir()?;
    let obj = user_probe(tmp.path())?;
    // a bad regex: one line, however the regex crate words it
    run_fails(&obj, &["--filter", "print_calls,comm,(oops"], &["--filter", "(oops", "not a valid regular expression"])?;
    run_fails(
        &obj,
        &["--filter", "print_nosuch,comm,x"],
        &["--filter", "no watched map `print_nosuch`", "counter_getppid, gauge_last_pid, print_calls"],
    )?;
    run_fails(
        &obj,
        &["--filter", "print_calls,nosuch,x"],
        &["print_calls has no field `nosuch`", "pid, minus_pid, comm, since_boot"],
    )?;
    run_fails(&obj, &["--filter", "print_calls"], &["--filter", "print_calls", "expected MAP,FIELD,REGEX"])?;
    run_fails(&obj, &["--filter", "print_calls,comm"], &["expected MAP,FIELD,REGEX"])?;
    Ok(())
}

#[test]
fn run_bad_var() -> TestResult {
    let tmp = tempdir()?;
    let obj = user_probe(tmp.path())?;
    run_fails(&obj, &["--var", "min_ns"], &["--var", "min_ns", "expected NAME=VALUE"])?;
    run_fails(&obj, &["--var", "nosuch=1"], &["--var nosuch", "no `const volatile` variable `nosuch`"])?;
    let sl = common::build_template(tmp.path(), "syscall-latency", "hash-map", "hist")?;
    run_fails(&sl, &["--var", "min_ns=-1"], &["--var min_ns", "does not fit"])?;
    run_fails(&sl, &["--var", "nosuch=1"], &["--var nosuch", "(it has: min_ns)"])?;
    Ok(())
}

#[test]
fn run_bad_attach() -> TestResult {
    let tmp = tempdir()?;
    let obj = user_probe(tmp.path())?;
    run_fails(&obj, &["--attach", "on_getppid"], &["--attach", "expected PROGRAM:KEY=VALUE"])?;
    run_fails(&obj, &["--attach", "on_getppid:binary"], &["--attach", "`binary` is not KEY=VALUE"])?;
    run_fails(&obj, &["--attach", "on_getppid:offset=x"], &["--attach", "offset must be a number"])?;
    run_fails(&obj, &["--attach", "on_getppid:colour=red"], &["--attach", "unknown key `colour`", "binary, func"])?;
    Ok(())
}

/// clap's own errors (bad durations, missing arguments) are clean too.
#[test]
fn run_bad_options() -> TestResult {
    let tmp = tempdir()?;
    let ran = bee_in(tmp.path(), &["run", "--interval", "0s", "x.o"])?;
    assert_eq!(ran.code, Some(2), "{}", ran.show());
    assert!(ran.stderr.contains("--interval") && ran.stderr.contains("more than 0"), "{}", ran.show());
    let ran = bee_in(tmp.path(), &["run", "--duration", "5 parsecs", "x.o"])?;
    assert_eq!(ran.code, Some(2), "{}", ran.show());
    assert!(ran.stderr.contains("is not a duration") || ran.stderr.contains("unknown unit"), "{}", ran.show());
    assert!(!ran.stderr.contains("panicked"), "{}", ran.show());
    Ok(())
}

/// Without a terminal `bee init` cannot ask: it names the flag to give.
#[test]
fn init_without_terminal() -> TestResult {
    let tmp = tempdir()?;
    let ran = bee_in(tmp.path(), &["init"])?;
    failed_with(&ran, &["--program-type", "no terminal"], true)?;
    let ran = bee_in(tmp.path(), &["init", "--program-type", "network"])?;
    failed_with(&ran, &["--map", "no terminal"], true)?;
    let ran = bee_in(tmp.path(), &["init", "--program-type", "network", "--map", "hash-map"])?;
    failed_with(&ran, &["--output-type", "no terminal"], true)?;
    let files: Vec<_> = std::fs::read_dir(tmp.path())?.collect();
    assert!(files.is_empty(), "a failed bee init wrote files");
    Ok(())
}

#[test]
fn init_existing_file() -> TestResult {
    let tmp = tempdir()?;
    let file = tmp.path().join("mine.bpf.c");
    std::fs::write(&file, "// my work\n")?;
    let args = ["init", "--program-type", "process", "--map", "ring-buffer", "--output-type", "print", "--file"];
    let mut refused: Vec<&str> = args.to_vec();
    refused.push("mine.bpf.c");
    let ran = bee_in(tmp.path(), &refused)?;
    failed_with(&ran, &["mine.bpf.c", "exists", "--force", "--file"], true)?;
    assert_eq!(std::fs::read_to_string(&file)?, "// my work\n", "the file was overwritten");
    refused.push("--force");
    let ran = bee_in(tmp.path(), &refused)?;
    assert_eq!(ran.code, Some(0), "{}", ran.show());
    assert!(ran.stdout.contains("wrote mine.bpf.c"), "{}", ran.show());
    assert!(std::fs::read_to_string(&file)?.contains("print_exits"), "--force did not write the template");
    Ok(())
}

#[test]
fn init_unknown_example() -> TestResult {
    let tmp = tempdir()?;
    let ran = bee_in(tmp.path(), &["init", "--example", "nosuch"])?;
    failed_with(&ran, &["no example `nosuch`"], true)?;
    assert!(!tmp.path().join("nosuch.bpf.c").exists());
    Ok(())
}

/// Without CA certificates (none where SSL_CERT_FILE/SSL_CERT_DIR point)
/// reqwest cannot set up its TLS: one clear error saying what to install,
/// not oci-client's panic. Fails before any connection (port 1).
#[test]
fn pull_without_ca_certificates() -> TestResult {
    let tmp = tempdir()?;
    let store = tmp.path().join("store");
    let out = std::process::Command::new(common::bee())
        .args(["--storage", &s(&store), "pull", "127.0.0.1:1/probe:v1"])
        .current_dir(tmp.path())
        .stdin(std::process::Stdio::null())
        .env_remove("RUST_BACKTRACE")
        .env("SSL_CERT_FILE", tmp.path().join("no-bundle.pem"))
        .env("SSL_CERT_DIR", tmp.path().join("no-certs"))
        .output()?;
    let ran = common::Ran::from(out);
    failed_with(&ran, &["127.0.0.1:1/probe:v1", "No CA certificates", "ca-certificates"], true)?;
    Ok(())
}
