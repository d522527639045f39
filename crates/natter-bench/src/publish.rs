//! W5: the Pusher HTTP API publishing to one public channel that `subscribers`
//! sockets listen on (what a Laravel app's `broadcast()` does through natter).
//! Each round signs and POSTs one event to `/apps/{id}/events`, then waits
//! until every socket has it; the figure is the time from sending the request
//! to the last socket's frame.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use natter_client::socket::PusherSocket;
use sha2::Sha256;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::raw_socket::RawSubscriber;
use crate::report::Report;
use crate::server::Server;

/// The app the bench starts natter with (REVERB_APP_ID / _KEY / _SECRET).
pub const APP_ID: &str = "natter";
pub const APP_KEY: &str = "natter-key";
pub const APP_SECRET: &str = "natter-bench-secret";
const CHANNEL: &str = "bench-news";

/// Counts the sockets that received the current round's event.
#[derive(Default)]
struct Round {
    received: AtomicUsize,
    all_in: Notify,
}

pub async fn http_publish(
    server: Arc<dyn Server>,
    subscribers: usize,
    sources: &[IpAddr],
    rounds: usize,
    secret: &str,
    client: Client,
) -> Result<Report> {
    let base = server
        .base_url()
        .context("W5 needs natter (its Pusher HTTP API)")?;
    let round = Arc::new(Round::default());
    let mut readers = Vec::with_capacity(subscribers);
    for i in 0..subscribers {
        let local = (!sources.is_empty()).then(|| sources[i % sources.len()]);
        let round = round.clone();
        let reader = match client {
            Client::Library => library_reader(&base, local, round, subscribers).await?,
            Client::Raw => raw_reader(&base, local, round, subscribers).await?,
        };
        readers.push(reader);
    }
    let http = reqwest::Client::new();
    let mut times = Vec::with_capacity(rounds);
    for n in 0..rounds {
        round.received.store(0, Ordering::Release);
        let body = serde_json::json!({ "name": "Published", "channel": CHANNEL, "data": format!("{{\"round\":{n}}}") }).to_string();
        let url = format!(
            "{base}{}",
            signed_path("POST", &format!("/apps/{APP_ID}/events"), &body, secret)
        );
        let waiting = round.all_in.notified();
        tokio::pin!(waiting);
        waiting.as_mut().enable();
        let started = Instant::now();
        let response = http
            .post(&url)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("the HTTP API answered {}", response.status());
        }
        if tokio::time::timeout(Duration::from_secs(30), waiting)
            .await
            .is_err()
        {
            bail!(
                "round {n}: {} of {subscribers} sockets got the event",
                round.received.load(Ordering::Acquire)
            );
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for reader in readers {
        reader.abort();
    }
    Ok(Report::publish(server.as_ref(), subscribers, &times))
}

/// Which subscriber client W5 reads the sockets with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    /// natter-client's PusherSocket (tokio-tungstenite), raw frames unparsed.
    Library,
    /// A bare TCP stream with the WebSocket framing written out by hand
    /// (raw_socket.rs): the least the client can spend per frame.
    Raw,
}

impl Round {
    /// Counts one socket's copy of the event; the last one wakes the round.
    fn arrived(&self, subscribers: usize) {
        if self.received.fetch_add(1, Ordering::AcqRel) + 1 == subscribers {
            self.all_in.notify_one();
        }
    }
}

const EVENT_PREFIX: &str = "{\"event\":\"Published\"";

async fn library_reader(
    base: &str,
    local: Option<IpAddr>,
    round: Arc<Round>,
    subscribers: usize,
) -> Result<JoinHandle<()>> {
    let mut socket = PusherSocket::connect_from(base, APP_KEY, local, None).await?;
    socket
        .subscribe_with(serde_json::json!({ "channel": CHANNEL }))
        .await?;
    Ok(tokio::spawn(async move {
        // The raw frame, not a parsed one: with 10,000 sockets on the
        // bench's own core, parsing every frame made the client the slower
        // side (the same server measured 440 ms with parsing, client pinned).
        while let Some(frame) = socket.next_raw(Duration::from_secs(3600)).await {
            if frame.starts_with(EVENT_PREFIX) {
                round.arrived(subscribers);
            }
        }
    }))
}

async fn raw_reader(
    base: &str,
    local: Option<IpAddr>,
    round: Arc<Round>,
    subscribers: usize,
) -> Result<JoinHandle<()>> {
    let host = base.trim_start_matches("http://");
    let remote = tokio::net::lookup_host(host)
        .await?
        .next()
        .context("the server's address")?;
    let socket = RawSubscriber::subscribe(remote, local, APP_KEY, CHANNEL).await?;
    Ok(tokio::spawn(socket.read_texts(move |text| {
        if text.starts_with(EVENT_PREFIX.as_bytes()) {
            round.arrived(subscribers);
        }
    })))
}

/// `path?auth_...&auth_signature=...`, as the Pusher server libraries sign.
fn signed_path(method: &str, path: &str, body: &str, secret: &str) -> String {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let md5 = hex::encode(Md5::digest(body.as_bytes()));
    let query =
        format!("auth_key={APP_KEY}&auth_timestamp={timestamp}&auth_version=1.0&body_md5={md5}");
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(format!("{method}\n{path}\n{query}").as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    format!("{path}?{query}&auth_signature={signature}")
}
