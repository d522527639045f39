//! natter under test: started by the bench (embedded defaults, or PostgreSQL)
//! or reached by URL, driven through natter-client.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use natter_client::Client;
use natter_client::socket::PusherSocket;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::recorder::Recorder;
use crate::server::{Conversation, Cursor, Listener, Server, User};

const KEY: &str = "natter-key";
/// Requests in flight while setting users up.
const SETUP_CONCURRENCY: usize = 64;

pub struct Natter {
    /// The first node: users sign up and chats are made through it.
    client: Client,
    /// Every node (the first included): where users send and listen.
    nodes: Vec<Client>,
    outbox: PathBuf,
    child: Option<Child>,
    pid: Option<u32>,
    label: String,
    _dir: Option<tempfile::TempDir>,
    /// Which block of 100,000 numbers this run signs up, so that runs sharing a
    /// database do not sign in as each other.
    phone_block: u64,
    next_phone: AtomicU64,
}

/// Phone numbers come in this many blocks of 100,000.
const PHONE_BLOCKS: u64 = 50;

/// A block picked from the process id: concurrent runs on one machine seldom
/// share one, and `--phone-block` settles it where they must not.
fn default_phone_block() -> u64 {
    std::process::id() as u64 % PHONE_BLOCKS
}

/// How to start natter for a run.
pub struct Spawn {
    pub binary: PathBuf,
    /// None: a SQLite file in a temporary folder.
    pub database_url: Option<String>,
    /// Pin the server to this CPU with taskset.
    pub cpu: Option<usize>,
    pub extra_env: Vec<(String, String)>,
    /// Speak HTTP/2 (cleartext, prior knowledge) instead of HTTP/1.1.
    pub http2: bool,
}

/// The bench's HTTP client: every connection kept open (a real client keeps
/// its own; a pool that closed the surplus would make the server accept new
/// connections all the time), HTTP/1.1 or HTTP/2.
fn client(base_url: &str, http2: bool) -> Client {
    let mut builder = Client::http_builder()
        .timeout(Duration::from_secs(120))
        .pool_max_idle_per_host(usize::MAX);
    if http2 {
        builder = builder.http2_prior_knowledge();
    }
    Client::with_http(base_url, builder.build().unwrap_or_default())
}

impl Natter {
    /// Starts natter and waits until it listens.
    pub async fn spawn(spawn: Spawn) -> Result<Natter> {
        let dir = tempfile::tempdir()?;
        let outbox = dir.path().join("outbox.jsonl");
        let mut command = match spawn.cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(&spawn.binary);
                c
            }
            None => Command::new(&spawn.binary),
        };
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HTTP_ADDR", "127.0.0.1:0")
            .env("STORAGE_DIR", dir.path())
            .env("SMS_DRIVER", "outbox")
            .env("SMS_OUTBOX_PATH", &outbox)
            .env("OTP_RATE_PER_IP_PER_HOUR", "100000000")
            .env("OTP_RATE_PER_NUMBER_PER_HOUR", "100000000")
            .env("OTP_RESEND_SECONDS", "1")
            .env("WS_MAX_CONNECTIONS_PER_USER", "10000")
            // The bench signs in and connects thousands of users from one address.
            .env("OTP_VERIFY_PER_IP_PER_HOUR", "100000000")
            .env("OTP_VERIFY_PER_NUMBER_PER_HOUR", "100000000")
            .env("WS_MAX_ANONYMOUS_PER_IP", "100000")
            .env("SENDS_PER_MINUTE", "0")
            .env("USER_LOOKUPS_PER_HOUR", "0")
            .env("LOG_FORMAT", "json")
            .env("LOG_LEVEL", "warn,natter=info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(url) = &spawn.database_url {
            command.env("DATABASE_URL", url);
        }
        for (key, value) in &spawn.extra_env {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", spawn.binary.display()))?;
        let pid = child.id();
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(120), async {
            while let Some(line) = lines.next_line().await? {
                if let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line)
                    && entry["message"] == "listening"
                {
                    return Ok(entry["addr"].as_str().unwrap_or_default().to_string());
                }
            }
            bail!("natter exited before listening")
        })
        .await
        .context("natter did not start within two minutes")??;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let backend = match &spawn.database_url {
            Some(url) => url.split(':').next().unwrap_or("db").to_string(),
            None => "sqlite".to_string(),
        };
        let client = client(&format!("http://{addr}"), spawn.http2);
        Ok(Natter {
            nodes: vec![client.clone()],
            client,
            outbox,
            child: Some(child),
            pid,
            label: format!(
                "natter ({backend}{})",
                if spawn.http2 { ", HTTP/2" } else { "" }
            ),
            _dir: Some(dir),
            phone_block: default_phone_block(),
            next_phone: Default::default(),
        })
    }

    /// A natter someone else runs, at one URL or several (nodes sharing one
    /// database); `outbox` is the file the first node's `outbox` SMS driver
    /// writes. `phone_block` picks the numbers signed up (default: from the
    /// process id).
    pub fn remote(
        urls: &[String],
        outbox: &Path,
        pid: Option<u32>,
        http2: bool,
        phone_block: Option<u64>,
    ) -> Natter {
        let nodes: Vec<Client> = urls.iter().map(|url| client(url, http2)).collect();
        let mut label = String::from("natter");
        if nodes.len() > 1 {
            label.push_str(&format!(" ({} nodes)", nodes.len()));
        }
        if http2 {
            label.push_str(" (HTTP/2)");
        }
        Natter {
            client: nodes[0].clone(),
            nodes,
            outbox: outbox.to_path_buf(),
            child: None,
            pid,
            label,
            _dir: None,
            phone_block: phone_block.unwrap_or_else(default_phone_block),
            next_phone: Default::default(),
        }
    }

    pub fn url(&self) -> &str {
        self.client.base_url()
    }

    fn phone(&self) -> String {
        let n = self.next_phone.fetch_add(1, Ordering::Relaxed) + self.phone_block * 100_000;
        format!("+1212{}{:04}", 200 + (n / 10_000) % 800, n % 10_000)
    }

    fn as_natter_user(&self, user: &User) -> Result<(i64, Client)> {
        Ok((user.id.parse()?, self.client.with_token(&user.secret)))
    }

    /// The node `user` sends through. Users are made in pairs (W1's sender
    /// 2p and receiver 2p+1): pair p sends through node p mod n and listens
    /// on the next one ([`Natter::listening_node`]), so with two nodes or more
    /// every W1 message crosses nodes, the senders are spread over all of
    /// them, and W2's members listen spread evenly (all but 1/n of its
    /// deliveries cross). With one node, both are that node.
    fn sending_node(&self, user: &User) -> &Client {
        &self.nodes[(user.index / 2) % self.nodes.len()]
    }

    /// The node `user`'s socket connects to: the one after its sending node.
    fn listening_node(&self, user: &User) -> &Client {
        &self.nodes[(user.index / 2 + 1) % self.nodes.len()]
    }

    /// Connects as `user`, subscribes to `channel` and records every message
    /// that arrives there.
    async fn listen_on(
        &self,
        user: &User,
        channel: &str,
        recorder: Arc<Recorder>,
        local: Option<std::net::IpAddr>,
    ) -> Result<Listener> {
        let node = self.listening_node(user);
        let client = node.with_token(&user.secret);
        let mut socket = PusherSocket::connect_from(node.base_url(), KEY, local, None)
            .await
            .map_err(|e| anyhow!("connect: {e}"))?;
        socket
            .subscribe(&client, channel)
            .await
            .map_err(|e| anyhow!("subscribe: {e}"))?;
        let task = tokio::spawn(async move {
            loop {
                match socket.next_raw(Duration::from_secs(3600)).await {
                    Some(text) => {
                        if text.contains("MessageSent") {
                            recorder.record_text(&text);
                        }
                    }
                    None => return,
                }
            }
        });
        Ok(Listener { task })
    }
}

impl Drop for Natter {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.start_kill();
        }
    }
}

#[async_trait::async_trait]
impl Server for Natter {
    fn name(&self) -> String {
        self.label.clone()
    }

    fn pid(&self) -> Option<u32> {
        self.pid
    }

    fn base_url(&self) -> Option<String> {
        Some(self.url().to_string())
    }

    async fn users(&self, n: usize) -> Result<Vec<User>> {
        let phones: Vec<String> = (0..n).map(|_| self.phone()).collect();
        let sent: Vec<Result<()>> = futures::stream::iter(phones.clone())
            .map(|phone| {
                let client = self.client.clone();
                async move {
                    client
                        .send_otp(&phone, "1")
                        .await
                        .map(|_| ())
                        .map_err(|e| anyhow!("send-otp: {e}"))
                }
            })
            .buffer_unordered(SETUP_CONCURRENCY)
            .collect()
            .await;
        sent.into_iter().collect::<Result<Vec<()>>>()?;
        let codes = read_codes(&self.outbox)?;
        let verified: Vec<Result<User>> = futures::stream::iter(phones.into_iter().enumerate())
            .map(|(index, phone)| {
                let code = codes.get(&phone).cloned();
                let client = self.client.clone();
                async move {
                    let code = code.ok_or_else(|| anyhow!("no code for {phone}"))?;
                    let v = client
                        .verify_otp(&phone, "1", &code, Some(&format!("Bench {index}")))
                        .await
                        .map_err(|e| anyhow!("verify-otp: {e}"))?;
                    Ok(User {
                        id: v.user.id.to_string(),
                        secret: v.tokens.access_token,
                        index,
                    })
                }
            })
            .buffered(SETUP_CONCURRENCY)
            .collect()
            .await;
        verified.into_iter().collect()
    }

    async fn direct(&self, a: &User, b: &User) -> Result<Conversation> {
        let (_, client) = self.as_natter_user(a)?;
        let (_, chat) = client
            .private_chat(b.id.parse()?)
            .await
            .map_err(|e| anyhow!("private chat: {e}"))?;
        Ok(Conversation {
            id: chat.id.to_string(),
            members: vec![a.clone(), b.clone()],
        })
    }

    async fn group(&self, members: &[User]) -> Result<Conversation> {
        let owner = members
            .first()
            .ok_or_else(|| anyhow!("a group needs members"))?;
        let (_, client) = self.as_natter_user(owner)?;
        let others: Vec<i64> = members[1..]
            .iter()
            .map(|m| m.id.parse())
            .collect::<Result<_, _>>()?;
        let chat = client
            .create_group("bench", &others)
            .await
            .map_err(|e| anyhow!("create group: {e}"))?;
        Ok(Conversation {
            id: chat.id.to_string(),
            members: members.to_vec(),
        })
    }

    async fn listen(
        &self,
        user: &User,
        recorder: Arc<Recorder>,
        local: Option<std::net::IpAddr>,
    ) -> Result<Listener> {
        let id: i64 = user.id.parse()?;
        self.listen_on(user, &format!("private-user.{id}"), recorder, local)
            .await
    }

    async fn listen_in(
        &self,
        user: &User,
        conversation: &Conversation,
        recorder: Arc<Recorder>,
        local: Option<std::net::IpAddr>,
    ) -> Result<Listener> {
        let channel = format!("private-chat.{}", conversation.id);
        self.listen_on(user, &channel, recorder, local).await
    }

    async fn send(&self, from: &User, to: &Conversation, body: &str) -> Result<()> {
        let path = format!("/api/chats/{}/messages", to.id);
        let raw = self
            .sending_node(from)
            .with_token(&from.secret)
            .raw(
                reqwest::Method::POST,
                &path,
                Some(json!({ "message_type": "text", "content": body })),
            )
            .await
            .map_err(|e| anyhow!("send: {e}"))?;
        if raw.status != 201 {
            bail!("send answered {}: {}", raw.status, raw.body);
        }
        Ok(())
    }

    async fn cursor(&self, user: &User) -> Result<Cursor> {
        let (_, client) = self.as_natter_user(user)?;
        let events = client.sync_all(0).await.map_err(|e| anyhow!("sync: {e}"))?;
        Ok(Cursor(
            events.last().map(|e| e.seq).unwrap_or(0).to_string(),
        ))
    }

    async fn catch_up(&self, user: &User, cursor: &Cursor) -> Result<usize> {
        /// What catching up needs of a page: the bench counts messages, so
        /// event data is skipped unparsed (a client would apply it instead).
        #[derive(serde::Deserialize)]
        struct Page {
            events: Vec<Event>,
            next_since: i64,
            has_more: bool,
        }
        #[derive(serde::Deserialize)]
        struct Event {
            event: String,
        }
        let (_, client) = self.as_natter_user(user)?;
        let mut since: i64 = cursor.0.parse()?;
        let mut messages = 0;
        loop {
            // Pages as large as the server allows, as a client catching up would ask.
            let page: Page = client
                .json(
                    reqwest::Method::GET,
                    &format!("/api/sync?since={since}&limit=1000"),
                    None::<()>,
                )
                .await
                .map_err(|e| anyhow!("sync: {e}"))?;
            messages += page
                .events
                .iter()
                .filter(|e| e.event == "App\\Events\\MessageSent")
                .count();
            since = page.next_since;
            if !page.has_more {
                return Ok(messages);
            }
        }
    }
}

/// Phone -> newest code, from the outbox SMS driver's file.
fn read_codes(outbox: &Path) -> Result<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(outbox)
        .with_context(|| format!("cannot read {}", outbox.display()))?;
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|sms| {
            Some((
                sms["to"].as_str()?.to_string(),
                sms["code"].as_str()?.to_string(),
            ))
        })
        .collect())
}
