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

#[cfg(test)]
mod tests {
    use super::*;

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
