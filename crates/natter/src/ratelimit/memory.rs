//! The in-process limiter: a log of hit times per key.

use std::collections::{HashMap, VecDeque};

use parking_lot::Mutex;

use super::{Limit, RateLimiter, RetryAfter, seconds_until};
use crate::clock::now_ms;

/// Keys are swept of expired hits every this many calls, so idle keys do not pile up.
const SWEEP_EVERY: u64 = 4096;

#[derive(Default)]
pub struct MemoryLimiter {
    inner: Mutex<State>,
}

#[derive(Default)]
struct State {
    hits: HashMap<String, Window>,
    calls: u64,
}

struct Window {
    window_ms: i64,
    /// Hit times, oldest first; never longer than the limit.
    times: VecDeque<i64>,
}

impl MemoryLimiter {
    pub fn new() -> MemoryLimiter {
        MemoryLimiter::default()
    }

    /// Decides without awaiting: the lock is never held across I/O.
    pub fn acquire_now(&self, limits: &[Limit], now: i64) -> Result<(), RetryAfter> {
        let mut state = self.inner.lock();
        state.calls += 1;
        if state.calls.is_multiple_of(SWEEP_EVERY) {
            state
                .hits
                .retain(|_, w| w.times.back().is_some_and(|t| *t > now - w.window_ms));
        }
        let mut wait_ms = 0i64;
        for limit in limits {
            let window_ms = limit.window.as_millis() as i64;
            if limit.cost > limit.max {
                wait_ms = wait_ms.max(window_ms);
                continue;
            }
            if let Some(window) = state.hits.get_mut(&limit.key) {
                while window.times.front().is_some_and(|t| *t <= now - window_ms) {
                    window.times.pop_front();
                }
                // Room for `cost` once the oldest hits beyond it expire.
                let over =
                    (window.times.len() + limit.cost as usize).saturating_sub(limit.max as usize);
                if let Some(freeing) = over.checked_sub(1).and_then(|i| window.times.get(i)) {
                    wait_ms = wait_ms.max(freeing + window_ms - now);
                }
            }
        }
        if wait_ms > 0 {
            return Err(RetryAfter(seconds_until(wait_ms)));
        }
        for limit in limits {
            let window = state
                .hits
                .entry(limit.key.clone())
                .or_insert_with(|| Window {
                    window_ms: limit.window.as_millis() as i64,
                    times: VecDeque::new(),
                });
            for _ in 0..limit.cost {
                window.times.push_back(now);
            }
            while window.times.len() > limit.max as usize {
                window.times.pop_front();
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl RateLimiter for MemoryLimiter {
    async fn acquire(&self, limits: &[Limit]) -> anyhow::Result<Result<(), RetryAfter>> {
        Ok(self.acquire_now(limits, now_ms()))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn refuses_past_the_limit_and_frees_up_with_time() {
        let limiter = MemoryLimiter::new();
        let limit = [Limit::new("k", 2, Duration::from_secs(60))];
        assert!(limiter.acquire_now(&limit, 0).is_ok());
        assert!(limiter.acquire_now(&limit, 1_000).is_ok());
        assert_eq!(limiter.acquire_now(&limit, 2_000), Err(RetryAfter(58)));
        assert!(limiter.acquire_now(&limit, 60_001).is_ok());
    }

    #[test]
    fn a_costly_request_takes_all_its_hits_or_none() {
        let limiter = MemoryLimiter::new();
        let five = |cost| [Limit::new("k", 5, Duration::from_secs(60)).costing(cost)];
        assert!(limiter.acquire_now(&five(1), 0).is_ok());
        assert!(limiter.acquire_now(&five(3), 1_000).is_ok());
        // Four of five taken: two more do not fit, and take nothing.
        assert_eq!(limiter.acquire_now(&five(2), 2_000), Err(RetryAfter(58)));
        assert!(limiter.acquire_now(&five(1), 3_000).is_ok());
        // Full; three fit once the three oldest (at 0 and 1,000 ms) expire.
        assert_eq!(limiter.acquire_now(&five(3), 4_000), Err(RetryAfter(57)));
        assert!(limiter.acquire_now(&five(3), 61_000).is_ok());
        assert_eq!(
            limiter.acquire_now(&five(6), 200_000),
            Err(RetryAfter(60)),
            "more than the limit never passes"
        );
    }

    #[test]
    fn a_refusal_uses_no_quota_in_any_limit() {
        let limiter = MemoryLimiter::new();
        let tight = Limit::new("tight", 1, Duration::from_secs(60));
        let loose = Limit::new("loose", 2, Duration::from_secs(60));
        assert!(
            limiter
                .acquire_now(&[tight.clone(), loose.clone()], 0)
                .is_ok()
        );
        // Refused by "tight"; "loose" must not count this attempt.
        assert!(limiter.acquire_now(&[tight, loose.clone()], 1).is_err());
        assert!(limiter.acquire_now(std::slice::from_ref(&loose), 2).is_ok());
        assert!(limiter.acquire_now(&[loose], 3).is_err());
    }
}
