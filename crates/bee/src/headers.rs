//! The headers a probe compiles against, embedded in `bee`: `vmlinux.h` of
//! each architecture (through the repo's dispatcher), `solo_types.h`, and
//! libbpf's BPF-side headers. `bee build` writes them once per version into
//! a cache directory and passes it to clang with `-I`; the packages also
//! install them in /usr/share/bee/include.

use std::io;
use std::path::{Path, PathBuf};

macro_rules! libbpf {
    ($name:literal) => {
        (concat!("bpf/", $name), include_bytes!(concat!(env!("BEE_LIBBPF_INCLUDE"), "/bpf/", $name)) as &[u8])
    };
}

/// (path under the include directory, contents)
pub const HEADERS: &[(&str, &[u8])] = &[
    ("vmlinux.h", include_bytes!("../../../vmlinux/vmlinux.h")),
    ("x86_64/vmlinux.h", include_bytes!("../../../vmlinux/x86_64/vmlinux.h")),
    ("aarch64/vmlinux.h", include_bytes!("../../../vmlinux/aarch64/vmlinux.h")),
    ("solo_types.h", include_bytes!("../../../solo_types/solo_types.h")),
    // what the example library includes (`bee init --example` copies only the .c)
    ("bee_examples.h", include_bytes!("../../../examples/bee_examples.h")),
    ("beed_lost.h", include_bytes!("../../../src/bpf/beed_lost.h")),
    libbpf!("bpf_helpers.h"),
    libbpf!("bpf_helper_defs.h"),
    libbpf!("bpf_tracing.h"),
    libbpf!("bpf_core_read.h"),
    libbpf!("bpf_endian.h"),
    libbpf!("usdt.bpf.h"),
];

/// A directory holding every header (written once; rewritten if a file is
/// missing or differs in size, e.g. after an interrupted write).
pub fn include_dir() -> io::Result<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join("bee").join(format!("include-{}", env!("CARGO_PKG_VERSION")));
    write_all(&dir)?;
    Ok(dir)
}

/// Writes every header under `dir` where it is missing or stale.
pub fn write_all(dir: &Path) -> io::Result<()> {
    for (name, bytes) in HEADERS {
        let path = dir.join(name);
        if std::fs::metadata(&path).is_ok_and(|m| m.len() == bytes.len() as u64) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        // write then rename: a concurrent bee never reads half a header
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(())
}
