//! What travels between nodes, and the two ways it travels: within this
//! process, or through Redis pub/sub so that every node of a cluster sees it.
//!
//! One subscriber per node (not one per socket) reads the Redis channel;
//! messages this node published itself are skipped there, having been handed
//! to the local dispatcher directly.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::background::TaskGroup;
use crate::outage::Outage;
use crate::synclog::EventName;

/// One message on the bus.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Envelope {
    /// The node that published it.
    pub origin: String,
    pub body: Body,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Body {
    /// A logged event: delivered in `seq` order to `private-chat.{chat}` (when
    /// set), `private-user.{id}` for each of `users` and each of `channels`,
    /// after ending `revoke`'s subscriptions to the chat's channels; never to
    /// `except_socket` (the socket of the request that caused it: `X-Socket-ID`).
    Event {
        seq: i64,
        name: EventName,
        data: String,
        chat: Option<i64>,
        users: Vec<i64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        revoke: Vec<i64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        channels: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        except_socket: Option<String>,
        /// When it was committed, in microseconds since the epoch (0: not
        /// said, as by a node of an older version); for the fan-out delay.
        #[serde(default)]
        committed_us: i64,
    },
    /// An event that is not logged (typing, presence), for named channels,
    /// optionally sparing one socket (the one that caused it).
    Transient {
        name: EventName,
        data: String,
        channels: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        except_socket: Option<String>,
    },
    /// A presence channel's member came (`added`) or went, for the channel's
    /// other subscribers: Pusher's `member_added` / `member_removed`.
    Member {
        channel: String,
        added: bool,
        data: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        except_socket: Option<String>,
    },
    /// A client event (whisper), already framed, for a channel's other subscribers.
    Whisper {
        channel: String,
        frame: String,
        except_socket: String,
    },
    /// An event published through the Pusher HTTP API: any name, `data` as
    /// given, to named channels, optionally sparing one socket. Not logged.
    Published {
        event: String,
        data: String,
        channels: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        except_socket: Option<String>,
    },
    /// Close every socket of this user (Pusher's `terminate_connections`).
    Terminate { user: i64 },
    /// A login ended (logout, refresh-token reuse, account deletion): every
    /// node closes the user's sockets that login authorised (`session` None:
    /// every socket of the user).
    EndLogin { user: i64, session: Option<i64> },
    /// Something these users' subscriptions depend on changed (a block):
    /// every node has their sockets ask the policy again.
    Recheck { users: Vec<i64> },
}

/// Largest number of bus messages waiting for the dispatcher or for Redis.
pub const BUS_QUEUE: usize = 65_536;

/// Sends this node's messages to the other nodes through Redis, in order.
pub fn spawn_redis_publisher(
    redis: ConnectionManager,
    channel: String,
    tasks: &TaskGroup,
) -> mpsc::Sender<Arc<Envelope>> {
    let (sender, mut outgoing) = mpsc::channel::<Arc<Envelope>>(BUS_QUEUE);
    let shutdown = tasks.stop_token();
    tasks.spawn(async move {
        let mut redis = redis;
        let mut outage = Outage::new("Redis publishing");
        loop {
            // Biased: what is queued goes out before a stop is obeyed (the
            // fan-out stops after the writer has drained).
            let envelope = tokio::select! {
                biased;
                next = outgoing.recv() => match next { Some(e) => e, None => break },
                _ = shutdown.cancelled() => break,
            };
            let Ok(text) = serde_json::to_string(&*envelope) else {
                continue;
            };
            let result: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                .arg(&channel)
                .arg(text)
                .query_async(&mut redis)
                .await;
            // The socket is a hint: a lost message is recovered by clients' sync.
            match result {
                Ok(_) => outage.recovered(),
                Err(err) => outage.failed(&err),
            }
        }
    });
    sender
}

/// Reads the Redis channel and hands other nodes' messages to `local`,
/// reconnecting every [`RESUBSCRIBE_EVERY`] while Redis is away, so the
/// fan-out resumes on its own when it is back. One warning when the
/// subscription is lost, reminders at most every 30 s, and the outage's
/// length once it is restored (outage.rs).
pub fn spawn_redis_subscriber(
    url: String,
    channel: String,
    node_id: String,
    local: mpsc::Sender<Arc<Envelope>>,
    tasks: &TaskGroup,
) {
    let shutdown = tasks.stop_token();
    tasks.spawn(async move {
        let mut outage = Outage::new("Redis subscription");
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            let subscribed =
                subscribe_once(&url, &channel, &node_id, &local, &shutdown, &mut outage);
            match subscribed.await {
                Ok(()) => break,
                Err(err) => {
                    outage.failed(&format!("{err:#}"));
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(RESUBSCRIBE_EVERY) => {}
                    }
                }
            }
        }
    });
}

/// How long the subscriber waits between two attempts while Redis is away.
pub const RESUBSCRIBE_EVERY: Duration = Duration::from_secs(1);

/// One subscription, until it breaks (an error) or the node stops (`Ok`).
async fn subscribe_once(
    url: &str,
    channel: &str,
    node_id: &str,
    local: &mpsc::Sender<Arc<Envelope>>,
    shutdown: &CancellationToken,
    outage: &mut Outage,
) -> anyhow::Result<()> {
    let client = redis::Client::open(url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(channel).await?;
    outage.recovered();
    let mut messages = pubsub.on_message();
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            next = messages.next() => match next {
                Some(m) => m,
                None => anyhow::bail!("the subscription ended"),
            },
        };
        let Ok(payload) = message.get_payload::<String>() else {
            continue;
        };
        let Ok(envelope) = serde_json::from_str::<Envelope>(&payload) else {
            continue;
        };
        if envelope.origin != node_id {
            let _ = local.try_send(Arc::new(envelope));
        }
    }
}
