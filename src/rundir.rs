//! beed's runtime directory: `BEED_RUNTIME_DIR`, else the first path of
//! systemd's `RUNTIME_DIRECTORY` (`RuntimeDirectory=beed`), else `/run/beed`.

use std::path::PathBuf;

/// The directory beed keeps its runtime state in.
pub fn runtime_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("BEED_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return d.into();
    }
    if let Some(d) = std::env::var("RUNTIME_DIRECTORY").ok().and_then(|v| v.split(':').next().map(PathBuf::from)) {
        if !d.as_os_str().is_empty() {
            return d;
        }
    }
    PathBuf::from("/run/beed")
}
