//! The shared limiter: one sorted set of hit times per key in Redis, checked and
//! updated by one Lua script so nodes never race each other.

use redis::Script;
use redis::aio::ConnectionManager;

use super::{Limit, RateLimiter, RetryAfter, seconds_until};
use crate::clock::now_ms;
use crate::secrets::random_token;

/// KEYS: the limit keys. ARGV: now, a unique member, then (max, window_ms,
/// cost) per key. Returns 0 when every limit had room for its cost (and
/// records that many hits in each), otherwise the milliseconds until the
/// tightest one has room.
const ACQUIRE: &str = r#"
local now = tonumber(ARGV[1])
local member = ARGV[2]
local wait = 0
for i, key in ipairs(KEYS) do
  local max = tonumber(ARGV[3 * i])
  local window = tonumber(ARGV[3 * i + 1])
  local cost = tonumber(ARGV[3 * i + 2])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local over = redis.call('ZCARD', key) + cost - max
  if cost > max then
    if window > wait then wait = window end
  elseif over > 0 then
    local freeing = redis.call('ZRANGE', key, over - 1, over - 1, 'WITHSCORES')
    local free_at = tonumber(freeing[2]) + window
    if free_at - now > wait then wait = free_at - now end
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[3 * i + 1])
  local cost = tonumber(ARGV[3 * i + 2])
  for hit = 1, cost do
    redis.call('ZADD', key, now, member .. ':' .. hit)
  end
  redis.call('PEXPIRE', key, window)
end
return 0
"#;

pub struct RedisLimiter {
    redis: ConnectionManager,
    script: Script,
    prefix: String,
}

impl RedisLimiter {
    pub fn new(redis: ConnectionManager, prefix: &str) -> RedisLimiter {
        RedisLimiter {
            redis,
            script: Script::new(ACQUIRE),
            prefix: format!("{prefix}rl:"),
        }
    }
}

#[async_trait::async_trait]
impl RateLimiter for RedisLimiter {
    async fn acquire(&self, limits: &[Limit]) -> anyhow::Result<Result<(), RetryAfter>> {
        let mut invocation = self.script.prepare_invoke();
        invocation.arg(now_ms()).arg(random_token(16));
        for limit in limits {
            invocation
                .key(format!("{}{}", self.prefix, limit.key))
                .arg(limit.max)
                .arg(limit.window.as_millis() as u64)
                .arg(limit.cost);
        }
        let mut redis = self.redis.clone();
        let wait_ms: i64 = invocation.invoke_async(&mut redis).await?;
        Ok(if wait_ms > 0 {
            Err(RetryAfter(seconds_until(wait_ms)))
        } else {
            Ok(())
        })
    }
}
