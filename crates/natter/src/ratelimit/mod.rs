//! Sliding-window rate limits, in this process or shared through Redis.
//!
//! A request passes several limits at once (an OTP request counts against its
//! number and its client IP); [`RateLimiter::acquire`] checks them all and
//! records a hit in each only when every one has room, so a refused request
//! never uses quota (API.md, "Rate limits count accepted requests only").

mod memory;
mod redis_limiter;

use std::time::Duration;

use crate::error::{ApiError, ApiResult};

pub use memory::MemoryLimiter;
pub use redis_limiter::RedisLimiter;

/// At most `max` hits per `window` for `key`; a request takes `cost` of them
/// (one, unless it is worth several: a forward to five chats is five sends).
#[derive(Debug, Clone)]
pub struct Limit {
    pub key: String,
    pub max: u32,
    pub window: Duration,
    pub cost: u32,
}

impl Limit {
    pub fn new(key: impl Into<String>, max: u32, window: Duration) -> Limit {
        Limit {
            key: key.into(),
            max,
            window,
            cost: 1,
        }
    }

    /// This request takes `cost` hits, all or none: refused, it takes none.
    /// A cost above `max` never passes (429 after a whole window).
    pub fn costing(self, cost: u32) -> Limit {
        Limit { cost, ..self }
    }
}

/// Refused: retry after this many seconds (at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

#[async_trait::async_trait]
pub trait RateLimiter: Send + Sync {
    /// Records each limit's cost in hits against it if all have room;
    /// otherwise records nothing and says when the tightest one frees up.
    async fn acquire(&self, limits: &[Limit]) -> anyhow::Result<Result<(), RetryAfter>>;
}

/// Passes `limits` (recording a hit in each) or answers 429 with the wait.
/// A limit whose `max` is 0 is off.
pub async fn enforce(limiter: &dyn RateLimiter, limits: &[Limit]) -> ApiResult<()> {
    let active: Vec<Limit> = limits.iter().filter(|l| l.max > 0).cloned().collect();
    if active.is_empty() {
        return Ok(());
    }
    match limiter.acquire(&active).await? {
        Ok(()) => Ok(()),
        Err(retry) => Err(ApiError::RateLimited {
            retry_after_secs: retry.0,
        }),
    }
}

/// Whole seconds until `ms` milliseconds have passed, never 0.
fn seconds_until(ms: i64) -> u64 {
    (ms.max(0) as u64).div_ceil(1000).max(1)
}
