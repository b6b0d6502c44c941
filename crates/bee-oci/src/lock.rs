//! Advisory whole-file locks (`flock(2)`) between processes using one store:
//! `bee` as a user and `beed` as a service may share `/var/lib/bee/store`.

use crate::{Error, Result};
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;

/// A held lock; released when dropped (the file is closed).
pub(crate) struct Lock {
    _file: File,
}

/// Takes a shared or exclusive lock on `path` (created if missing), waiting
/// for it.
pub(crate) fn lock(path: &Path, exclusive: bool) -> Result<Lock> {
    // read-only when it exists (flock needs no write access): a store made
    // by root stays usable by a daemon running as another user
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            OpenOptions::new().write(true).create(true).truncate(false).open(path).map_err(|e| Error::io(path, e))?
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    let op = if exclusive { libc::LOCK_EX } else { libc::LOCK_SH };
    loop {
        // SAFETY: flock on a descriptor this function owns for the call.
        let r = unsafe { libc::flock(file.as_raw_fd(), op) };
        if r == 0 {
            return Ok(Lock { _file: file });
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(Error::io(path, e));
        }
    }
}
