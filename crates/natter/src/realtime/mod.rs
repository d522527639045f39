//! Real time over the Pusher protocol: sockets, channels, presence, and the bus
//! that carries events between nodes. It knows no feature (DESIGN.md): who
//! may join which channel, whisper in which chat, who a user is, and what
//! follows from someone coming online are asked through [`Policy`], which
//! the server implements; the HTTP endpoints that need the caller
//! (`/app/{key}`, `/broadcasting/auth`) are the server's too (server/realtime.rs).
//!
//! The path of a committed event: its emitter named who hears it (the chat's
//! members as of the commit) -> the service hands it to [`Realtime::publish`],
//! which makes a bus message -> this node's dispatcher (and, through Redis,
//! every other node's) -> the sequencer puts it in log order -> it is framed
//! once per channel and queued on each subscribed socket.

pub mod bus;
pub mod channels;
pub mod dispatch;
pub mod grants;
pub mod hub;
mod occupancy;
pub mod policy;
pub mod presence;
pub mod protocol;
pub mod socket;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::background::{Every, TaskGroup};
use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::outage::Outage;
use crate::synclog::{CommittedEvent, Event, Scope, origin};
use bus::{BUS_QUEUE, Body, Envelope};
use grants::Grants;
use hub::Hub;
pub use policy::{Policy, UserInfo};
use presence::{Presence, PresenceKey};
use webhooks::{HookEvent, Webhooks};

pub struct Realtime {
    pub hub: Arc<Hub>,
    /// Shared with the group-commit writer, which asks it about push recipients.
    pub presence: Arc<Presence>,
    pub grants: Grants,
    /// Webhook events the sockets notice, for the batcher (pusher/webhooks.rs).
    pub webhooks: Webhooks,
    pub node_id: String,
    dispatch: mpsc::Sender<Arc<Envelope>>,
    remote: Option<mpsc::Sender<Arc<Envelope>>>,
}

impl Realtime {
    /// Starts the dispatcher task (and the Redis bus when configured) in
    /// `fanout`, which stops them.
    pub fn start(
        config: &Config,
        redis: Option<ConnectionManager>,
        fanout: &TaskGroup,
    ) -> Arc<Realtime> {
        let hub = Arc::new(Hub::new());
        let (dispatch, inbox) = mpsc::channel(BUS_QUEUE);
        fanout.spawn(dispatch::run(hub.clone(), inbox, fanout.stop_token()));
        let prefix = config.redis_prefix();
        let (presence, grants, remote) = match (&redis, &config.settings.redis_url) {
            (Some(conn), Some(url)) => {
                let channel = format!("{prefix}bus");
                bus::spawn_redis_subscriber(
                    url.clone(),
                    channel.clone(),
                    config.node_id.clone(),
                    dispatch.clone(),
                    fanout,
                );
                let remote = bus::spawn_redis_publisher(conn.clone(), channel, fanout);
                (
                    Arc::new(Presence::redis(conn.clone(), &prefix, &config.node_id)),
                    Grants::redis(conn.clone(), &prefix),
                    Some(remote),
                )
            }
            _ => (Arc::new(Presence::local()), Grants::local(), None),
        };
        let pusher = &config.settings.pusher;
        let webhooks = Webhooks::new(
            !pusher.pusher_webhook_url.is_empty(),
            &pusher.pusher_webhook_events,
        );
        Arc::new(Realtime {
            hub,
            presence,
            grants,
            webhooks,
            node_id: config.node_id.clone(),
            dispatch,
            remote,
        })
    }

    /// Drops what this node keeps for sockets and users that are gone
    /// (expired grants, the room of emptied maps); the upkeep calls it.
    pub fn tidy(&self) {
        self.hub.shrink();
        self.presence.shrink();
        self.grants.purge_expired();
    }

    /// Hands committed events to the fan-out, in the order given. Never
    /// blocks: if the fan-out is that far behind, sockets miss them and
    /// clients catch up through sync.
    pub fn publish(&self, events: Vec<CommittedEvent>) {
        for event in events {
            let (chat, mut users) = match event.scope {
                Scope::Chat(id) => (Some(id), event.audience.users),
                Scope::User(id) => (None, vec![id]),
            };
            users.sort_unstable();
            users.dedup();
            self.broadcast(Body::Event {
                seq: event.seq,
                name: event.name,
                data: event.data.to_string(),
                chat,
                users,
                revoke: event.audience.revoke,
                channels: event.audience.channels,
                except_socket: event.except_socket.map(|s| s.to_string()),
                committed_us: event.committed_us,
            });
        }
    }

    /// Sends an event that is not logged (typing, presence) to these channels,
    /// on every node, sparing the socket the request spoke for (`X-Socket-ID`).
    pub fn transient(&self, event: Event<'_>, channels: Vec<String>) -> ApiResult<()> {
        let data = event
            .data()
            .map_err(|err| ApiError::Internal(anyhow::Error::new(err)))?;
        self.broadcast(Body::Transient {
            name: event.name(),
            data,
            channels,
            except_socket: origin::current().map(|s| s.to_string()),
        });
        Ok(())
    }

    /// Sends a bus message to this node's sockets and to every other node.
    pub fn broadcast(&self, body: Body) {
        let envelope = Arc::new(Envelope {
            origin: self.node_id.clone(),
            body,
        });
        if let Some(remote) = &self.remote {
            let _ = remote.try_send(envelope.clone());
        }
        let _ = self.dispatch.try_send(envelope);
    }
}

/// How often a node proves it is alive, and how long until it counts as dead.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
pub const HEARTBEAT_TTL: Duration = Duration::from_secs(15);

/// What every socket of this node shares: real time, the application's
/// policy, the settings, and the group its connections count in (whose stop
/// token closes them, telling clients to reconnect elsewhere).
#[derive(Clone)]
pub struct Sockets {
    pub realtime: Arc<Realtime>,
    pub policy: Arc<dyn Policy>,
    pub config: Arc<Config>,
    pub connections: TaskGroup,
}

impl Sockets {
    /// Tells a presence channel (and the webhooks) that a member left it.
    pub fn announce_member_removed(&self, channel: &str, user: i64) {
        self.realtime.webhooks.notify(HookEvent::MemberRemoved {
            channel: channel.to_string(),
            user_id: user.to_string(),
        });
        let data = serde_json::json!({ "user_id": user.to_string() });
        self.realtime.broadcast(Body::Member {
            channel: channel.to_string(),
            added: false,
            data: data.to_string(),
            except_socket: None,
        });
    }

    /// Tells the application a user came online or went offline; a failure
    /// is logged (presence is best effort, clients read last-seen over REST).
    pub async fn presence_changed(&self, user: i64, online: bool) {
        if let Err(err) = self.policy.presence_changed(user, online).await {
            let what = if online {
                "coming online"
            } else {
                "going offline"
            };
            tracing::warn!(error = %err, "could not record a user {what}");
        }
    }
}

/// Clears presence this node left behind when it last stopped without
/// tidying up (a crash): with Redis, the counts under this node's id; alone,
/// every "online" flag (no other node can be holding one). Announces whoever
/// that takes offline. Run at start, before sockets are accepted.
pub async fn clear_stale_presence(sockets: &Sockets) {
    let presence = &sockets.realtime.presence;
    if !presence.is_shared() {
        if let Err(err) = sockets.policy.reset_presence().await {
            tracing::warn!(error = %err, "could not reset presence at start");
        }
        return;
    }
    match presence.clear_own().await {
        Ok(emptied) => announce_emptied(sockets, emptied).await,
        Err(err) => tracing::warn!(error = %err, "could not clear this node's old presence"),
    }
}

async fn announce_emptied(sockets: &Sockets, emptied: Vec<PresenceKey>) {
    for key in emptied {
        match key {
            PresenceKey::Online(user) => sockets.presence_changed(user, false).await,
            PresenceKey::Channel { channel, user_id } => {
                sockets.announce_member_removed(&channel, user_id);
            }
            PresenceKey::Occupied(channel) => sockets.channel_vacated(&channel),
        }
    }
}

/// With Redis: keeps this node's heartbeat and cleans up after dead nodes,
/// announcing the users who went offline and the presence members who left
/// with them, until `stop`. Without Redis there is nothing to do.
pub async fn run_liveness(sockets: Sockets, stop: CancellationToken) {
    if !sockets.realtime.presence.is_shared() {
        return;
    }
    let mut every = Every::new(HEARTBEAT_EVERY, stop);
    let mut outage = Outage::new("Presence heartbeat (Redis)");
    while every.tick().await {
        let presence = &sockets.realtime.presence;
        if let Err(err) = presence.heartbeat(HEARTBEAT_TTL.as_secs()).await {
            outage.failed(&format!("{err:#}"));
            continue;
        }
        outage.recovered();
        match presence.sweep_dead_nodes().await {
            Ok(emptied) => announce_emptied(&sockets, emptied).await,
            Err(err) => tracing::warn!(error = %err, "sweeping dead nodes failed"),
        }
    }
}
