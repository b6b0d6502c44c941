//! Points the crate at the BPF headers of the libbpf that libbpf-sys vendors
//! (`bpf_helpers.h`, `bpf_tracing.h`, ...), so `bee` embeds the same headers
//! the project builds against and a user needs only clang; and embeds the
//! example library (`examples/*.bpf.c`) for `bee init --example`.

use std::path::PathBuf;

fn main() {
    // libbpf-sys (`links = "bpf"`) exports its install dir as DEP_BPF_INCLUDE
    match std::env::var("DEP_BPF_INCLUDE") {
        Ok(dir) => println!("cargo:rustc-env=BEE_LIBBPF_INCLUDE={dir}"),
        Err(_) => {
            println!("cargo:warning=DEP_BPF_INCLUDE is not set: libbpf-sys did not export its headers");
            std::process::exit(1);
        }
    }
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let examples = manifest.join("../../examples");
    println!("cargo:rerun-if-changed={}", examples.display());
    let mut found: Vec<(String, PathBuf)> = std::fs::read_dir(&examples)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            Some((name.strip_suffix(".bpf.c")?.to_string(), e.path()))
        })
        .collect();
    found.sort();
    let mut table =
        String::from("/// Name and C source of every example probe.\npub const EXAMPLES: &[(&str, &str)] = &[\n");
    for (name, path) in &found {
        println!("cargo:rerun-if-changed={}", path.display());
        table.push_str(&format!("    ({name:?}, include_str!({:?})),\n", path.display().to_string()));
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(e) = std::fs::write(out.join("examples.rs"), table) {
        println!("cargo:warning=writing examples.rs: {e}");
        std::process::exit(1);
    }
}
