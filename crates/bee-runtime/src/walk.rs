//! Reading a whole hash/array map: `BPF_MAP_LOOKUP_BATCH` into reusable
//! buffers, falling back to key iteration where the kernel lacks batch ops.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Walks one map; buffers are reused from walk to walk.
#[derive(Debug)]
pub struct Walker {
    key_size: usize,
    /// Bytes per entry in value buffers (per-CPU maps: one slot per CPU,
    /// each rounded up to 8 bytes).
    value_stride: usize,
    batch: usize,
    keys: Vec<u8>,
    values: Vec<u8>,
    token_in: Vec<u8>,
    token_out: Vec<u8>,
    use_batch: bool,
}

/// Entries fetched per batch syscall at most.
const BATCH: usize = 4096;
/// Bytes of keys and values fetched per batch syscall at most: a map with
/// 1 MiB values gets a batch of 4 entries, not 4096 (4 GiB of buffers).
const BATCH_BYTES: usize = 4 << 20;
/// Bytes the buffers may grow to when a hash bucket does not fit a batch.
const MAX_BATCH_BYTES: usize = 64 << 20;

impl Walker {
    /// A walker for a map with these sizes; `percpu` maps get one value
    /// slot per possible CPU.
    pub fn new(key_size: u32, value_size: u32, percpu: bool) -> io::Result<Self> {
        let value_stride = if percpu {
            let ncpu = libbpf_rs::num_possible_cpus().map_err(|e| io::Error::other(e.to_string()))?;
            (value_size as usize)
                .div_ceil(8)
                .checked_mul(8 * ncpu)
                .ok_or_else(|| io::Error::other(format!("per-CPU values of {value_size} bytes on {ncpu} CPUs")))?
        } else {
            value_size as usize
        };
        let key_size = key_size as usize;
        let token = key_size.max(8);
        let entry = key_size.saturating_add(value_stride).max(1);
        let batch = (BATCH_BYTES / entry).clamp(1, BATCH);
        Ok(Walker {
            key_size,
            value_stride,
            batch,
            keys: vec![0; batch * key_size],
            values: vec![0; batch * value_stride],
            token_in: vec![0; token],
            token_out: vec![0; token],
            use_batch: true,
        })
    }

    /// Bytes of one entry's value as handed to the callback.
    pub fn value_stride(&self) -> usize {
        self.value_stride
    }

    /// Calls `f(key, value)` for every entry; returns how many there were.
    pub fn walk(&mut self, fd: BorrowedFd<'_>, mut f: impl FnMut(&[u8], &[u8])) -> io::Result<usize> {
        if self.use_batch {
            match self.walk_batch(fd, &mut f) {
                Ok(n) => return Ok(n),
                Err(e) if matches!(e.raw_os_error(), Some(EINVAL | ENOTSUPP | EOPNOTSUPP)) => {
                    // no batch ops for this map type or kernel: iterate keys from now on
                    self.use_batch = false;
                }
                Err(e) => return Err(e),
            }
        }
        self.walk_keys(fd, &mut f)
    }

    fn walk_batch(&mut self, fd: BorrowedFd<'_>, f: &mut impl FnMut(&[u8], &[u8])) -> io::Result<usize> {
        let opts = libbpf_sys::bpf_map_batch_opts {
            sz: std::mem::size_of::<libbpf_sys::bpf_map_batch_opts>() as _,
            ..Default::default()
        };
        let mut total = 0;
        let mut first = true;
        loop {
            let mut count = self.batch as u32;
            let in_batch = if first { std::ptr::null_mut() } else { self.token_in.as_mut_ptr().cast() };
            // SAFETY: keys/values hold `batch` entries of key_size/value_stride
            // bytes, the tokens are at least key_size (and 8) bytes, and count
            // tells the kernel how many entries fit.
            let ret = unsafe {
                libbpf_sys::bpf_map_lookup_batch(
                    fd.as_raw_fd(),
                    in_batch,
                    self.token_out.as_mut_ptr().cast(),
                    self.keys.as_mut_ptr().cast(),
                    self.values.as_mut_ptr().cast(),
                    &mut count,
                    &opts,
                )
            };
            let errno = if ret < 0 { -ret } else { 0 };
            if errno != 0 && errno != ENOENT {
                if errno == ENOSPC && self.can_grow() {
                    // a hash bucket holds more entries than fit: grow and restart
                    self.grow();
                    return self.walk_batch(fd, f);
                }
                return Err(io::Error::from_raw_os_error(errno));
            }
            let n = (count as usize).min(self.batch);
            for i in 0..n {
                let k = &self.keys[i * self.key_size..(i + 1) * self.key_size];
                let v = &self.values[i * self.value_stride..(i + 1) * self.value_stride];
                f(k, v);
            }
            total += n;
            if errno == ENOENT {
                return Ok(total);
            }
            std::mem::swap(&mut self.token_in, &mut self.token_out);
            first = false;
        }
    }

    /// Whether the buffers may double (for a hash bucket that did not fit
    /// a batch): up to 2^20 entries and `MAX_BATCH_BYTES` of keys and values.
    fn can_grow(&self) -> bool {
        let entry = self.key_size.saturating_add(self.value_stride).max(1);
        self.batch < (1 << 20) && self.batch.saturating_mul(entry.saturating_mul(2)) <= MAX_BATCH_BYTES
    }

    fn grow(&mut self) {
        self.batch *= 2;
        self.keys.resize(self.batch * self.key_size, 0);
        self.values.resize(self.batch * self.value_stride, 0);
    }

    fn walk_keys(&mut self, fd: BorrowedFd<'_>, f: &mut impl FnMut(&[u8], &[u8])) -> io::Result<usize> {
        let ks = self.key_size;
        let (cur, rest) = self.keys.split_at_mut(ks);
        let next = &mut rest[..ks];
        let value = &mut self.values[..self.value_stride];
        let mut total = 0;
        let mut first = true;
        loop {
            let prev = if first { std::ptr::null() } else { cur.as_ptr().cast() };
            // SAFETY: `prev` is null or points to key_size bytes; `next` has key_size bytes.
            let ret = unsafe { libbpf_sys::bpf_map_get_next_key(fd.as_raw_fd(), prev, next.as_mut_ptr().cast()) };
            if ret < 0 {
                return if -ret == ENOENT { Ok(total) } else { Err(io::Error::from_raw_os_error(-ret)) };
            }
            first = false;
            cur.copy_from_slice(next);
            // SAFETY: `cur` holds key_size bytes, `value` value_stride bytes
            // (room for every CPU's slot on per-CPU maps).
            let ret = unsafe {
                libbpf_sys::bpf_map_lookup_elem(fd.as_raw_fd(), cur.as_ptr().cast(), value.as_mut_ptr().cast())
            };
            if ret < 0 {
                if -ret == ENOENT {
                    continue; // deleted between the two calls
                }
                return Err(io::Error::from_raw_os_error(-ret));
            }
            f(cur, value);
            total += 1;
        }
    }
}

const ENOENT: i32 = 2;
const EINVAL: i32 = 22;
const ENOSPC: i32 = 28;
const EOPNOTSUPP: i32 = 95;
/// Kernel-internal "operation not supported" some map types return.
const ENOTSUPP: i32 = 524;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_sized_by_bytes() -> io::Result<()> {
        let small = Walker::new(4, 8, false)?;
        assert_eq!(small.batch, BATCH);
        // 1 MiB values: a handful per batch, not 4096 (4 GiB of buffers)
        let big = Walker::new(8, 1 << 20, false)?;
        assert!(big.batch >= 1 && big.keys.len() + big.values.len() <= BATCH_BYTES + (1 << 20), "{}", big.batch);
        let huge = Walker::new(8, 8 << 20, false)?;
        assert_eq!(huge.batch, 1);
        Ok(())
    }

    #[test]
    fn buffers_and_tokens_fit_the_batch() -> io::Result<()> {
        let w = Walker::new(12, 20, false)?;
        assert_eq!((w.keys.len(), w.values.len()), (w.batch * 12, w.batch * 20));
        assert_eq!(w.value_stride(), 20);
        // the kernel writes a key into the batch token: at least 8 bytes
        assert_eq!((w.token_in.len(), w.token_out.len()), (12, 12));
        let small = Walker::new(4, 4, false)?;
        assert_eq!(small.token_in.len(), 8);
        // zero-sized keys and values still make a batch of BATCH entries
        let empty = Walker::new(0, 0, false)?;
        assert_eq!(empty.batch, BATCH);
        assert!(empty.use_batch, "batch lookups first");
        Ok(())
    }

    #[test]
    fn per_cpu_values_take_a_rounded_slot_per_cpu() -> io::Result<()> {
        let ncpu = libbpf_rs::num_possible_cpus().map_err(|e| io::Error::other(e.to_string()))?;
        let w = Walker::new(4, 12, true)?;
        assert_eq!(w.value_stride(), 16 * ncpu, "12 bytes round up to 16 per CPU");
        assert_eq!(w.values.len(), w.batch * w.value_stride());
        assert!(w.batch * (4 + w.value_stride()) <= BATCH_BYTES.max(4 + w.value_stride()));
        Ok(())
    }

    #[test]
    fn growth_doubles_within_the_byte_limit() -> io::Result<()> {
        // 1 KiB entries: 4 MiB / 1 KiB = 4096 entries to start with
        let mut w = Walker::new(24, 1000, false)?;
        assert_eq!(w.batch, BATCH);
        let mut steps = 0;
        while w.can_grow() {
            let before = w.batch;
            w.grow();
            steps += 1;
            assert_eq!(w.batch, before * 2);
            assert_eq!((w.keys.len(), w.values.len()), (w.batch * 24, w.batch * 1000));
        }
        assert!(steps >= 1, "a bucket larger than the first batch gets a second chance");
        assert!(w.keys.len() + w.values.len() <= MAX_BATCH_BYTES, "{} bytes", w.keys.len() + w.values.len());
        // one more doubling would pass the limit
        assert!(w.batch * 2 * 1024 > MAX_BATCH_BYTES);
        // tiny entries stop at 2^20 entries, not at the byte limit
        let mut tiny = Walker::new(4, 4, false)?;
        while tiny.can_grow() {
            tiny.grow();
        }
        assert_eq!(tiny.batch, 1 << 20);
        // entries above the byte limit never grow
        let huge = Walker::new(8, 40 << 20, false)?;
        assert!(!huge.can_grow());
        Ok(())
    }
}
