//! `bee build`: compile a probe with the local clang against the embedded
//! headers, strip DWARF (keeping BTF), then check the object the way beed
//! will load it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::cli::{Arch, BuildArgs};

/// The clang to use: `$CLANG`, else `clang`, else the newest `clang-NN` on PATH.
pub fn find_clang() -> Result<PathBuf> {
    find_tool("CLANG", "clang")
        .context("no clang found: install clang (apt install clang), or name it with CLANG=/path/to/clang")
}

/// `$VAR`, `name`, or the newest `name-NN` on PATH.
fn find_tool(var: &str, name: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    let dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    if let Some(p) = dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()) {
        return Some(p);
    }
    let mut versioned: Vec<(u32, PathBuf)> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .flatten()
        .filter_map(|e| {
            let f = e.file_name().into_string().ok()?;
            let n: u32 = f.strip_prefix(name)?.strip_prefix('-')?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    versioned.sort();
    versioned.pop().map(|(_, p)| p)
}

/// This machine's architecture.
pub fn host_arch() -> Arch {
    if cfg!(target_arch = "aarch64") {
        Arch::Aarch64
    } else {
        Arch::X86_64
    }
}

/// `probe.bpf.c` → `probe.bpf.o`, `x.c` → `x.o`, anything else → `NAME.o`.
pub fn default_output(input: &Path) -> PathBuf {
    match input.extension().and_then(|e| e.to_str()) {
        Some("c") => input.with_extension("o"),
        _ => {
            let mut s = input.as_os_str().to_owned();
            s.push(".o");
            PathBuf::from(s)
        }
    }
}

/// Compiles `args.input` for each `--arch` (default: this machine's);
/// returns each architecture with its object's path. One architecture
/// writes `-o` or INPUT with `.o`; several write `STEM.ARCH.o` beside it.
pub fn build(args: &BuildArgs) -> Result<Vec<(Arch, PathBuf)>> {
    let input = &args.input;
    let meta = std::fs::metadata(input).with_context(|| format!("{}", input.display()))?;
    if !meta.is_file() {
        bail!("{}: not a file", input.display());
    }
    let mut archs = args.arch.clone();
    archs.dedup();
    if archs.is_empty() {
        archs.push(host_arch());
    }
    if archs.len() > 1 && args.image.is_none() {
        bail!(
            "{}: several --arch make a multi-arch image: name it (bee build {} REGISTRY/NAME:TAG --arch {})",
            input.display(),
            input.display(),
            archs.iter().map(|a| a.name()).collect::<Vec<_>>().join(",")
        );
    }
    let base = args.output.clone().unwrap_or_else(|| default_output(input));
    let clang = find_clang()?;
    let include = crate::headers::include_dir().context("writing the probe headers to the cache directory")?;
    let mut outs = Vec::new();
    for &arch in &archs {
        let out = if archs.len() == 1 { base.clone() } else { base.with_extension(format!("{}.o", arch.name())) };
        if out == *input {
            bail!("{}: the output would overwrite the input: name another output file with -o", input.display());
        }
        compile_one(&clang, &include, args, arch, &out)?;
        outs.push((arch, out));
    }
    Ok(outs)
}

fn compile_one(clang: &Path, include: &Path, args: &BuildArgs, arch: Arch, out: &Path) -> Result<()> {
    let input = &args.input;
    let target_arch = match arch {
        Arch::X86_64 => "x86",
        Arch::Aarch64 => "arm64",
    };
    let mut cmd = Command::new(clang);
    cmd.args(["-g", "-O2", "-target", "bpf", &format!("-D__TARGET_ARCH_{target_arch}")]).arg("-I").arg(include);
    if let Some(dir) = input.parent().filter(|d| !d.as_os_str().is_empty()) {
        cmd.arg("-I").arg(dir);
    }
    if let Some(flags) = &args.cflags {
        cmd.args(flags.split_whitespace());
    }
    cmd.arg("-c").arg(input).arg("-o").arg(out);
    // clang's diagnostics go straight to the terminal, as clang prints them
    let st = cmd.status().with_context(|| format!("running {}", clang.display()))?;
    if !st.success() {
        let _ = std::fs::remove_file(out);
        bail!("{}: clang failed (its messages are above)", input.display());
    }
    if !args.keep_debug {
        strip_debug(out);
    }
    Ok(())
}

/// Removes DWARF (the `.debug_*` sections), keeping `.BTF` and `.BTF.ext`,
/// with llvm-strip when there is one; the object works either way.
fn strip_debug(obj: &Path) {
    let Some(strip) = find_tool("LLVM_STRIP", "llvm-strip") else {
        eprintln!("bee: note: llvm-strip not found: {} keeps its DWARF debug info", obj.display());
        return;
    };
    match Command::new(&strip).arg("-g").arg(obj).status() {
        Ok(st) if st.success() => {}
        _ => eprintln!("bee: note: {} -g {} failed: it keeps its DWARF debug info", strip.display(), obj.display()),
    }
}
