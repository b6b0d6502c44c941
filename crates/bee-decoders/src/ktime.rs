//! `ktime` / `ktime_boot`: kernel timestamps to wall-clock time.
//!
//! `bpf_ktime_get_ns()` reads CLOCK_MONOTONIC (stops during suspend);
//! `bpf_ktime_get_boot_ns()` reads CLOCK_BOOTTIME (counts suspend). A value
//! `t` of either clock happened at `t + (CLOCK_REALTIME − CLOCK_x)` on the
//! wall clock. The offset is read from both clocks at most once per second of
//! the records' own times: a timestamp within a second of the last reading
//! reuses its offset (no clock is read per event), anything else reads both
//! clocks again, so NTP steps and suspends are followed within a second.
//! 0 (a timestamp the probe never set) stays `0`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use bee_object::decode::{Render, Value};

use crate::time::{clock_ns, write_rfc3339};
use crate::value::int_of;

/// How long an offset between the clocks is reused, in the kernel clock's ns.
const REUSE_NS: u64 = 1_000_000_000;

/// Converts kernel timestamps of one clock.
#[derive(Debug, Default)]
pub struct Ktime {
    /// CLOCK_BOOTTIME (`ktime_boot`), else CLOCK_MONOTONIC (`ktime`).
    boot: bool,
    /// CLOCK_REALTIME − the kernel clock at the last reading.
    offset: AtomicI64,
    /// The kernel clock at the last reading; 0 = never read.
    read_at: AtomicU64,
}

impl Ktime {
    /// A converter of CLOCK_BOOTTIME (`boot`) or CLOCK_MONOTONIC timestamps.
    pub fn new(boot: bool) -> Self {
        Ktime { boot, ..Ktime::default() }
    }

    /// Nanoseconds since the Unix epoch of kernel time `t`.
    pub fn wall_ns(&self, t: u64) -> Option<i128> {
        let at = self.read_at.load(Ordering::Relaxed);
        if at != 0 && t.abs_diff(at) < REUSE_NS {
            return Some(i128::from(self.offset.load(Ordering::Relaxed)) + i128::from(t));
        }
        let clock = if self.boot { libc::CLOCK_BOOTTIME } else { libc::CLOCK_MONOTONIC };
        let (real, kernel) = (clock_ns(libc::CLOCK_REALTIME)?, clock_ns(clock)?);
        let offset = real - kernel;
        if let (Ok(o), Ok(k)) = (i64::try_from(offset), u64::try_from(kernel)) {
            // two stores: a conversion on another thread between them may
            // pair the new offset with the old time (or the reverse) and
            // use one reading a second longer; renders run on the engine
            self.offset.store(o, Ordering::Relaxed);
            self.read_at.store(k.max(1), Ordering::Relaxed);
        }
        Some(offset + i128::from(t))
    }
}

impl Render for Ktime {
    fn text(&self, v: Value<'_>, out: &mut String) {
        match int_of(&v) {
            Some(t) if t > 0 && t <= i128::from(u64::MAX) => match self.wall_ns(t as u64) {
                Some(ns) => write_rfc3339(out, ns),
                None => v.write_text(out),
            },
            _ => v.write_text(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_on_each_clock_is_now_on_the_wall() {
        for (boot, clock) in [(false, libc::CLOCK_MONOTONIC), (true, libc::CLOCK_BOOTTIME)] {
            let k = Ktime::new(boot);
            let t = clock_ns(clock).unwrap_or(0) as u64;
            let wall = k.wall_ns(t).unwrap_or(0);
            let real = clock_ns(libc::CLOCK_REALTIME).unwrap_or(0);
            // the two readings are microseconds apart; a second is generous
            assert!((real - wall).abs() < 1_000_000_000, "boot={boot}: {real} vs {wall}");
            let mut s = String::new();
            k.text(Value::U(t), &mut s);
            assert!(s.starts_with("20") && s.ends_with('Z') && s.len() == 30, "{s}");
        }
        let mut s = String::new();
        Ktime::new(false).text(Value::U(0), &mut s);
        assert_eq!(s, "0", "an unset timestamp stays 0");
    }

    /// Within a second of the last reading the offset is reused (the
    /// answers differ by exactly the timestamps' difference); a timestamp
    /// further away reads the clocks again.
    #[test]
    fn the_offset_is_reused_within_a_second() {
        let k = Ktime::new(false);
        let t = clock_ns(libc::CLOCK_MONOTONIC).unwrap_or(0) as u64;
        let a = k.wall_ns(t).unwrap_or(0);
        let at = k.read_at.load(Ordering::Relaxed);
        assert!(at >= t, "read at {at}, after {t}");
        assert_eq!(k.wall_ns(t + 500_000_000).unwrap_or(0) - a, 500_000_000);
        assert_eq!(k.read_at.load(Ordering::Relaxed), at, "no new reading");
        // a stale offset shows: a second away, the clocks are read again
        k.offset.store(0, Ordering::Relaxed);
        assert_eq!(k.wall_ns(t + 1).unwrap_or(-1), i128::from(t + 1), "the stored offset is used");
        let far = k.wall_ns(at + 2 * REUSE_NS).unwrap_or(0);
        assert!(far > i128::from(at + 2 * REUSE_NS) + 1_000_000_000_000_000_000, "read again: {far}");
        assert!(k.read_at.load(Ordering::Relaxed) > at);
    }
}
