//! Reading and writing the files beed is pointed at without letting the
//! file decide how long that takes or how much memory it needs.
//!
//! A path named in the configuration (an object, a `btf_path`, a
//! `probes.d/*.toml`) or found in the runtime directory can be a FIFO, a
//! symlink to `/proc/kmsg` or `/sys/kernel/tracing/trace_pipe` (regular files
//! by `stat` whose reads block until the kernel has something to say), or
//! `/proc/self/pagemap` (a regular file of size 0 that reads hundreds of GiB).
//! Plain `std::fs::read` blocks on the first kind, forever, and grows without
//! bound on the second. [`read_regular`] opens without blocking, checks the
//! opened file (not the path: no race), refuses a read that would block and
//! stops at a size limit.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Reads the regular file at `path`, at most `max` bytes: anything else (a
/// FIFO, a device, a directory), a read that would block, or more than `max`
/// bytes is an error saying so.
pub fn read_regular(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    let file = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    let too_big = || io::Error::new(io::ErrorKind::InvalidInput, format!("larger than {}", human(max)));
    if meta.len() > max {
        return Err(too_big());
    }
    let mut buf = Vec::new();
    buf.try_reserve_exact(usize::try_from(meta.len()).unwrap_or(0))
        .map_err(|_| io::Error::new(io::ErrorKind::OutOfMemory, "out of memory"))?;
    match (&file).take(max.saturating_add(1)).read_to_end(&mut buf) {
        Ok(_) if buf.len() as u64 > max => Err(too_big()),
        Ok(_) => Ok(buf),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            "reading it would block (a kernel pipe such as /proc/kmsg or trace_pipe, not a file)",
        )),
        Err(e) => Err(e),
    }
}

/// [`read_regular`], as UTF-8 text.
pub fn read_regular_string(path: &Path, max: u64) -> io::Result<String> {
    String::from_utf8(read_regular(path, max)?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "stream did not contain valid UTF-8"))
}

/// Replaces the file at `path` atomically with `body`: written to a fresh
/// `tmp` (whatever was there, a FIFO or a symlink included, is removed first
/// and never opened), then renamed over `path`.
pub fn replace(path: &Path, tmp: &Path, body: &[u8], mode: u32, sync: bool) -> io::Result<()> {
    match std::fs::remove_file(tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut f: File =
        OpenOptions::new().write(true).create_new(true).mode(mode).custom_flags(libc::O_NOFOLLOW).open(tmp)?;
    f.write_all(body)?;
    if sync {
        f.sync_all()?;
    }
    drop(f);
    std::fs::rename(tmp, path)
}

fn human(n: u64) -> String {
    if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_fifos_big_files_and_blocking_reads() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let ok = dir.path().join("ok");
        std::fs::write(&ok, b"hello")?;
        assert_eq!(read_regular(&ok, 5)?, b"hello");
        assert!(read_regular(&ok, 4).is_err());
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600))?;
        assert!(read_regular(&fifo, 100).is_err());
        // a regular file by stat that reads far more than its size says
        assert!(read_regular(Path::new("/proc/self/pagemap"), 1 << 20).is_err());
        assert!(read_regular(dir.path(), 100).is_err());
        // replace() never opens what is in the way
        let tmp = dir.path().join("tmp");
        nix::unistd::mkfifo(&tmp, nix::sys::stat::Mode::from_bits_truncate(0o600))?;
        replace(&ok, &tmp, b"new", 0o644, false)?;
        assert_eq!(std::fs::read(&ok)?, b"new");
        Ok(())
    }
}
