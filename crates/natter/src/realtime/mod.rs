//! Real time over the Pusher protocol: sockets, channels, presence, and the bus
//! that carries events between nodes (DESIGN.md: "realtime/ knows no feature";
//! the only feature knowledge here is who may join which channel).
//!
//! The path of a committed event: the service hands it to [`Realtime::publish`]
//! -> the router task looks up the chat's current members (one query per batch)
//! and makes a bus message -> this node's dispatcher (and, through Redis, every
//! other node's) -> the sequencer puts it in log order -> it is framed once per
//! channel and queued on each subscribed socket.

pub mod bus;
pub mod channels;
pub mod dispatch;
pub mod grants;
pub mod hub;
pub mod presence;
pub mod protocol;
pub mod routes;
pub mod socket;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::db::Db;
use crate::sync::log::{CommittedEvent, Scope};
use bus::{BUS_QUEUE, Body, Envelope};
use grants::Grants;
use hub::Hub;
use presence::Presence;

pub struct Realtime {
    pub hub: Arc<Hub>,
    pub presence: Presence,
    pub grants: Grants,
    pub node_id: String,
    router: mpsc::Sender<Vec<CommittedEvent>>,
    dispatch: mpsc::Sender<Arc<Envelope>>,
    remote: Option<mpsc::Sender<Arc<Envelope>>>,
}

impl Realtime {
    /// Starts the router and dispatcher tasks (and the Redis bus when configured).
    pub fn start(
        db: Db,
        config: &Config,
        redis: Option<ConnectionManager>,
        shutdown: CancellationToken,
    ) -> Arc<Realtime> {
        let hub = Arc::new(Hub::new());
        let (dispatch, inbox) = mpsc::channel(BUS_QUEUE);
        tokio::spawn(dispatch::run(hub.clone(), inbox, shutdown.clone()));
        let prefix = crate::state::redis_prefix(config);
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
        let (router, batches) = mpsc::channel(BUS_QUEUE);
        let realtime = Arc::new(Realtime {
            hub,
            presence,
            grants,
            node_id: config.node_id.clone(),
            router,
            dispatch,
            remote,
        });
        tokio::spawn(route_committed(realtime.clone(), db, batches, shutdown));
        realtime
    }

    /// Hands committed events to the fan-out. Never blocks: if the fan-out is
    /// that far behind, sockets miss them and clients catch up through sync.
    pub fn publish(&self, events: Vec<CommittedEvent>) {
        if !events.is_empty() && self.router.try_send(events).is_err() {
            tracing::warn!("real-time fan-out is full; events left to sync");
        }
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

/// The router task: committed events become bus messages, in the order they
/// were handed over, with each chat's current members looked up once per batch.
async fn route_committed(
    realtime: Arc<Realtime>,
    db: Db,
    mut batches: mpsc::Receiver<Vec<CommittedEvent>>,
    shutdown: CancellationToken,
) {
    loop {
        let events = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = batches.recv() => match next { Some(e) => e, None => break },
        };
        let chats: Vec<i64> = events
            .iter()
            .filter_map(|e| match (e.scope, &e.route.only) {
                (Scope::Chat(id), None) => Some(id),
                _ => None,
            })
            .collect();
        let members = match members_of(&db, &chats).await {
            Ok(members) => members,
            Err(err) => {
                tracing::warn!(error = %err, "could not look up chat members; events left to sync");
                continue;
            }
        };
        for event in events {
            let (chat, mut users) = match event.scope {
                Scope::Chat(id) => (
                    Some(id),
                    event
                        .route
                        .only
                        .clone()
                        .unwrap_or_else(|| members.get(&id).cloned().unwrap_or_default()),
                ),
                Scope::User(id) => (None, vec![id]),
            };
            users.extend(event.route.also.iter().copied());
            users.sort_unstable();
            users.dedup();
            realtime.broadcast(Body::Event {
                seq: event.seq,
                name: event.name.to_string(),
                data: event.data.to_string(),
                chat,
                users,
                revoke: event.route.revoke.clone(),
            });
        }
    }
}

async fn members_of(db: &Db, chats: &[i64]) -> crate::error::ApiResult<HashMap<i64, Vec<i64>>> {
    let mut unique = chats.to_vec();
    unique.sort_unstable();
    unique.dedup();
    crate::chats::service::members_of_many(&db.read, &unique).await
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
        .routes(routes!(routes::typing))
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
                                    crate::users::service::presence_changed(&state, user, false)
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
