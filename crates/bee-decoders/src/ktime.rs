//! `ktime` / `ktime_boot`: kernel timestamps to wall-clock time.
//!
//! `bpf_ktime_get_ns()` reads CLOCK_MONOTONIC (stops during suspend);
//! `bpf_ktime_get_boot_ns()` reads CLOCK_BOOTTIME (counts suspend). A value
//! `t` of either clock happened at `t + (CLOCK_REALTIME − CLOCK_x)` on the
//! wall clock; the offset is read at each conversion, so NTP steps and
//! suspends are followed. 0 (a timestamp the probe never set) stays `0`.

use bee_object::decode::{Render, Value};

use crate::time::{clock_ns, write_rfc3339};
use crate::value::int_of;

/// Converts kernel timestamps of one clock.
#[derive(Debug)]
pub struct Ktime {
    /// CLOCK_BOOTTIME (`ktime_boot`), else CLOCK_MONOTONIC (`ktime`).
    pub boot: bool,
}

impl Ktime {
    /// Nanoseconds since the Unix epoch of kernel time `t`.
    pub fn wall_ns(&self, t: u64) -> Option<i128> {
        let clock = if self.boot { libc::CLOCK_BOOTTIME } else { libc::CLOCK_MONOTONIC };
        let (real, kernel) = (clock_ns(libc::CLOCK_REALTIME)?, clock_ns(clock)?);
        Some(real - kernel + i128::from(t))
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
            let k = Ktime { boot };
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
        Ktime { boot: false }.text(Value::U(0), &mut s);
        assert_eq!(s, "0", "an unset timestamp stays 0");
    }
}
