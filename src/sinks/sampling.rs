//! Sampling and rate limits of a print map's events (`sample = N`,
//! `max_rate = "1000/s"` in `[probes.NAME.maps.MAP]`, bumblebee #77): what
//! is skipped is counted in `beed_events_sampled_out_total` and
//! `beed_events_rate_limited_total`, by probe and map. Applied before the
//! journal's own `events.journal_rate_limit`.

use std::time::{Duration, Instant};

use prometheus::IntCounter;

use crate::sinks::token_bucket::TokenBucket;

/// Parses `N/UNIT` (`1000/s`, `60/m`, `10/h`) or `N/DURATION` (`5/100ms`):
/// N events per period.
pub fn parse_rate(s: &str) -> Result<(u64, Duration), String> {
    let bad = || format!("max_rate `{s}`: write EVENTS/PERIOD, e.g. \"1000/s\", \"60/m\", \"5/100ms\"");
    let (n, per) = s.split_once('/').ok_or_else(bad)?;
    let n: u64 = n.trim().parse().map_err(|_| bad())?;
    let per = per.trim();
    let period = match per {
        "s" => Duration::from_secs(1),
        "m" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        d => crate::config::parse_duration(d).ok_or_else(bad)?,
    };
    if n == 0 {
        return Err(format!("max_rate `{s}`: must allow at least 1 event (to drop every event, disable the probe)"));
    }
    if period < Duration::from_millis(1) || period > Duration::from_secs(24 * 3600) {
        return Err(format!("max_rate `{s}`: the period must be 1ms to 24h"));
    }
    Ok((n, period))
}

/// What decides whether one event of a print map is written.
pub struct Sampler {
    /// Keep one event in `every` (1: all).
    every: u64,
    seen: u64,
    /// `n` events per `period`, bursts up to `n`.
    bucket: Option<TokenBucket>,
    sampled_out: IntCounter,
    rate_limited: IntCounter,
}

impl Sampler {
    /// A sampler keeping one event in `every` (the first of each group),
    /// then at most `rate` (events, period); `None` when it would keep all.
    pub fn new(
        every: Option<u64>,
        rate: Option<(u64, Duration)>,
        sampled_out: IntCounter,
        rate_limited: IntCounter,
    ) -> Option<Self> {
        let every = every.unwrap_or(1).max(1);
        if every == 1 && rate.is_none() {
            return None;
        }
        let bucket =
            rate.map(|(n, period)| TokenBucket::new(n as f64, n as f64 / period.as_secs_f64(), Instant::now()));
        Some(Sampler { every, seen: 0, bucket, sampled_out, rate_limited })
    }

    /// Whether the next event is written (counted when not).
    pub fn admit(&mut self) -> bool {
        self.admit_at(Instant::now)
    }

    /// `now` is read only when a kept event meets the rate limit.
    fn admit_at(&mut self, now: impl FnOnce() -> Instant) -> bool {
        let keep = self.seen % self.every == 0;
        self.seen = self.seen.wrapping_add(1);
        if !keep {
            self.sampled_out.inc();
            return false;
        }
        let Some(b) = &mut self.bucket else { return true };
        if b.take(now()) {
            true
        } else {
            self.rate_limited.inc();
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters() -> (IntCounter, IntCounter) {
        let c = |n: &str| IntCounter::new(n, n).unwrap_or_else(|_| unreachable!());
        (c("sampled"), c("limited"))
    }

    #[test]
    fn rates_parse() {
        assert_eq!(parse_rate("1000/s"), Ok((1000, Duration::from_secs(1))));
        assert_eq!(parse_rate("60/m"), Ok((60, Duration::from_secs(60))));
        assert_eq!(parse_rate(" 10 / h"), Ok((10, Duration::from_secs(3600))));
        assert_eq!(parse_rate("5/100ms"), Ok((5, Duration::from_millis(100))));
        assert!(parse_rate("1000").is_err_and(|e| e.contains("write EVENTS/PERIOD")));
        assert!(parse_rate("x/s").is_err());
        assert!(parse_rate("1/fortnight").is_err());
        assert!(parse_rate("0/s").is_err_and(|e| e.contains("at least 1 event")));
        assert!(parse_rate("1/1us").is_err_and(|e| e.contains("1ms to 24h")));
    }

    #[test]
    fn one_in_n_is_exact() {
        let (s, l) = counters();
        let mut sm = Sampler::new(Some(10), None, s.clone(), l.clone()).unwrap_or_else(|| unreachable!());
        let kept = (0..1000).filter(|_| sm.admit()).count();
        assert_eq!(kept, 100);
        assert_eq!(s.get(), 900);
        assert_eq!(l.get(), 0);
        assert!(Sampler::new(Some(1), None, s.clone(), l.clone()).is_none(), "keeps all: no sampler");
        assert!(Sampler::new(None, None, s, l).is_none());
    }

    #[test]
    fn token_bucket_refills_with_time() {
        let (s, l) = counters();
        let mut sm = Sampler::new(Some(2), Some((3, Duration::from_secs(1))), s.clone(), l.clone())
            .unwrap_or_else(|| unreachable!());
        let t0 = Instant::now();
        // 10 events at t0: 5 survive sampling, 3 the bucket
        let kept = (0..10).filter(|_| sm.admit_at(|| t0)).count();
        assert_eq!((kept, s.get(), l.get()), (3, 5, 2));
        // half a second later: 1.5 tokens, one event passes
        let t1 = t0 + Duration::from_millis(500);
        let kept = (0..4).filter(|_| sm.admit_at(|| t1)).count();
        assert_eq!((kept, s.get(), l.get()), (1, 7, 3));
        // a long pause refills to the burst size only
        let t2 = t1 + Duration::from_secs(60);
        let kept = (0..20).filter(|_| sm.admit_at(|| t2)).count();
        assert_eq!(kept, 3);
    }
}
