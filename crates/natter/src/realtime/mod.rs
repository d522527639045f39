//! Real time over the Pusher protocol: sockets, channels, presence, and the bus
//! that carries events between nodes (DESIGN.md: "realtime/ knows no feature";
//! the only feature knowledge here is who may join which channel).
//!
//! The path of a committed event: its transaction resolved who it goes to (the
//! chat's members as of the commit) -> the service hands it to
//! [`Realtime::publish`], which makes a bus message -> this node's dispatcher
//! (and, through Redis, every other node's) -> the sequencer puts it in log
//! order -> it is framed once per channel and queued on each subscribed socket.

pub mod bus;
pub mod channels;
pub mod dispatch;
pub mod grants;
pub mod hub;
pub mod presence;
pub mod protocol;
pub mod routes;
pub mod socket;

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::synclog::{CommittedEvent, Event, Scope};
use bus::{BUS_QUEUE, Body, Envelope};
use grants::Grants;
use hub::Hub;
use presence::Presence;

pub struct Realtime {
    pub hub: Arc<Hub>,
    pub presence: Presence,
    pub grants: Grants,
    pub node_id: String,
    dispatch: mpsc::Sender<Arc<Envelope>>,
    remote: Option<mpsc::Sender<Arc<Envelope>>>,
}

impl Realtime {
    /// Starts the dispatcher task (and the Redis bus when configured).
    pub fn start(
        config: &Config,
        redis: Option<ConnectionManager>,
        shutdown: CancellationToken,
    ) -> Arc<Realtime> {
        let hub = Arc::new(Hub::new());
        let (dispatch, inbox) = mpsc::channel(BUS_QUEUE);
        tokio::spawn(dispatch::run(hub.clone(), inbox, shutdown.clone()));
        let prefix = config.redis_prefix();
        let (presence, grants, remote) = match (&redis, &config.settings.redis_url) {
            (Some(conn), Some(url)) => {
                let channel = format!("{prefix}bus");
                bus::spawn_redis_subscriber(
                    url.clone(),
                    channel.clone(),
                    config.node_id.clone(),
                    dispatch.clone(),
                    shutdown.clone(),
                );
                let remote = bus::spawn_redis_publisher(conn.clone(), channel, shutdown.clone());
                (
                    Presence::redis(conn.clone(), &prefix, &config.node_id),
                    Grants::redis(conn.clone(), &prefix),
                    Some(remote),
                )
            }
            _ => (Presence::local(), Grants::local(), None),
        };
        Arc::new(Realtime {
            hub,
            presence,
            grants,
            node_id: config.node_id.clone(),
            dispatch,
            remote,
        })
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
            });
        }
    }

    /// Sends an event that is not logged (typing, presence) to these channels,
    /// on every node.
    pub fn transient(&self, event: Event<'_>, channels: Vec<String>) -> ApiResult<()> {
        let data = event
            .data()
            .map_err(|err| ApiError::Internal(anyhow::Error::new(err)))?;
        self.broadcast(Body::Transient {
            name: event.name(),
            data,
            channels,
            except_socket: None,
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

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<crate::state::AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::websocket))
        .routes(routes!(routes::authorize))
        .routes(routes!(routes::user_auth))
}

/// With Redis: keeps this node's heartbeat and cleans up after dead nodes,
/// announcing the users who went offline and the presence members who left
/// with them.
pub fn spawn_liveness(state: crate::state::AppState, shutdown: CancellationToken) {
    if state.redis.is_none() {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            let presence = &state.realtime.presence;
            if let Err(err) = presence.heartbeat(HEARTBEAT_TTL.as_secs()).await {
                tracing::warn!(error = %err, "presence heartbeat failed");
                continue;
            }
            match presence.sweep_dead_nodes().await {
                Ok(emptied) => {
                    for key in emptied {
                        match key {
                            presence::PresenceKey::Online(user) => {
                                if let Err(err) =
                                    crate::contacts::service::announce_presence(&state, user, false)
                                        .await
                                {
                                    tracing::warn!(error = %err, "could not record a user going offline");
                                }
                            }
                            presence::PresenceKey::Channel { channel, user_id } => {
                                socket::announce_member_removed(&state, &channel, user_id);
                            }
                        }
                    }
                }
                Err(err) => tracing::warn!(error = %err, "sweeping dead nodes failed"),
            }
        }
    });
}
