//! Test-only helpers shared by every crate of the workspace: the repository
//! root, the C fixtures of `tests/fixtures/`, and compiling them with clang
//! (BPF objects, against `vmlinux/` and `solo_types/`) or cc (the helper
//! programs tests run). No root needed; clang and cc must be installed.
//! [`registry`] runs a real OCI registry for the image tests.

pub mod registry;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository (workspace) root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `tests/fixtures/NAME`.
pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures").join(name)
}

/// Compiles `src` (a C file) with clang into `dir`.
pub fn compile(src: &Path, dir: &Path) -> Result<PathBuf, String> {
    let stem = src.file_name().and_then(|s| s.to_str()).unwrap_or("x").trim_end_matches(".c");
    let out = dir.join(format!("{stem}.o"));
    compile_to(src, &out, &[])?;
    Ok(out)
}

/// Compiles `src` with clang into `out`, with extra `-D...` flags.
pub fn compile_to(src: &Path, out: &Path, defines: &[&str]) -> Result<(), String> {
    let r = repo();
    let arch = if cfg!(target_arch = "aarch64") { "arm64" } else { "x86" };
    let res = Command::new("clang")
        .args(["-g", "-O2", "-target", "bpf", &format!("-D__TARGET_ARCH_{arch}")])
        .args(defines)
        .arg("-I")
        .arg(r.join("vmlinux"))
        .arg("-I")
        .arg(r.join("solo_types"))
        .arg("-c")
        .arg(src)
        .arg("-o")
        .arg(out)
        .output()
        .map_err(|e| format!("running clang: {e}"))?;
    if !res.status.success() {
        return Err(format!("clang {}: {}", src.display(), String::from_utf8_lossy(&res.stderr)));
    }
    Ok(())
}

/// Compiles the C program `tests/fixtures/NAME.c` into `dir/NAME`.
pub fn build_tool(dir: &Path, name: &str) -> Result<PathBuf, String> {
    let out = dir.join(name);
    let st = Command::new("cc")
        .arg("-O2")
        .arg("-o")
        .arg(&out)
        .arg(fixture(&format!("{name}.c")))
        .status()
        .map_err(|e| format!("running cc: {e}"))?;
    if !st.success() {
        return Err(format!("cc tests/fixtures/{name}.c failed"));
    }
    Ok(out)
}

/// `tests/fixtures/matrix.bpf.c` built with `-DLEGACY` (every watched map in
/// a section-suffix `.maps.<keyword>` section) into `dir`: its bytes.
pub fn legacy_object(dir: &Path) -> Result<Vec<u8>, String> {
    let out = dir.join("matrix-legacy.o");
    compile_to(&fixture("matrix.bpf.c"), &out, &["-DLEGACY"])?;
    std::fs::read(&out).map_err(|e| format!("{}: {e}", out.display()))
}
