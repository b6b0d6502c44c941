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

/// Writes the `"time"` member of event lines, one per event: the clock is
/// read for every line, but the date and time of day are formatted once per
/// second and only the nanoseconds for every line (formatting a whole
/// RFC 3339 time per event cost a fifth of the print path).
#[derive(Debug, Default)]
pub struct Stamper {
    kind: Timestamp,
    /// The second `prefix` was formatted for.
    second: Option<i64>,
    /// `"time":"2026-12-03T06:13:35.` for `second`.
    prefix: String,
}

impl Stamper {
    /// A writer of `kind` timestamps.
    pub fn new(kind: Timestamp) -> Self {
        Stamper { kind, second: None, prefix: String::new() }
    }

    /// The kind of timestamp written.
    pub fn kind(&self) -> Timestamp {
        self.kind
    }

    /// Appends `"time":…,` for the current time (nothing for `None`).
    #[inline]
    pub fn write_member(&mut self, out: &mut String) {
        match self.kind {
            Timestamp::None => {}
            Timestamp::UnixNs => self.kind.write_member(out),
            Timestamp::Rfc3339 => {
                let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
                // SAFETY: ts is a valid, writable timespec for the duration of the call.
                if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) } != 0 {
                    return self.kind.write_member(out);
                }
                #[allow(clippy::useless_conversion)] // time_t is 32 bits on some targets
                let sec = i64::from(ts.tv_sec);
                if self.second != Some(sec) {
                    self.prefix.clear();
                    self.prefix.push_str("\"time\":\"");
                    write_rfc3339(&mut self.prefix, i128::from(sec) * 1_000_000_000);
                    // keep `…:35.`, drop the nanoseconds and `Z`
                    self.prefix.truncate(self.prefix.len() - "000000000Z".len());
                    self.second = Some(sec);
                }
                out.push_str(&self.prefix);
                push_nanos(out, ts.tv_nsec as u32);
                out.push_str("Z\",");
            }
        }
    }
}

/// Appends `n` (< 10⁹) as exactly nine digits.
#[inline]
fn push_nanos(out: &mut String, n: u32) {
    let mut digits = [b'0'; 9];
    let mut v = n.min(999_999_999);
    for d in digits.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.push_str(std::str::from_utf8(&digits).unwrap_or("000000000"));
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
    fn stamper_writes_what_write_member_writes() {
        let mut st = Stamper::new(Timestamp::Rfc3339);
        for _ in 0..3 {
            let (mut a, mut b) = (String::new(), String::new());
            st.write_member(&mut a);
            Timestamp::Rfc3339.write_member(&mut b);
            assert_eq!(a.len(), b.len(), "{a} vs {b}");
            // the same second (or the next one, across a tick)
            let sec = |s: &str| s.get(8..27).map(str::to_string);
            assert!(sec(&a) == sec(&b) || a < b, "{a} vs {b}");
            assert!(a.starts_with("\"time\":\"20") && a.ends_with("Z\","), "{a}");
        }
        let mut s = String::new();
        push_nanos(&mut s, 5);
        push_nanos(&mut s, 123_456_789);
        assert_eq!(s, "000000005123456789");
        let mut none = Stamper::new(Timestamp::None);
        let mut s = String::new();
        none.write_member(&mut s);
        assert_eq!(s, "");
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
