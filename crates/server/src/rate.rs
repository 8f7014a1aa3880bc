//! Per-connection flood control. Pure: time is a parameter.

/// A token bucket: `rate` messages per second on average, bursts up to `burst`.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    rate_per_ms: f64,
    burst: f64,
    tokens: f64,
    last_ms: u64,
    /// Messages refused since the last one that passed.
    refused_in_row: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Refuse this one; tell the client (only the first of a run, so the warning itself
    /// cannot flood).
    Refuse {
        notify: bool,
    },
    /// The client keeps flooding after being told: close it.
    Disconnect,
}

impl RateLimiter {
    /// Past this many refusals in a row the client is not listening: disconnect it.
    pub const MAX_REFUSED_IN_ROW: u32 = 200;

    pub fn new(rate_per_sec: f64, burst: u32, now_ms: u64) -> Self {
        RateLimiter {
            rate_per_ms: rate_per_sec.max(0.001) / 1000.0,
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last_ms: now_ms,
            refused_in_row: 0,
        }
    }

    pub fn check(&mut self, now_ms: u64) -> Verdict {
        let elapsed = now_ms.saturating_sub(self.last_ms) as f64;
        self.last_ms = self.last_ms.max(now_ms);
        self.tokens = (self.tokens + elapsed * self.rate_per_ms).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.refused_in_row = 0;
            return Verdict::Allow;
        }
        self.refused_in_row += 1;
        if self.refused_in_row > Self::MAX_REFUSED_IN_ROW {
            Verdict::Disconnect
        } else {
            Verdict::Refuse {
                notify: self.refused_in_row == 1,
            }
        }
    }
}

/// One token bucket per key (an invite, a source address): `per_min` on average,
/// bursts up to `burst`. Pure: time is a parameter.
#[derive(Debug, Clone)]
pub struct KeyedBuckets {
    rate_per_ms: f64,
    burst: f64,
    /// key → (tokens, last refill).
    buckets: std::collections::HashMap<String, (f64, u64)>,
}

impl KeyedBuckets {
    /// Past this many keys, full buckets (keys idle long enough to refill) are dropped.
    const PRUNE_AT: usize = 10_000;

    pub fn new(per_min: f64, burst: u32) -> Self {
        KeyedBuckets {
            rate_per_ms: per_min.max(0.001) / 60_000.0,
            burst: f64::from(burst.max(1)),
            buckets: std::collections::HashMap::new(),
        }
    }

    /// Takes one token for `key`, or says in how many milliseconds one will be there.
    pub fn take(&mut self, key: &str, now_ms: u64) -> Result<(), u64> {
        if self.buckets.len() >= Self::PRUNE_AT && !self.buckets.contains_key(key) {
            let (rate, burst) = (self.rate_per_ms, self.burst);
            self.buckets.retain(|_, (tokens, last)| {
                *tokens + now_ms.saturating_sub(*last) as f64 * rate < burst
            });
        }
        let burst = self.burst;
        let (tokens, last) = self
            .buckets
            .entry(key.to_owned())
            .or_insert((burst, now_ms));
        let elapsed = now_ms.saturating_sub(*last) as f64;
        *last = (*last).max(now_ms);
        *tokens = (*tokens + elapsed * self.rate_per_ms).min(burst);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.rate_per_ms).ceil() as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_buckets_limit_each_key_apart() {
        let mut b = KeyedBuckets::new(60.0, 3); // one a second
        for _ in 0..3 {
            assert_eq!(b.take("a", 0), Ok(()));
        }
        assert_eq!(b.take("a", 0), Err(1000));
        assert_eq!(b.take("b", 0), Ok(()), "another key has its own bucket");
        assert_eq!(b.take("a", 500), Err(500));
        assert_eq!(b.take("a", 1000), Ok(()));
        // Idle keys refill up to the burst, not beyond.
        for _ in 0..3 {
            assert_eq!(b.take("a", 100_000), Ok(()));
        }
        assert!(b.take("a", 100_000).is_err());
    }

    #[test]
    fn allows_bursts_then_refuses_then_recovers() {
        let mut r = RateLimiter::new(10.0, 5, 0);
        for _ in 0..5 {
            assert_eq!(r.check(0), Verdict::Allow);
        }
        assert_eq!(r.check(0), Verdict::Refuse { notify: true });
        assert_eq!(r.check(0), Verdict::Refuse { notify: false });
        // 10/s: one token every 100 ms.
        assert_eq!(r.check(100), Verdict::Allow);
        assert_eq!(r.check(100), Verdict::Refuse { notify: true });
        assert_eq!(r.check(1000), Verdict::Allow);
    }

    #[test]
    fn persistent_flooding_disconnects() {
        let mut r = RateLimiter::new(1.0, 1, 0);
        assert_eq!(r.check(0), Verdict::Allow);
        let mut last = Verdict::Allow;
        for _ in 0..=RateLimiter::MAX_REFUSED_IN_ROW {
            last = r.check(0);
        }
        assert_eq!(last, Verdict::Disconnect);
    }

    #[test]
    fn time_going_backwards_is_harmless() {
        let mut r = RateLimiter::new(1.0, 1, 1000);
        assert_eq!(r.check(1000), Verdict::Allow);
        assert!(matches!(r.check(10), Verdict::Refuse { .. }));
    }
}
