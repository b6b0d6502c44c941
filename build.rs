//! Compiles every `src/bpf/<name>.bpf.c` into `$OUT_DIR/<name>.skel.rs` with
//! libbpf-cargo, against the repo's `vmlinux/` and `solo_types/` headers.

use std::env;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use libbpf_cargo::SkeletonBuilder;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    let bpf_dir = manifest.join("src/bpf");
    let include_vmlinux = manifest.join("vmlinux");
    let include_solo = manifest.join("solo_types");
    let clang = env::var_os("BPF_CLANG").unwrap_or_else(|| "clang".into());

    println!("cargo:rerun-if-env-changed=BPF_CLANG");
    println!("cargo:rerun-if-changed={}", include_solo.join("solo_types.h").display());
    println!("cargo:rerun-if-changed={}", include_vmlinux.join("vmlinux.h").display());
    let arch_dir = match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("aarch64") => "aarch64",
        _ => "x86_64",
    };
    println!("cargo:rerun-if-changed={}", include_vmlinux.join(arch_dir).join("vmlinux.h").display());

    let mut names = Vec::new();
    let entries = match fs::read_dir(&bpf_dir) {
        Ok(e) => e,
        Err(e) => fail(&format!("reading {}: {e}", bpf_dir.display())),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(file) = path.file_name().and_then(OsStr::to_str) else { continue };
        if file.ends_with(".h") {
            // shared by the built-ins (#include "beed_lost.h", found next to the source)
            println!("cargo:rerun-if-changed={}", path.display());
        }
        let Some(name) = file.strip_suffix(".bpf.c") else { continue };
        println!("cargo:rerun-if-changed={}", path.display());
        build_one(&path, name, &out, &clang, &include_vmlinux, &include_solo);
        names.push(name.to_string());
    }
    names.sort();

    // One module per built-in plus a table the daemon looks built-ins up in.
    let mut table = String::new();
    for name in &names {
        table.push_str(&format!("pub mod {name} {{ include!(concat!(env!(\"OUT_DIR\"), \"/{name}.skel.rs\")); }}\n"));
    }
    table.push_str("/// Name and ELF object of every built-in probe.\npub static BUILTINS: &[(&str, &[u8])] = &[\n");
    for name in &names {
        table.push_str(&format!("    (\"{name}\", include_bytes!(concat!(env!(\"OUT_DIR\"), \"/{name}.bpf.o\"))),\n"));
    }
    table.push_str("];\n");
    if let Err(e) = fs::write(out.join("builtins.rs"), table) {
        fail(&format!("writing builtins.rs: {e}"));
    }
}

fn build_one(src: &Path, name: &str, out: &Path, clang: &OsStr, vmlinux: &Path, solo: &Path) {
    let obj = out.join(format!("{name}.bpf.o"));
    let skel = out.join(format!("{name}.skel.rs"));
    let res = SkeletonBuilder::new()
        .source(src)
        .obj(&obj)
        .clang(clang)
        .clang_args([OsStr::new("-I"), vmlinux.as_os_str(), OsStr::new("-I"), solo.as_os_str(), OsStr::new("-Wall")])
        .build_and_generate(&skel);
    if let Err(e) = res {
        fail(&format!("compiling {}: {e:#}", src.display()));
    }
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    std::process::exit(1);
}
