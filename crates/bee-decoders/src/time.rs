//! Wall-clock time of event lines (`[events] timestamp`), RFC 3339 in UTC
//! with nanoseconds, and the kernel clocks `ktime` fields are read against.

use serde::Deserialize;

/// The timestamp every JSON event line carries, taken when the record was
/// read, under the key `"time"`.
#[derive(Debug, Deserialize, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Timestamp {
    /// `"time":"2026-12-03T06:13:35.123456789Z"`
    #[default]
    Rfc3339,
    /// `"time":1796278415123456789` (nanoseconds since the Unix epoch)
    UnixNs,
    /// No timestamp (bumblebee's shape exactly).
    None,
}

impl Timestamp {
    /// Appends `"time":…,` for the current time (nothing for `None`).
    pub fn write_member(self, out: &mut String) {
        match self {
            Timestamp::None => {}
            Timestamp::Rfc3339 => {
                out.push_str("\"time\":\"");
                write_rfc3339(out, now_unix_ns());
                out.push_str("\",");
            }
            Timestamp::UnixNs => {
                out.push_str("\"time\":");
                bee_object::decode::push_u64(out, now_unix_ns().max(0) as u64);
                out.push(',');
            }
        }
    }
}

/// Nanoseconds since the Unix epoch (negative before it).
pub fn now_unix_ns() -> i128 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// Nanoseconds of a clock (`libc::CLOCK_*`); `None` if the kernel refuses.
pub fn clock_ns(clock: libc::clockid_t) -> Option<i128> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    (rc == 0).then(|| i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec))
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Appends `unix_ns` as RFC 3339 in UTC with nanoseconds:
/// `2026-12-03T06:13:35.123456789Z`.
pub fn write_rfc3339(out: &mut String, unix_ns: i128) {
    use std::fmt::Write as _;
    let secs = unix_ns.div_euclid(1_000_000_000);
    let nanos = unix_ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400).clamp(i128::from(-365 * 10_000), i128::from(365 * 10_000)) as i64;
    let sod = secs.rem_euclid(86_400) as i64;
    let (y, m, d) = civil(days);
    let _ = write!(out, "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z", sod / 3600, sod / 60 % 60, sod % 60);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc(ns: i128) -> String {
        let mut s = String::new();
        write_rfc3339(&mut s, ns);
        s
    }

    #[test]
    fn rfc3339_in_utc_with_nanoseconds() {
        for (ns, want) in [
            (0, "1970-01-01T00:00:00.000000000Z"),
            (1, "1970-01-01T00:00:00.000000001Z"),
            (951_782_400_000_000_000, "2000-02-29T00:00:00.000000000Z"),
            (1_796_278_415_123_456_789, "2026-12-03T06:13:35.123456789Z"),
            (4_107_542_399_999_999_999, "2100-02-28T23:59:59.999999999Z"),
            (-1, "1969-12-31T23:59:59.999999999Z"),
        ] {
            assert_eq!(rfc(ns), want, "{ns}");
        }
    }

    #[test]
    fn members_by_setting() {
        let mut s = String::new();
        Timestamp::None.write_member(&mut s);
        assert_eq!(s, "");
        Timestamp::Rfc3339.write_member(&mut s);
        assert!(s.starts_with("\"time\":\"2") && s.ends_with("Z\","), "{s}");
        s.clear();
        Timestamp::UnixNs.write_member(&mut s);
        let n: u64 = s.trim_start_matches("\"time\":").trim_end_matches(',').parse().unwrap_or(0);
        assert!(n > 1_700_000_000_000_000_000, "{s}");
    }

    #[test]
    fn setting_parses_from_toml() {
        #[derive(Deserialize)]
        struct T {
            timestamp: Timestamp,
        }
        let p = |s: &str| toml::from_str::<T>(s).map(|t| t.timestamp).map_err(|e| e.to_string());
        assert_eq!(p("timestamp = \"rfc3339\""), Ok(Timestamp::Rfc3339));
        assert_eq!(p("timestamp = \"unix_ns\""), Ok(Timestamp::UnixNs));
        assert_eq!(p("timestamp = \"none\""), Ok(Timestamp::None));
        assert!(p("timestamp = \"iso\"").is_err());
    }
}
