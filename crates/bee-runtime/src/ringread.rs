//! A BPF ring buffer read in place: the consumer page and the
//! (double-mapped) data pages mapped into this process, records handed in
//! groups of up to [`GROUP`] to a Rust closure that the compiler inlines,
//! the consumer position published once per batch. This is libbpf's
//! `ringbuf_process_ring` protocol (acquire-load the producer position and
//! each record's header, skip discarded records, stop at one still being
//! written, release-store the consumer position), without its indirect call
//! per record and the store per record that makes the producer miss its
//! cache on every reserve. Groups let a sink work on several records at
//! once: start the memory loads of the next records' lookups before it
//! waits for the first one's (see `bee_metrics::ring_metric`).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::consumer::GROUP;

/// Record header flags and size (`linux/bpf.h`).
const BUSY_BIT: u32 = 1 << 31;
const DISCARD_BIT: u32 = 1 << 30;
const HDR_SZ: usize = 8;

/// One mapped ring buffer map.
pub struct RingMap {
    /// The map, for epoll (readable when the ring holds data).
    fd: OwnedFd,
    consumer: NonNull<u8>,
    /// The producer page, followed by the data pages mapped twice.
    producer: NonNull<u8>,
    page: usize,
    /// Data size (a power of two); positions are taken modulo it.
    size: usize,
}

// SAFETY: the mappings belong to this value alone; they are only read (and
// the consumer position written) through atomics or after the kernel
// committed a record, from whichever single thread owns the value.
unsafe impl Send for RingMap {}

impl RingMap {
    /// Maps ring buffer map `fd` of `size` bytes (its `max_entries`).
    pub fn new(fd: BorrowedFd<'_>, size: u32) -> std::io::Result<Self> {
        let err = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let size = size as usize;
        if !size.is_power_of_two() || size % page != 0 {
            return Err(err(format!("ring buffer size {size} is not a power of two multiple of the page size")));
        }
        let fd = fd.try_clone_to_owned()?;
        let data_len =
            size.checked_mul(2).and_then(|d| d.checked_add(page)).ok_or_else(|| err("ring too big".into()))?;
        let consumer = map(&fd, page, libc::PROT_READ | libc::PROT_WRITE, 0)?;
        let producer = match map(&fd, data_len, libc::PROT_READ, page) {
            Ok(p) => p,
            Err(e) => {
                // SAFETY: `consumer` was mapped above with this length.
                unsafe { libc::munmap(consumer.as_ptr().cast(), page) };
                return Err(e);
            }
        };
        Ok(RingMap { fd, consumer, producer, page, size })
    }

    /// The map's fd: readable (EPOLLIN) when records are waiting.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    fn consumer_pos(&self) -> &AtomicUsize {
        // SAFETY: the consumer page starts with the kernel's `unsigned long
        // consumer_pos`, page-aligned, and stays mapped while `self` lives.
        unsafe { &*self.consumer.as_ptr().cast::<AtomicUsize>() }
    }

    fn producer_pos(&self) -> &AtomicUsize {
        // SAFETY: as for the consumer page.
        unsafe { &*self.producer.as_ptr().cast::<AtomicUsize>() }
    }

    /// Hands every committed record to `f`, in order, in groups of up to
    /// [`GROUP`]; returns how many. Stops at a record still being written,
    /// and after a ring's worth of bytes so that a producer that never
    /// pauses cannot keep the caller here for ever. A group is handed over
    /// before the consumer position passes its records.
    #[inline]
    pub fn consume(&self, mut f: impl FnMut(&[&[u8]])) -> u64 {
        let mask = self.size - 1;
        // SAFETY: the data pages follow the producer page.
        let data = unsafe { self.producer.as_ptr().add(self.page) };
        let start = self.consumer_pos().load(Ordering::Acquire);
        let mut cons = start;
        let mut published = start;
        let mut n = 0u64;
        let mut group: [&[u8]; GROUP] = [&[]; GROUP];
        let mut k = 0;
        let quarter = self.size / 4;
        'drain: loop {
            let prod = self.producer_pos().load(Ordering::Acquire);
            if cons >= prod {
                break;
            }
            while cons < prod {
                let off = cons & mask;
                // SAFETY: `off` < size, and the header is 8-byte aligned
                // within the mapped data pages.
                let hdr = unsafe { &*data.add(off).cast::<AtomicU32>() };
                let len = hdr.load(Ordering::Acquire);
                if len & BUSY_BIT != 0 {
                    break 'drain;
                }
                let body = (len & !(BUSY_BIT | DISCARD_BIT)) as usize;
                if off + HDR_SZ + body > 2 * self.size {
                    break 'drain; // not a record the kernel wrote: stop reading
                }
                cons += (body + HDR_SZ + 7) & !7;
                if len & DISCARD_BIT == 0 {
                    // SAFETY: a committed record lies within the double
                    // mapping (checked above) and the kernel does not touch
                    // it until the consumer position passes it.
                    group[k] = unsafe { std::slice::from_raw_parts(data.add(off + HDR_SZ), body) };
                    k += 1;
                }
                let long = cons - published >= quarter;
                if k == GROUP || (long && k > 0) {
                    f(&group[..k]);
                    n += k as u64;
                    k = 0;
                }
                if long {
                    // free space for the producer during a long batch (the
                    // records before `cons` were handed over just above)
                    self.consumer_pos().store(cons, Ordering::Release);
                    published = cons;
                }
            }
            if cons - start >= self.size {
                break;
            }
        }
        if k > 0 {
            f(&group[..k]);
            n += k as u64;
        }
        if cons != published {
            self.consumer_pos().store(cons, Ordering::Release);
        }
        n
    }
}

fn map(fd: &OwnedFd, len: usize, prot: libc::c_int, offset: usize) -> std::io::Result<NonNull<u8>> {
    let off = libc::off_t::try_from(offset).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: a fresh shared mapping of the map's fd; the kernel checks
    // the length, protection and offset.
    let p = unsafe { libc::mmap(std::ptr::null_mut(), len, prot, libc::MAP_SHARED, fd.as_raw_fd(), off) };
    if p == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    NonNull::new(p.cast()).ok_or_else(|| std::io::Error::from(std::io::ErrorKind::Other))
}

impl Drop for RingMap {
    fn drop(&mut self) {
        // SAFETY: both were mapped in `new` with these lengths.
        unsafe {
            libc::munmap(self.consumer.as_ptr().cast(), self.page);
            libc::munmap(self.producer.as_ptr().cast(), self.page + 2 * self.size);
        }
    }
}
