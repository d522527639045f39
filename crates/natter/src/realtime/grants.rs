//! Which user `/broadcasting/auth` signed a subscription for, so the socket
//! that presents the signature (possibly on another node) knows whose
//! subscription it is. That lets the server end it when the user leaves the
//! chat. Grants live a few minutes: clients subscribe right after authorising.

use std::time::{Duration, Instant};

use dashmap::DashMap;
use redis::aio::ConnectionManager;

const GRANT_TTL: Duration = Duration::from_secs(300);

pub enum Grants {
    Local(DashMap<(String, String), (i64, Instant)>),
    Redis {
        redis: ConnectionManager,
        prefix: String,
    },
}

impl Grants {
    pub fn local() -> Grants {
        Grants::Local(DashMap::new())
    }

    pub fn redis(redis: ConnectionManager, prefix: &str) -> Grants {
        Grants::Redis {
            redis,
            prefix: format!("{prefix}grant:"),
        }
    }

    pub async fn record(&self, socket_id: &str, channel: &str, user_id: i64) -> anyhow::Result<()> {
        match self {
            Grants::Local(map) => {
                let now = Instant::now();
                if map.len() > 10_000 {
                    map.retain(|_, (_, at)| now.duration_since(*at) < GRANT_TTL);
                }
                map.insert((socket_id.to_string(), channel.to_string()), (user_id, now));
            }
            Grants::Redis { redis, prefix } => {
                let mut conn = redis.clone();
                redis::cmd("SET")
                    .arg(format!("{prefix}{socket_id}:{channel}"))
                    .arg(user_id)
                    .arg("EX")
                    .arg(GRANT_TTL.as_secs())
                    .query_async::<()>(&mut conn)
                    .await?;
            }
        }
        Ok(())
    }

    pub async fn lookup(&self, socket_id: &str, channel: &str) -> anyhow::Result<Option<i64>> {
        match self {
            Grants::Local(map) => Ok(map
                .get(&(socket_id.to_string(), channel.to_string()))
                .filter(|entry| entry.1.elapsed() < GRANT_TTL)
                .map(|entry| entry.0)),
            Grants::Redis { redis, prefix } => {
                let mut conn = redis.clone();
                Ok(redis::cmd("GET")
                    .arg(format!("{prefix}{socket_id}:{channel}"))
                    .query_async::<Option<i64>>(&mut conn)
                    .await?)
            }
        }
    }
}
