//! Who is connected, across every node: a user is online while at least one of
//! their sockets is connected anywhere, and a presence channel's member is in
//! it while at least one of their sockets subscribes to it anywhere.
//!
//! Each "presence key" (a user, or a user in a presence channel) counts sockets
//! per node. Without Redis the counts live in this process. With Redis they are
//! a hash per key (`node -> sockets`) changed by Lua scripts, so "first socket
//! anywhere" and "last socket anywhere" are decided atomically; every node also
//! keeps a heartbeat and an index of the keys it counts in, so when a node dies
//! the others remove its counts and announce whoever went offline with it.

use std::collections::{HashMap, HashSet};

use parking_lot::Mutex;
use redis::Script;
use redis::aio::ConnectionManager;

use crate::cache::shrink_hash_map_if_sparse;

/// A user, a user in a presence channel, or a channel's subscriptions
/// (whether it is occupied, for the Pusher HTTP API and webhooks).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PresenceKey {
    Online(i64),
    Channel { channel: String, user_id: i64 },
    Occupied(String),
}

/// Counts in this process only.
#[derive(Default)]
pub struct LocalPresence {
    counts: Mutex<HashMap<PresenceKey, usize>>,
    /// channel -> user -> user_info JSON
    rosters: Mutex<HashMap<String, HashMap<i64, String>>>,
}

pub struct RedisPresence {
    redis: ConnectionManager,
    prefix: String,
    node_id: String,
    join: Script,
    leave: Script,
    drop_node: Script,
}

pub enum Presence {
    Local(LocalPresence),
    Redis(RedisPresence),
}

/// KEYS: count hash, node index set, [roster set, info hash]. ARGV: node, member, info.
/// Returns 1 when this is the key's first socket anywhere.
const JOIN: &str = r#"
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('SADD', KEYS[2], KEYS[1])
if KEYS[3] then
  redis.call('SADD', KEYS[3], ARGV[2])
  redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
end
local total = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do total = total + tonumber(v) end
if total == 1 then return 1 end
return 0
"#;

/// Same KEYS and ARGV. Returns 1 when this was the key's last socket anywhere.
const LEAVE: &str = r#"
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[2], KEYS[1])
end
local total = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do total = total + tonumber(v) end
if total <= 0 then
  redis.call('DEL', KEYS[1])
  if KEYS[3] then
    redis.call('SREM', KEYS[3], ARGV[2])
    redis.call('HDEL', KEYS[4], ARGV[2])
  end
  return 1
end
return 0
"#;

/// KEYS: a count hash. ARGV: the dead node. Returns 1 if nobody is left in it.
const DROP_NODE: &str = r#"
redis.call('HDEL', KEYS[1], ARGV[1])
local total = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do total = total + tonumber(v) end
if total <= 0 then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"#;

impl Presence {
    pub fn local() -> Presence {
        Presence::Local(LocalPresence::default())
    }

    pub fn redis(redis: ConnectionManager, prefix: &str, node_id: &str) -> Presence {
        Presence::Redis(RedisPresence {
            redis,
            prefix: format!("{prefix}pr:"),
            node_id: node_id.to_string(),
            join: Script::new(JOIN),
            leave: Script::new(LEAVE),
            drop_node: Script::new(DROP_NODE),
        })
    }

    /// Gives back memory the local counts no longer need (Redis keeps its own).
    pub fn shrink(&self) {
        if let Presence::Local(local) = self {
            local.shrink();
        }
    }

    /// True when the counts are shared with other nodes (Redis).
    pub fn is_shared(&self) -> bool {
        matches!(self, Presence::Redis(_))
    }

    /// Counts a socket in; true if it is the key's first socket anywhere.
    pub async fn join(&self, key: &PresenceKey, info: &str) -> anyhow::Result<bool> {
        match self {
            Presence::Local(local) => Ok(local.change(key, info, true)),
            Presence::Redis(redis) => redis.run(&redis.join, key, info).await,
        }
    }

    /// Counts a socket out; true if it was the key's last socket anywhere.
    pub async fn leave(&self, key: &PresenceKey) -> anyhow::Result<bool> {
        match self {
            Presence::Local(local) => Ok(local.change(key, "", false)),
            Presence::Redis(redis) => redis.run(&redis.leave, key, "").await,
        }
    }

    /// Which of `users` have at least one socket connected on any node: one
    /// lock here, or one pipelined round trip to Redis.
    pub async fn online_among(&self, users: &[i64]) -> anyhow::Result<HashSet<i64>> {
        if users.is_empty() {
            return Ok(HashSet::new());
        }
        match self {
            Presence::Local(local) => {
                let counts = local.counts.lock();
                Ok(users
                    .iter()
                    .copied()
                    .filter(|u| counts.contains_key(&PresenceKey::Online(*u)))
                    .collect())
            }
            Presence::Redis(redis) => {
                let mut pipe = redis::pipe();
                for user in users {
                    pipe.cmd("EXISTS")
                        .arg(redis.count_key(&PresenceKey::Online(*user)));
                }
                let mut conn = redis.redis.clone();
                let exists: Vec<bool> = pipe.query_async(&mut conn).await?;
                Ok(users
                    .iter()
                    .zip(exists)
                    .filter_map(|(user, online)| online.then_some(*user))
                    .collect())
            }
        }
    }

    /// How many sockets the key counts, on every node.
    pub async fn count(&self, key: &PresenceKey) -> anyhow::Result<u64> {
        match self {
            Presence::Local(local) => Ok(local.counts.lock().get(key).copied().unwrap_or(0) as u64),
            Presence::Redis(redis) => {
                let mut conn = redis.redis.clone();
                let counts: Vec<i64> = redis::cmd("HVALS")
                    .arg(redis.count_key(key))
                    .query_async(&mut conn)
                    .await?;
                Ok(counts.into_iter().sum::<i64>().max(0) as u64)
            }
        }
    }

    /// The channels at least one socket subscribes to, anywhere.
    pub async fn occupied(&self) -> anyhow::Result<Vec<String>> {
        match self {
            Presence::Local(local) => Ok(local
                .counts
                .lock()
                .keys()
                .filter_map(|key| match key {
                    PresenceKey::Occupied(channel) => Some(channel.clone()),
                    _ => None,
                })
                .collect()),
            Presence::Redis(redis) => {
                let mut conn = redis.redis.clone();
                Ok(redis::cmd("SMEMBERS")
                    .arg(redis.occupied_set())
                    .query_async(&mut conn)
                    .await?)
            }
        }
    }

    /// A presence channel's members and their user_info JSON.
    pub async fn roster(&self, channel: &str) -> anyhow::Result<Vec<(i64, String)>> {
        match self {
            Presence::Local(local) => Ok(local
                .rosters
                .lock()
                .get(channel)
                .map(|m| m.iter().map(|(id, info)| (*id, info.clone())).collect())
                .unwrap_or_default()),
            Presence::Redis(redis) => {
                let mut conn = redis.redis.clone();
                let info: HashMap<String, String> = redis::cmd("HGETALL")
                    .arg(format!("{}info:{channel}", redis.prefix))
                    .query_async(&mut conn)
                    .await?;
                Ok(info
                    .into_iter()
                    .filter_map(|(id, info)| id.parse().ok().map(|id| (id, info)))
                    .collect())
            }
        }
    }
}

impl LocalPresence {
    /// Gives back the room of counts that went to zero (see
    /// [`crate::cache::shrink_if_sparse`]).
    fn shrink(&self) {
        shrink_hash_map_if_sparse(&mut self.counts.lock());
        shrink_hash_map_if_sparse(&mut self.rosters.lock());
    }

    fn change(&self, key: &PresenceKey, info: &str, join: bool) -> bool {
        let mut counts = self.counts.lock();
        let count = counts.entry(key.clone()).or_insert(0);
        let edge = if join {
            *count += 1;
            *count == 1
        } else {
            *count = count.saturating_sub(1);
            *count == 0
        };
        if *count == 0 {
            counts.remove(key);
        }
        drop(counts);
        if let (true, PresenceKey::Channel { channel, user_id }) = (edge, key) {
            let mut rosters = self.rosters.lock();
            if join {
                rosters
                    .entry(channel.clone())
                    .or_default()
                    .insert(*user_id, info.to_string());
            } else if let Some(roster) = rosters.get_mut(channel) {
                roster.remove(user_id);
                if roster.is_empty() {
                    rosters.remove(channel);
                }
            }
        }
        edge
    }
}

impl RedisPresence {
    fn count_key(&self, key: &PresenceKey) -> String {
        match key {
            PresenceKey::Online(user) => format!("{}user:{user}", self.prefix),
            PresenceKey::Channel { channel, user_id } => {
                format!("{}ch:{channel}|{user_id}", self.prefix)
            }
            PresenceKey::Occupied(channel) => format!("{}occ:{channel}", self.prefix),
        }
    }

    /// The set of occupied channels, and the hash the scripts keep beside it
    /// (the scripts' roster and info keys).
    fn occupied_set(&self) -> String {
        format!("{}occupied", self.prefix)
    }

    fn occupied_info(&self) -> String {
        format!("{}occupied:info", self.prefix)
    }

    fn node_index(&self, node: &str) -> String {
        format!("{}node:{node}", self.prefix)
    }

    async fn run(&self, script: &Script, key: &PresenceKey, info: &str) -> anyhow::Result<bool> {
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.count_key(key))
            .key(self.node_index(&self.node_id));
        let member = match key {
            PresenceKey::Online(user) => user.to_string(),
            PresenceKey::Channel { channel, user_id } => {
                invocation
                    .key(format!("{}roster:{channel}", self.prefix))
                    .key(format!("{}info:{channel}", self.prefix));
                user_id.to_string()
            }
            PresenceKey::Occupied(channel) => {
                invocation
                    .key(self.occupied_set())
                    .key(self.occupied_info());
                channel.clone()
            }
        };
        invocation.arg(&self.node_id).arg(member).arg(info);
        let mut conn = self.redis.clone();
        let edge: i64 = invocation.invoke_async(&mut conn).await?;
        Ok(edge == 1)
    }

    /// Parses a count key back into what it counts.
    fn parse_count_key(&self, key: &str) -> Option<PresenceKey> {
        let rest = key.strip_prefix(&self.prefix)?;
        if let Some(user) = rest.strip_prefix("user:") {
            return user.parse().ok().map(PresenceKey::Online);
        }
        if let Some(channel) = rest.strip_prefix("occ:") {
            return Some(PresenceKey::Occupied(channel.to_string()));
        }
        let (channel, user) = rest.strip_prefix("ch:")?.rsplit_once('|')?;
        Some(PresenceKey::Channel {
            channel: channel.to_string(),
            user_id: user.parse().ok()?,
        })
    }
}

/// Node liveness, for cleaning up after nodes that died (Redis only).
impl Presence {
    /// Refreshes this node's heartbeat (call every few seconds).
    pub async fn heartbeat(&self, ttl_secs: u64) -> anyhow::Result<()> {
        let Presence::Redis(redis) = self else {
            return Ok(());
        };
        let mut conn = redis.redis.clone();
        redis::pipe()
            .cmd("SET")
            .arg(format!("{}alive:{}", redis.prefix, redis.node_id))
            .arg(1)
            .arg("EX")
            .arg(ttl_secs)
            .ignore()
            .cmd("SADD")
            .arg(format!("{}nodes", redis.prefix))
            .arg(&redis.node_id)
            .ignore()
            .query_async::<()>(&mut conn)
            .await?;
        Ok(())
    }

    /// Removes the counts of nodes whose heartbeat stopped; returns the keys
    /// that now have nobody (users gone offline, members gone from channels).
    pub async fn sweep_dead_nodes(&self) -> anyhow::Result<Vec<PresenceKey>> {
        let Presence::Redis(redis) = self else {
            return Ok(Vec::new());
        };
        let mut conn = redis.redis.clone();
        let nodes: Vec<String> = redis::cmd("SMEMBERS")
            .arg(format!("{}nodes", redis.prefix))
            .query_async(&mut conn)
            .await?;
        let mut emptied = Vec::new();
        for node in nodes.into_iter().filter(|n| *n != redis.node_id) {
            let alive: bool = redis::cmd("EXISTS")
                .arg(format!("{}alive:{node}", redis.prefix))
                .query_async(&mut conn)
                .await?;
            if alive {
                continue;
            }
            // One sweeper per dead node, whichever node gets there first.
            let claimed: Option<String> = redis::cmd("SET")
                .arg(format!("{}sweep:{node}", redis.prefix))
                .arg(&redis.node_id)
                .arg("NX")
                .arg("EX")
                .arg(60)
                .query_async(&mut conn)
                .await?;
            if claimed.is_none() {
                continue;
            }
            emptied.extend(redis.drop_node_counts(&node).await?);
        }
        Ok(emptied)
    }

    /// Removes what this node's id counted before this process started (a
    /// node killed and restarted under the same NODE_ID within the heartbeat
    /// TTL is never seen dead by the others); returns the keys that now have
    /// nobody. Call once at start, before accepting sockets.
    pub async fn clear_own(&self) -> anyhow::Result<Vec<PresenceKey>> {
        let Presence::Redis(redis) = self else {
            return Ok(Vec::new());
        };
        let emptied = redis.drop_node_counts(&redis.node_id).await?;
        let mut conn = redis.redis.clone();
        redis::cmd("DEL")
            .arg(format!("{}sweep:{}", redis.prefix, redis.node_id))
            .query_async::<()>(&mut conn)
            .await?;
        Ok(emptied)
    }
}

impl RedisPresence {
    /// Drops one node's counts from every key it counted in.
    async fn drop_node_counts(&self, node: &str) -> anyhow::Result<Vec<PresenceKey>> {
        let redis = self;
        let mut conn = redis.redis.clone();
        let mut emptied = Vec::new();
        {
            let keys: Vec<String> = redis::cmd("SMEMBERS")
                .arg(redis.node_index(node))
                .query_async(&mut conn)
                .await?;
            for key in keys {
                let now_empty: i64 = redis
                    .drop_node
                    .key(&key)
                    .arg(node)
                    .invoke_async(&mut conn)
                    .await?;
                if now_empty == 1
                    && let Some(parsed) = redis.parse_count_key(&key)
                {
                    if let PresenceKey::Channel { channel, user_id } = &parsed {
                        redis::pipe()
                            .cmd("SREM")
                            .arg(format!("{}roster:{channel}", redis.prefix))
                            .arg(user_id)
                            .ignore()
                            .cmd("HDEL")
                            .arg(format!("{}info:{channel}", redis.prefix))
                            .arg(user_id)
                            .ignore()
                            .query_async::<()>(&mut conn)
                            .await?;
                    }
                    if let PresenceKey::Occupied(channel) = &parsed {
                        redis::pipe()
                            .cmd("SREM")
                            .arg(redis.occupied_set())
                            .arg(channel)
                            .ignore()
                            .cmd("HDEL")
                            .arg(redis.occupied_info())
                            .arg(channel)
                            .ignore()
                            .query_async::<()>(&mut conn)
                            .await?;
                    }
                    emptied.push(parsed);
                }
            }
            redis::pipe()
                .cmd("DEL")
                .arg(redis.node_index(node))
                .ignore()
                .cmd("SREM")
                .arg(format!("{}nodes", redis.prefix))
                .arg(node)
                .ignore()
                .query_async::<()>(&mut conn)
                .await?;
        }
        Ok(emptied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_counts_edges() {
        let presence = Presence::local();
        let key = PresenceKey::Online(1);
        assert!(presence.join(&key, "").await.unwrap());
        assert!(!presence.join(&key, "").await.unwrap());
        assert!(!presence.leave(&key).await.unwrap());
        assert!(presence.leave(&key).await.unwrap());
        let member = PresenceKey::Channel {
            channel: "presence-chat.1".into(),
            user_id: 7,
        };
        assert!(presence.join(&member, r#"{"name":"x"}"#).await.unwrap());
        assert_eq!(
            presence.roster("presence-chat.1").await.unwrap(),
            vec![(7, r#"{"name":"x"}"#.to_string())]
        );
        assert!(presence.leave(&member).await.unwrap());
        assert!(presence.roster("presence-chat.1").await.unwrap().is_empty());
        assert!(presence.online_among(&[1, 2]).await.unwrap().is_empty());
        presence.join(&PresenceKey::Online(2), "").await.unwrap();
        let online = presence.online_among(&[1, 2]).await.unwrap();
        assert_eq!(online, HashSet::from([2]));
        let news = PresenceKey::Occupied("news".into());
        assert!(presence.join(&news, "").await.unwrap());
        assert!(!presence.join(&news, "").await.unwrap());
        assert_eq!(presence.count(&news).await.unwrap(), 2);
        assert_eq!(presence.occupied().await.unwrap(), vec!["news".to_string()]);
        assert!(!presence.leave(&news).await.unwrap());
        assert!(presence.leave(&news).await.unwrap());
        assert!(presence.occupied().await.unwrap().is_empty());
    }
}
