//! The token bucket behind both rate limits of print maps: a map's
//! `max_rate` (`sampling.rs`) and the journal's per-probe
//! `events.journal_rate_limit` (`events.rs`).

use std::time::Instant;

/// Up to `capacity` events at once, refilled at `per_sec` events a second.
pub struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(capacity: f64, per_sec: f64, now: Instant) -> Self {
        TokenBucket { capacity, per_sec, tokens: capacity, last: now }
    }

    /// Changes the limit; the tokens in hand are kept up to the new capacity.
    pub fn set_limit(&mut self, capacity: f64, per_sec: f64) {
        self.capacity = capacity;
        self.per_sec = per_sec;
        self.tokens = self.tokens.min(capacity);
    }

    /// Takes a token if there is one, after refilling for the time since the
    /// last call (a clock that went back refills nothing).
    pub fn take(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.per_sec).min(self.capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3.0, 2.0, t0);
        assert_eq!((0..5).filter(|_| b.take(t0)).count(), 3, "a burst of the capacity");
        assert!(!b.take(t0 + Duration::from_millis(400)), "0.8 tokens after 400 ms");
        assert!(b.take(t0 + Duration::from_millis(500)), "1.0 after 500 ms");
        // a long pause refills to the capacity only
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..10).filter(|_| b.take(later)).count(), 3);
        // a lower limit caps what is in hand
        let mut c = TokenBucket::new(10.0, 10.0, t0);
        c.set_limit(1.0, 1.0);
        assert_eq!((0..10).filter(|_| c.take(t0)).count(), 1);
        // an earlier instant refills nothing and does not panic
        let earlier = t0.checked_sub(Duration::from_secs(1)).unwrap_or(t0);
        assert!(!c.take(earlier));
    }
}
