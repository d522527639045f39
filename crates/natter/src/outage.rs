//! Logging a dependency that is down without flooding the log: one warning
//! when it goes, a reminder at most every [`REMIND_EVERY`] while it stays
//! down, and one line with the outage's duration when it is back.
//!
//! A loop that retries once a second (the Redis subscriber) or a request path
//! that meets the same failure thousands of times (every send while Redis is
//! down) would otherwise write a line per attempt.

use std::fmt::Display;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Longest silence between two warnings about one ongoing outage.
pub const REMIND_EVERY: Duration = Duration::from_secs(30);

/// At most one line per period; the rest are counted and said with the next.
#[derive(Debug)]
pub struct Throttle {
    period: Duration,
    state: Mutex<Option<(Instant, u64)>>,
}

impl Throttle {
    pub const fn new(period: Duration) -> Throttle {
        Throttle {
            period,
            state: parking_lot::const_mutex(None),
        }
    }

    /// `Some(suppressed)` when a line may be written now (with the number of
    /// lines held back since the last one), None when it must be held back.
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock();
        match &mut *state {
            Some((last, held)) if now.duration_since(*last) < self.period => {
                *held += 1;
                None
            }
            _ => {
                let held = state.map(|(_, held)| held).unwrap_or(0);
                *state = Some((now, 0));
                Some(held)
            }
        }
    }
}

/// One dependency's outages, for the one task that keeps trying it (it owns
/// its Outage: no lock on the path of every attempt).
#[derive(Debug)]
pub struct Outage {
    what: &'static str,
    state: Option<Down>,
}

#[derive(Debug, Clone, Copy)]
struct Down {
    since: Instant,
    warned: Instant,
    failures: u64,
}

impl Outage {
    /// `what` names the dependency and the work in the log ("Redis subscription").
    pub const fn new(what: &'static str) -> Outage {
        Outage { what, state: None }
    }

    /// An attempt failed: warns at the first failure of an outage and then at
    /// most every [`REMIND_EVERY`].
    pub fn failed(&mut self, error: &dyn Display) {
        self.failed_at(error, Instant::now());
    }

    fn failed_at(&mut self, error: &dyn Display, now: Instant) {
        match &mut self.state {
            None => {
                self.state = Some(Down {
                    since: now,
                    warned: now,
                    failures: 1,
                });
                tracing::warn!(error = %error, "{} lost; retrying", self.what);
            }
            Some(down) => {
                down.failures += 1;
                if now.duration_since(down.warned) >= REMIND_EVERY {
                    down.warned = now;
                    let down_for = now.duration_since(down.since).as_secs();
                    tracing::warn!(
                        error = %error,
                        down_for_secs = down_for,
                        failures = down.failures,
                        "{} still down; retrying", self.what
                    );
                }
            }
        }
    }

    /// An attempt worked: if an outage was under way, logs that it ended and
    /// how long it lasted. Cheap when nothing was down.
    pub fn recovered(&mut self) {
        let Some(down) = self.state.take() else {
            return;
        };
        let lasted = down.since.elapsed();
        tracing::info!(
            down_for_secs = lasted.as_secs_f64(),
            failures = down.failures,
            "{} restored after {:.1} s",
            self.what,
            lasted.as_secs_f64()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_lets_one_line_through_per_period() {
        let throttle = Throttle::new(Duration::from_secs(30));
        let start = Instant::now();
        assert_eq!(throttle.allow_at(start), Some(0));
        assert_eq!(throttle.allow_at(start + Duration::from_secs(1)), None);
        assert_eq!(throttle.allow_at(start + Duration::from_secs(29)), None);
        let later = start + Duration::from_secs(31);
        assert_eq!(
            throttle.allow_at(later),
            Some(2),
            "the held-back lines are counted"
        );
        assert_eq!(throttle.allow_at(later), None);
    }

    #[test]
    fn an_outage_warns_once_then_reminds_and_ends() {
        let mut outage = Outage::new("test dependency");
        outage.recovered();
        assert!(outage.state.is_none(), "nothing was down");
        let start = Instant::now();
        for second in 0..=10 {
            outage.failed_at(&"refused", start + Duration::from_secs(second));
        }
        let down = outage.state.expect("down");
        assert_eq!(down.failures, 11);
        assert_eq!(down.warned, down.since, "no reminder within 30 s");
        outage.failed_at(&"refused", start + Duration::from_secs(31));
        let reminded = outage.state.expect("down");
        assert!(reminded.warned > reminded.since, "a reminder after 30 s");
        outage.recovered();
        assert!(outage.state.is_none());
    }
}
