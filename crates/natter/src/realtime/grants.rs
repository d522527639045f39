//! Which user `/broadcasting/auth` signed a subscription for, so the socket
//! that presents the signature (possibly on another node) knows whose
//! subscription it is. That lets the server end it when the user leaves the
//! chat. Grants live a few minutes: clients subscribe right after authorising.
//!
//! Each socket also gets the login (user and session) that first authorised
//! it, so that ending a login (logout, refresh-token reuse) closes exactly
//! that login's sockets, on whichever node they are.

use std::time::{Duration, Instant};

use dashmap::DashMap;
use redis::aio::ConnectionManager;

use crate::cache::shrink_if_sparse;

const GRANT_TTL: Duration = Duration::from_secs(300);

/// Grants kept in this process: the most before expired ones are dropped.
const LOCAL_MAX: usize = 10_000;

pub enum Grants {
    Local {
        channels: DashMap<(String, String), (i64, Instant)>,
        logins: DashMap<String, ((i64, i64), Instant)>,
    },
    Redis {
        redis: ConnectionManager,
        prefix: String,
    },
}

impl Grants {
    pub fn local() -> Grants {
        Grants::Local {
            channels: DashMap::new(),
            logins: DashMap::new(),
        }
    }

    pub fn redis(redis: ConnectionManager, prefix: &str) -> Grants {
        Grants::Redis {
            redis,
            prefix: format!("{prefix}grant:"),
        }
    }

    /// Drops the expired grants kept in this process (Redis expires its own)
    /// and gives back their room: otherwise they stay until [`LOCAL_MAX`].
    pub fn purge_expired(&self) {
        if let Grants::Local { channels, logins } = self {
            channels.retain(|_, (_, at)| at.elapsed() < GRANT_TTL);
            logins.retain(|_, (_, at)| at.elapsed() < GRANT_TTL);
            shrink_if_sparse(channels);
            shrink_if_sparse(logins);
        }
    }

    pub async fn record(&self, socket_id: &str, channel: &str, user_id: i64) -> anyhow::Result<()> {
        match self {
            Grants::Local { channels, .. } => {
                let now = Instant::now();
                if channels.len() > LOCAL_MAX {
                    channels.retain(|_, (_, at)| now.duration_since(*at) < GRANT_TTL);
                }
                channels.insert((socket_id.to_string(), channel.to_string()), (user_id, now));
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
            Grants::Local { channels, .. } => Ok(channels
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

    /// Records which login (user, session) authorised a socket; the first
    /// login to authorise it keeps it (a socket is one client's).
    pub async fn record_login(
        &self,
        socket_id: &str,
        user_id: i64,
        session_id: i64,
    ) -> anyhow::Result<()> {
        match self {
            Grants::Local { logins, .. } => {
                let now = Instant::now();
                if logins.len() > LOCAL_MAX {
                    logins.retain(|_, (_, at)| now.duration_since(*at) < GRANT_TTL);
                }
                logins
                    .entry(socket_id.to_string())
                    .or_insert(((user_id, session_id), now));
            }
            Grants::Redis { redis, prefix } => {
                let mut conn = redis.clone();
                redis::cmd("SET")
                    .arg(format!("{prefix}{socket_id}"))
                    .arg(format!("{user_id}:{session_id}"))
                    .arg("NX")
                    .arg("EX")
                    .arg(GRANT_TTL.as_secs())
                    .query_async::<()>(&mut conn)
                    .await?;
            }
        }
        Ok(())
    }

    /// The login that first authorised a socket: (user, session).
    pub async fn login_of(&self, socket_id: &str) -> anyhow::Result<Option<(i64, i64)>> {
        match self {
            Grants::Local { logins, .. } => Ok(logins
                .get(socket_id)
                .filter(|entry| entry.1.elapsed() < GRANT_TTL)
                .map(|entry| entry.0)),
            Grants::Redis { redis, prefix } => {
                let mut conn = redis.clone();
                let text: Option<String> = redis::cmd("GET")
                    .arg(format!("{prefix}{socket_id}"))
                    .query_async(&mut conn)
                    .await?;
                Ok(text.and_then(|t| {
                    let (user, session) = t.split_once(':')?;
                    Some((user.parse().ok()?, session.parse().ok()?))
                }))
            }
        }
    }
}
