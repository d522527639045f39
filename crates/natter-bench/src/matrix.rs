//! Synapse under test: the Matrix client-server API of the homeserver that
//! `bench/peers/synapse/start` runs, with the access tokens that
//! `register-users` wrote. bench/peers/README.md has the wire steps.
//!
//! A send is one `PUT …/send/m.room.message/{txn}`, done on its 200 (the
//! event is persisted). A listener is a long-polling `/sync` loop. Rooms are
//! found by alias and reused across runs: creating rooms and joining members
//! is very slow on Synapse and its data persists.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail, ensure};
use futures::StreamExt;
use reqwest::Method;
use rustls::crypto::ring;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::recorder::Recorder;
use crate::server::{Conversation, Cursor, Listener, Server, User};

const BASE: &str = "http://127.0.0.1:8008/_matrix/client/v3";
const TOKENS: &str = "/tmp/natter-bench/synapse-tokens.txt";
const PID_FILE: &str = "/tmp/natter-bench/synapse/homeserver.pid";
const REGISTER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../bench/peers/synapse/register-users"
);
const SERVER_NAME: &str = "localhost";
/// A parked /sync answers empty after this long.
const POLL_MS: u64 = 30_000;
/// Synapse needs many seconds per message in a big room (README: ~10 s for a
/// PUT into 1,024 members): a send slower than this counts as failed.
const SEND_TIMEOUT: Duration = Duration::from_secs(180);
/// A long poll's answer may queue behind the fan-out of every other member's.
const POLL_TIMEOUT: Duration = Duration::from_secs(POLL_MS / 1000 + 180);
/// Room creation, joins, initial and catch-up syncs: slow but must finish.
const SETUP_TIMEOUT: Duration = Duration::from_secs(600);
/// Setup requests in flight: Synapse's accept backlog is 50, past it the
/// kernel drops SYNs and connects stall for seconds.
const SETUP_CONCURRENCY: usize = 16;
/// Joins in flight; Synapse serialises membership changes per room anyway.
const JOIN_CONCURRENCY: usize = 8;
/// Events per room one live /sync may return; more and the timeline is
/// `limited`, i.e. some deliveries are skipped.
const LIVE_LIMIT: u64 = 1_000;
/// W4's catch-up in one /sync: `filter_timeline_limit` in homeserver.yaml.
const CATCH_UP_LIMIT: u64 = 100_000;

/// Only room timelines, members loaded lazily (README's filter).
fn filter(timeline_limit: u64) -> String {
    json!({
        "presence": {"types": []},
        "account_data": {"types": []},
        "room": {
            "timeline": {"limit": timeline_limit},
            "state": {"lazy_load_members": true},
            "ephemeral": {"types": []},
            "account_data": {"types": []},
        },
    })
    .to_string()
}

/// Percent-encodes all but RFC 3986's unreserved characters (room ids start
/// with `!`, aliases with `#`, filters are JSON).
fn enc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `user1` of `@user1:localhost`.
fn local_part(user: &User) -> &str {
    user.id
        .trim_start_matches('@')
        .split(':')
        .next()
        .unwrap_or(&user.id)
}

/// The bodies of the m.room.message events in a /sync response, and whether
/// a room's timeline was cut short (events skipped).
fn messages(sync: &Value) -> (Vec<&str>, bool) {
    let mut bodies = Vec::new();
    let mut limited = false;
    for room in sync["rooms"]["join"]
        .as_object()
        .into_iter()
        .flat_map(|rooms| rooms.values())
    {
        let timeline = &room["timeline"];
        limited |= timeline["limited"].as_bool().unwrap_or(false);
        for event in timeline["events"].as_array().into_iter().flatten() {
            if event["type"] == "m.room.message" {
                bodies.push(event["content"]["body"].as_str().unwrap_or_default());
            }
        }
    }
    (bodies, limited)
}

fn read_tokens() -> Result<Vec<(String, String)>> {
    let text = match std::fs::read_to_string(TOKENS) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(error).with_context(|| format!("cannot read {TOKENS}")),
    };
    Ok(text
        .lines()
        .filter_map(|line| {
            let (id, token) = line.split_once(' ')?;
            Some((id.to_string(), token.trim().to_string()))
        })
        .collect())
}

/// A non-2xx answer, kept apart so callers can act on 403 or 404.
#[derive(Debug)]
struct Refused {
    status: u16,
    body: Value,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Synapse answered {}: {}", self.status, self.body)
    }
}

impl std::error::Error for Refused {}

fn refused_with(error: &anyhow::Error, status: u16) -> bool {
    error
        .downcast_ref::<Refused>()
        .is_some_and(|r| r.status == status)
}

/// One HTTP client per source address (W3's `--sources`), all keep-alive.
struct Clients {
    by_source: Mutex<HashMap<Option<IpAddr>, reqwest::Client>>,
}

impl Clients {
    fn get(&self, local: Option<IpAddr>) -> Result<reqwest::Client> {
        let mut clients = self
            .by_source
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(client) = clients.get(&local) {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(30))
            .local_address(local)
            .build()?;
        clients.insert(local, client.clone());
        Ok(client)
    }
}

async fn call(
    http: &reqwest::Client,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    timeout: Duration,
) -> Result<Value> {
    let mut request = http
        .request(method, format!("{BASE}{path}"))
        .bearer_auth(token)
        .timeout(timeout);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        return Err(Refused { status, body }.into());
    }
    Ok(body)
}

/// `GET /sync`, from `since` if given, parked up to `wait_ms`.
async fn sync(
    http: &reqwest::Client,
    token: &str,
    since: Option<&str>,
    wait_ms: u64,
    limit: u64,
    timeout: Duration,
) -> Result<Value> {
    let mut path = format!("/sync?timeout={wait_ms}&filter={}", enc(&filter(limit)));
    if let Some(since) = since {
        path.push_str(&format!("&since={}", enc(since)));
    }
    call(http, token, Method::GET, &path, None, timeout).await
}

fn next_batch(sync: &Value) -> Result<String> {
    sync["next_batch"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| anyhow!("/sync without next_batch"))
}

/// Said once per run: a live /sync skipped events, so deliveries are missing.
static WARNED_LIMITED: AtomicBool = AtomicBool::new(false);

/// A listener's loop: always one /sync parked, every message body recorded.
async fn poll(http: reqwest::Client, token: String, mut since: String, recorder: Arc<Recorder>) {
    // Reported once per failure streak, not once a second per listener.
    let mut failing = false;
    loop {
        let answer = sync(
            &http,
            &token,
            Some(&since),
            POLL_MS,
            LIVE_LIMIT,
            POLL_TIMEOUT,
        )
        .await;
        match answer.and_then(|response| Ok((next_batch(&response)?, response))) {
            Ok((next, response)) => {
                since = next;
                failing = false;
                record(&response, &recorder);
            }
            Err(error) => {
                if !failing {
                    eprintln!("matrix: /sync failed, retrying every second: {error:#}");
                    failing = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn record(response: &Value, recorder: &Recorder) {
    let (bodies, limited) = messages(response);
    for body in bodies {
        recorder.record_text(body);
    }
    if limited && !WARNED_LIMITED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "matrix: a /sync timeline was limited to {LIVE_LIMIT} events; some deliveries were skipped"
        );
    }
}

pub struct Matrix {
    clients: Clients,
    http: reqwest::Client,
    tokens: tokio::sync::Mutex<Vec<(String, String)>>,
    next_user: AtomicUsize,
    next_txn: AtomicU64,
    /// Transaction ids are per access token and tokens outlive a run.
    run: u64,
    /// `timeout` of the next initial /sync; see `since`.
    cache_buster: AtomicU64,
    setup: Semaphore,
}

impl Matrix {
    pub fn new() -> Result<Matrix> {
        // reqwest is built without a default TLS provider; plain HTTP here,
        // but building a client still needs one installed.
        let _ = ring::default_provider().install_default();
        let clients = Clients {
            by_source: Mutex::default(),
        };
        Ok(Matrix {
            http: clients.get(None)?,
            clients,
            tokens: tokio::sync::Mutex::new(read_tokens()?),
            next_user: AtomicUsize::new(0),
            next_txn: AtomicU64::new(0),
            run: crate::recorder::now_nanos(),
            cache_buster: AtomicU64::new(crate::recorder::now_nanos() / 1000 % 1_000_000_000),
            setup: Semaphore::new(SETUP_CONCURRENCY),
        })
    }

    async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let _permit = self.setup.acquire().await?;
        call(&self.http, token, method, path, body, SETUP_TIMEOUT).await
    }

    /// Registers users up to `count` (logging existing ones in again), which
    /// rewrites the tokens file.
    async fn register(&self, count: usize) -> Result<Vec<(String, String)>> {
        eprintln!("matrix: registering users up to user{count} (slow: ~36 users/s)");
        let status = tokio::process::Command::new(REGISTER)
            .arg(count.to_string())
            .status()
            .await
            .with_context(|| format!("cannot run {REGISTER}"))?;
        ensure!(status.success(), "{REGISTER} {count} failed: {status}");
        read_tokens()
    }

    async fn room_by_alias(&self, token: &str, alias: &str) -> Result<Option<String>> {
        let path = format!(
            "/directory/room/{}",
            enc(&format!("#{alias}:{SERVER_NAME}"))
        );
        match self.call(token, Method::GET, &path, None).await {
            Ok(found) => Ok(found["room_id"].as_str().map(str::to_string)),
            Err(error) if refused_with(&error, 404) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The room with this alias, created by `creator` with `options` if new.
    async fn room(&self, creator: &User, alias: &str, options: Value) -> Result<String> {
        if let Some(room) = self.room_by_alias(&creator.secret, alias).await? {
            return Ok(room);
        }
        let mut options = options;
        options["room_alias_name"] = json!(alias);
        let created = self
            .call(&creator.secret, Method::POST, "/createRoom", Some(options))
            .await?;
        created["room_id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("createRoom answered {created}"))
    }

    async fn joined(&self, token: &str, room: &str) -> Result<HashSet<String>> {
        let members = self
            .call(
                token,
                Method::GET,
                &format!("/rooms/{}/joined_members", enc(room)),
                None,
            )
            .await?;
        Ok(members["joined"]
            .as_object()
            .map(|joined| joined.keys().cloned().collect())
            .unwrap_or_default())
    }

    /// Joins `member`; an invite-only room needs `inviter` to invite first.
    async fn join(&self, room: &str, inviter: &User, member: &User) -> Result<()> {
        let path = format!("/join/{}", enc(room));
        match self
            .call(&member.secret, Method::POST, &path, Some(json!({})))
            .await
        {
            Err(error) if refused_with(&error, 403) => {
                let invite = format!("/rooms/{}/invite", enc(room));
                self.call(
                    &inviter.secret,
                    Method::POST,
                    &invite,
                    Some(json!({ "user_id": member.id })),
                )
                .await?;
                self.call(&member.secret, Method::POST, &path, Some(json!({})))
                    .await
                    .map(|_| ())
            }
            other => other.map(|_| ()),
        }
    }

    /// Every member joined, joining only those who are not: a join is a new
    /// membership event each time, and costly in a big room.
    async fn ensure_joined(&self, room: &str, creator: &User, members: &[User]) -> Result<()> {
        let joined = match self.joined(&creator.secret, room).await {
            Ok(joined) => joined,
            Err(error) if refused_with(&error, 403) => {
                self.join(room, creator, creator).await?;
                self.joined(&creator.secret, room).await?
            }
            Err(error) => return Err(error),
        };
        let missing: Vec<User> = members
            .iter()
            .filter(|m| !joined.contains(&m.id))
            .cloned()
            .collect();
        if missing.len() > 50 {
            eprintln!(
                "matrix: joining {} members to {room} (slow, done once: the room is reused by alias)",
                missing.len()
            );
        }
        // Owned users: a closure over borrowed ones is not Send enough for async_trait.
        let joins = missing
            .into_iter()
            .map(|member| async move { self.join(room, creator, &member).await });
        let results: Vec<Result<()>> = futures::stream::iter(joins)
            .buffer_unordered(JOIN_CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// An initial /sync with a one-event timeline: "now" for `token`.
    ///
    /// Synapse caches /sync answers for 2 minutes by (user, device, since,
    /// filter, timeout, …): the same initial sync again would return the
    /// earlier, stale `next_batch`, and everything since then would count as
    /// delivered. An initial sync never waits, so a `timeout` that differs
    /// each time changes nothing but the cache key.
    async fn since(&self, http: &reqwest::Client, token: &str) -> Result<String> {
        let _permit = self.setup.acquire().await?;
        let unique = self.cache_buster.fetch_add(1, Ordering::Relaxed);
        next_batch(&sync(http, token, None, unique, 1, SETUP_TIMEOUT).await?)
    }
}

#[async_trait::async_trait]
impl Server for Matrix {
    fn name(&self) -> String {
        "synapse".into()
    }

    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(PID_FILE).ok()?.trim().parse().ok()
    }

    /// The next `n` users of the tokens file, registering more if it runs out.
    async fn users(&self, n: usize) -> Result<Vec<User>> {
        let first = self.next_user.fetch_add(n, Ordering::Relaxed);
        let mut tokens = self.tokens.lock().await;
        if tokens.len() < first + n {
            *tokens = self.register(first + n).await?;
        }
        let Some(slice) = tokens.get(first..first + n) else {
            bail!("{TOKENS} has {} users, need {}", tokens.len(), first + n);
        };
        Ok(slice
            .iter()
            .enumerate()
            .map(|(index, (id, token))| User {
                id: id.clone(),
                secret: token.clone(),
                index,
            })
            .collect())
    }

    /// A private room per pair, found by its alias when it exists already.
    async fn direct(&self, a: &User, b: &User) -> Result<Conversation> {
        let alias = format!("dm-{}-{}", local_part(a), local_part(b));
        let options =
            json!({ "preset": "trusted_private_chat", "is_direct": true, "invite": [b.id] });
        let room = self.room(a, &alias, options).await?;
        self.ensure_joined(&room, a, std::slice::from_ref(b))
            .await?;
        Ok(Conversation {
            id: room,
            members: vec![a.clone(), b.clone()],
        })
    }

    /// A public room (joins need no invite) named after its first member and
    /// size, so a later run with the same users reuses it as it is.
    async fn group(&self, members: &[User]) -> Result<Conversation> {
        let creator = members
            .first()
            .ok_or_else(|| anyhow!("a group needs members"))?;
        let alias = format!("group-{}-{}", local_part(creator), members.len());
        let room = self
            .room(creator, &alias, json!({ "preset": "public_chat" }))
            .await?;
        self.ensure_joined(&room, creator, &members[1..]).await?;
        Ok(Conversation {
            id: room,
            members: members.to_vec(),
        })
    }

    /// Returns once the user has its `since` token; the long poll then runs
    /// in the listener's task.
    async fn listen(
        &self,
        user: &User,
        recorder: Arc<Recorder>,
        local: Option<IpAddr>,
    ) -> Result<Listener> {
        let http = self.clients.get(local)?;
        let since = self.since(&http, &user.secret).await?;
        Ok(Listener {
            task: tokio::spawn(poll(http, user.secret.clone(), since, recorder)),
        })
    }

    async fn send(&self, from: &User, to: &Conversation, body: &str) -> Result<()> {
        let txn = format!(
            "{}-{}",
            self.run,
            self.next_txn.fetch_add(1, Ordering::Relaxed)
        );
        let path = format!("/rooms/{}/send/m.room.message/{txn}", enc(&to.id));
        let content = json!({ "msgtype": "m.text", "body": body });
        call(
            &self.http,
            &from.secret,
            Method::PUT,
            &path,
            Some(content),
            SEND_TIMEOUT,
        )
        .await
        .map(|_| ())
    }

    async fn cursor(&self, user: &User) -> Result<Cursor> {
        Ok(Cursor(self.since(&self.http, &user.secret).await?))
    }

    /// One incremental /sync with a timeline limit big enough for all of it
    /// (README option A).
    async fn catch_up(&self, user: &User, cursor: &Cursor) -> Result<usize> {
        let response = sync(
            &self.http,
            &user.secret,
            Some(&cursor.0),
            0,
            CATCH_UP_LIMIT,
            SETUP_TIMEOUT,
        )
        .await?;
        let (bodies, limited) = messages(&response);
        if limited {
            eprintln!(
                "matrix: catch-up timeline limited to {CATCH_UP_LIMIT} events per room; older ones not counted"
            );
        }
        Ok(bodies.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_room_ids_and_aliases_for_paths() {
        assert_eq!(enc("!abc:localhost"), "%21abc%3Alocalhost");
        assert_eq!(
            enc("#dm-user1-user2:localhost"),
            "%23dm-user1-user2%3Alocalhost"
        );
    }

    #[test]
    fn finds_message_bodies_in_a_sync() {
        let response = json!({"rooms": {"join": {"!r": {"timeline": {"limited": false, "events": [
            {"type": "m.room.member", "content": {}},
            {"type": "m.room.message", "content": {"body": "bench 12"}},
        ]}}}}});
        assert_eq!(messages(&response), (vec!["bench 12"], false));
    }
}
