//! A token bucket: the shape of every rate limit in the hub.

use std::time::Instant;

/// `rate` tokens a second, at most `burst` saved.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bucket {
    /// Tokens now.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl Bucket {
    /// A bucket holding `burst` tokens.
    pub(crate) fn full(burst: f64) -> Self {
        Bucket {
            tokens: burst,
            at: Instant::now(),
        }
    }

    /// Takes one token if there is one.
    pub(crate) fn take(&mut self, rate: f64, burst: f64) -> bool {
        self.take_at(Instant::now(), rate, burst)
    }

    /// True when [`Bucket::take`] would take one now (nothing is taken):
    /// for limits that must all allow a request before any is charged.
    pub(crate) fn ready(&mut self, rate: f64, burst: f64) -> bool {
        self.refill(Instant::now(), rate, burst);
        self.tokens >= 1.0
    }

    /// How long until [`Bucket::take`] would take one (zero when it would now).
    pub(crate) fn wait(&mut self, rate: f64, burst: f64) -> std::time::Duration {
        self.refill(Instant::now(), rate, burst);
        std::time::Duration::from_secs_f64(((1.0 - self.tokens).max(0.0) / rate).min(1e9))
    }

    /// Brings `tokens` up to `now`.
    fn refill(&mut self, now: Instant, rate: f64, burst: f64) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.at = now;
    }

    /// As [`Bucket::take`], at the time `now`.
    fn take_at(&mut self, now: Instant, rate: f64, burst: f64) -> bool {
        self.refill(now, rate, burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// True when the bucket has refilled to `burst` by now: forgetting it loses nothing.
    pub(crate) fn is_full(&self, now: Instant, rate: f64, burst: f64) -> bool {
        self.tokens + now.saturating_duration_since(self.at).as_secs_f64() * rate >= burst
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_full_bucket_allows_its_burst_then_refills_at_its_rate() {
        let start = Instant::now();
        let mut b = Bucket {
            tokens: 3.0,
            at: start,
        };
        assert!((0..3).all(|_| b.take_at(start, 2.0, 3.0)));
        assert!(!b.take_at(start, 2.0, 3.0));
        // Half a second at 2 a second is one token, not two.
        let later = start + Duration::from_millis(500);
        assert!(b.take_at(later, 2.0, 3.0));
        assert!(!b.take_at(later, 2.0, 3.0));
        // Never more than the burst, however long it waits.
        let much_later = later + Duration::from_secs(3600);
        assert!(b.is_full(much_later, 2.0, 3.0));
        assert_eq!(
            (0..10).filter(|_| b.take_at(much_later, 2.0, 3.0)).count(),
            3
        );
    }
}
