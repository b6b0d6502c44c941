//! beed's runtime directory: state that must outlive a killed beed but not
//! a reboot (the TC filters it attached through netlink, see `tc`, and the
//! outcome of the last reload, see `reloadstatus`).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Where beed keeps runtime state: `BEED_RUNTIME_DIR` if set, else the
/// first path of `RUNTIME_DIRECTORY` (systemd's `RuntimeDirectory=`, a
/// `:`-separated list), else `/run/beed`.
pub fn runtime_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BEED_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dirs) = std::env::var_os("RUNTIME_DIRECTORY") {
        if let Some(first) = dirs.as_bytes().split(|b| *b == b':').find(|d| !d.is_empty()) {
            return PathBuf::from(OsStr::from_bytes(first));
        }
    }
    PathBuf::from("/run/beed")
}
