//! Backoff with full jitter for DynamoDB throttling and transaction conflicts. The SDK's own
//! retries are switched off for the store's client so that one policy, tested here, decides
//! every retry (and the attempt count a test observes is the one this module allows).

use std::time::Duration;

/// Exponential backoff with full jitter: before retry `n` (from 0) wait a uniformly random time
/// in `[0, min(cap, base * 2^n))`. Random spreading lets competing Lambdas that conflicted once
/// stop conflicting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first retry's ceiling.
    pub base: Duration,
    /// No wait exceeds this.
    pub cap: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
}

impl Default for Backoff {
    /// 25 ms doubling to 2 s, 10 attempts: about 6 s at worst, well inside a webhook's budget.
    fn default() -> Self {
        Self {
            base: Duration::from_millis(25),
            cap: Duration::from_secs(2),
            max_attempts: 10,
        }
    }
}

impl Backoff {
    /// The ceiling of the wait before retry `retry` (0 for the first retry).
    #[must_use]
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.cap)
    }

    /// The wait before retry `retry`, for a uniform random `unit` in `[0, 1)`.
    #[must_use]
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        self.ceiling(retry).mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The wait before retry `retry`, with fresh randomness.
    #[must_use]
    pub fn jittered(&self, retry: u32) -> Duration {
        self.delay(retry, fastrand::f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_from_the_base_up_to_the_cap() {
        let backoff = Backoff {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(100),
            max_attempts: 5,
        };
        let ceilings: Vec<u128> = (0..6).map(|n| backoff.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [10, 20, 40, 80, 100, 100]);
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_millis(100));
    }

    #[test]
    fn jitter_stays_between_zero_and_the_ceiling() {
        let backoff = Backoff::default();
        assert_eq!(backoff.delay(3, 0.0), Duration::ZERO);
        assert_eq!(backoff.delay(3, 0.5), backoff.ceiling(3) / 2);
        for retry in 0..20 {
            assert!(backoff.jittered(retry) <= backoff.ceiling(retry));
        }
    }
}
