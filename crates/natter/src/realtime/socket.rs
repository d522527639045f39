//! One WebSocket connection, speaking the Pusher protocol: one task per socket
//! that reads client frames, writes queued frames (several per flush), pings a
//! silent client and closes it when it stays silent, and tidies up after itself.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures::SinkExt;
use serde_json::Value;
use tokio::time::{Instant, timeout};

use super::Sockets;
use super::bus::Body;
use super::channels::{self, Channel};
use super::hub::{Hub, Outbound, SocketHandle, Subscribed};
use super::presence::PresenceKey;
use super::protocol::{self, ClientFrame, codes};
use super::webhooks::HookEvent;
use crate::config::WebhookEventKind;
use crate::secrets::constant_time_eq;
use crate::telemetry::{OPEN_SOCKETS, SLOW_SOCKETS_CLOSED};

/// How long a pinged client has to answer.
const PONG_WAIT: Duration = Duration::from_secs(30);
/// Most queued frames written before one flush.
const WRITE_BATCH: usize = 64;

/// Why the connection ends.
struct Close {
    code: u16,
    reason: &'static str,
}

/// A subscription this socket holds, and as which user.
struct Subscription {
    channel: String,
    user: Option<i64>,
}

struct Connection {
    sockets: Sockets,
    handle: Arc<SocketHandle>,
    /// Subscriptions in order, and their names for an O(1) "already in it?".
    subscriptions: Vec<Subscription>,
    subscribed: HashSet<String>,
    /// The slot this socket holds among its IP's anonymous sockets, given
    /// back once it belongs to a user (or closes).
    anonymous: Option<AnonymousSlot>,
    /// Presence subscriptions in the current second (rate-limited like
    /// client events: each join or leave is an event for every other member).
    presence_window: RateWindow,
    /// Subscriptions of any kind in the current 10 s: a client that churns
    /// through channels (each a channel_occupied and channel_vacated webhook,
    /// public channels needing no signature) is refused past SUBSCRIBES_PER_10_S.
    subscribe_window: RateWindow,
    /// How long one write may take.
    write_timeout: Duration,
    /// The user, once the socket subscribed to their user channel or signed in.
    user: Option<i64>,
    whisper_window: RateWindow,
    /// Frames to write before waiting again.
    replies: Vec<String>,
    /// The close code the client sent, when it closed the socket itself.
    client_close: Option<u16>,
    /// Whether this socket counted its user online (a socket refused over
    /// the user's limit never did, and must not count them out on closing).
    counted_online: bool,
}

/// Subscriptions one socket may make in 10 s: room for a client subscribing
/// to a hundred channels as it connects, not for churning through channels.
const SUBSCRIBES_PER_10_S: u32 = 100;

/// A count of actions in a fixed window (`allow` starts a new window when
/// the period has passed). Eight bytes, not an `Instant`'s sixteen and more:
/// every socket holds three (W3 keeps an idle socket under 8 KiB).
struct RateWindow {
    /// When the window started, in tenths of a second since [`ticks`] began.
    started: u32,
    count: u32,
}

/// Tenths of a second since the first call (process-wide, monotonic).
fn ticks() -> u32 {
    static START: OnceLock<Instant> = OnceLock::new();
    let elapsed = START.get_or_init(Instant::now).elapsed();
    u32::try_from(elapsed.as_millis() / 100).unwrap_or(u32::MAX)
}

impl RateWindow {
    fn new() -> RateWindow {
        RateWindow {
            started: ticks(),
            count: 0,
        }
    }

    /// Counts one action; false (and not counted) past `limit` in `period`.
    fn allow(&mut self, limit: u32, period: Duration) -> bool {
        let now = ticks();
        let period = u32::try_from(period.as_millis() / 100).unwrap_or(u32::MAX);
        if now.saturating_sub(self.started) >= period {
            *self = RateWindow {
                started: now,
                count: 0,
            };
        }
        if self.count >= limit {
            return false;
        }
        self.count += 1;
        true
    }
}

/// The read buffer each socket starts with (a larger frame grows it). Client
/// frames are small (subscriptions, pings, whispers); 512 bytes rather than
/// 1 KiB keeps an idle socket under 8 KiB with jemalloc's size classes (W3 in
/// docs/benchmarks.md).
const READ_BUFFER_BYTES: usize = 512;

/// Frames are gathered up to this many bytes before they are written, so the
/// frames of one batch ([`write_queued`](Connection::write_queued)) leave in
/// one system call and, with `TCP_NODELAY` (server/mod.rs), in one segment
/// rather than one each: written one by one (a buffer of 0), W2 to 1,024
/// members fell from 349 to 149 messages/s once Nagle no longer merged them
/// (issue 20). The buffer is only as large as what was written through it, so
/// an idle socket does not grow.
const WRITE_BUFFER_BYTES: usize = 16 * 1024;

/// Takes an HTTP request at `/app/{key}` over as a Pusher socket. A `key`
/// that is not this server's app key gets the socket told so (4001) and closed.
pub fn accept(sockets: Sockets, key: &str, ip: IpAddr, upgrade: WebSocketUpgrade) -> Response {
    let settings = &sockets.config.settings;
    let key_ok = constant_time_eq(key, &settings.reverb_app_key);
    let max = settings.ws_max_frame_bytes as usize;
    let queue_bytes = settings.ws_outbound_queue as usize * 64 * 1024;
    let connection = sockets.connections.token();
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_write_buffer_size(queue_bytes)
        .on_upgrade(move |socket| async move {
            run(sockets, socket, key_ok, ip).await;
            drop(connection);
        })
}

/// Runs a connection to its end. `app_key_ok` is false when the URL's key is
/// not this server's: the client is told (4001) and the socket closed.
async fn run(sockets: Sockets, mut socket: WebSocket, app_key_ok: bool, ip: IpAddr) {
    if !app_key_ok {
        tracing::debug!(%ip, close_code = codes::UNKNOWN_APP_KEY, "socket refused: unknown app key");
        let _ = socket
            .send(Message::Text(
                protocol::error(Some(codes::UNKNOWN_APP_KEY), "Could not find app by key").into(),
            ))
            .await;
        let _ = close(
            &mut socket,
            codes::UNKNOWN_APP_KEY,
            "Could not find app by key",
        )
        .await;
        return;
    }
    let settings = &sockets.config.settings;
    let activity = Duration::from_secs(settings.ws_activity_timeout);
    let write_timeout = Duration::from_secs(settings.ws_write_timeout);
    let hub = &sockets.realtime.hub;
    let Some(anonymous) = AnonymousSlot::take(hub, ip, settings.ws_max_anonymous_per_ip) else {
        let message = "Too many connections from this address";
        tracing::debug!(%ip, close_code = codes::OVER_CAPACITY, "socket refused: {message}");
        let refusal = protocol::error(Some(codes::OVER_CAPACITY), message);
        let _ = timeout(write_timeout, socket.send(Message::Text(refusal.into()))).await;
        let _ = timeout(
            write_timeout,
            close(&mut socket, codes::OVER_CAPACITY, message),
        )
        .await;
        return;
    };
    let handle = hub.register(settings.ws_outbound_queue as usize);
    let established =
        protocol::connection_established(&handle.socket_id, settings.ws_activity_timeout);
    let sent = timeout(
        write_timeout,
        socket.send(Message::Text(established.into())),
    )
    .await;
    if !matches!(sent, Ok(Ok(()))) {
        hub.unregister(&handle, &[]);
        return;
    }
    metrics::gauge!(OPEN_SOCKETS).increment(1.0);
    tracing::debug!(socket = %handle.socket_id, %ip, "socket connected");
    let mut conn = Connection {
        sockets: sockets.clone(),
        handle: handle.clone(),
        subscriptions: Vec::new(),
        subscribed: HashSet::new(),
        anonymous: Some(anonymous),
        presence_window: RateWindow::new(),
        subscribe_window: RateWindow::new(),
        write_timeout,
        user: None,
        whisper_window: RateWindow::new(),
        replies: Vec::new(),
        client_close: None,
        counted_online: false,
    };
    let outcome = conn.serve(&mut socket, activity).await;
    conn.log_close(outcome.as_ref());
    if let Some(Close { code, reason }) = outcome {
        // A client that stopped reading never takes the close frame: give it
        // the write deadline, then drop the connection regardless.
        let _ = timeout(write_timeout, close(&mut socket, code, reason)).await;
    }
    drop(socket);
    conn.tidy_up().await;
    metrics::gauge!(OPEN_SOCKETS).decrement(1.0);
}

/// One of an IP address's anonymous sockets (not yet a user's), counted in
/// the hub while held.
struct AnonymousSlot {
    hub: Arc<Hub>,
    ip: IpAddr,
}

impl AnonymousSlot {
    fn take(hub: &Arc<Hub>, ip: IpAddr, max: u32) -> Option<AnonymousSlot> {
        hub.take_anonymous(ip, max as usize).then(|| AnonymousSlot {
            hub: hub.clone(),
            ip,
        })
    }
}

impl Drop for AnonymousSlot {
    fn drop(&mut self) {
        self.hub.release_anonymous(self.ip);
    }
}

/// The reason a write did not complete: the connection failed, or the client
/// stopped reading for longer than the write deadline.
enum WriteFailed {
    Broken,
    TimedOut,
}

impl From<axum::Error> for WriteFailed {
    fn from(_: axum::Error) -> WriteFailed {
        WriteFailed::Broken
    }
}

impl WriteFailed {
    /// How the connection ends after this failure.
    fn close(self) -> Option<Close> {
        match self {
            WriteFailed::Broken => None,
            WriteFailed::TimedOut => {
                metrics::counter!(SLOW_SOCKETS_CLOSED).increment(1);
                Some(Close {
                    code: codes::RECONNECT,
                    reason: "Too slow: reconnect and sync",
                })
            }
        }
    }
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) -> Result<(), axum::Error> {
    socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await
}

impl Connection {
    /// One debug line per socket that ends: who, and the close code (the
    /// server's, or the client's when it closed first; none when the
    /// connection just dropped).
    fn log_close(&self, outcome: Option<&Close>) {
        let socket = &self.handle.socket_id;
        match outcome {
            Some(close) => tracing::debug!(
                socket = %socket,
                user = self.user,
                close_code = close.code,
                reason = close.reason,
                "socket closed by the server"
            ),
            None => tracing::debug!(
                socket = %socket,
                user = self.user,
                close_code = self.client_close,
                "socket closed by the client"
            ),
        }
    }

    /// A `pusher:error` the socket is sent without being closed (4301: too
    /// many client events or presence joins; 4303: too many subscriptions).
    fn log_rejected(&self, code: u16, channel: &str, why: &str) {
        tracing::debug!(
            socket = %self.handle.socket_id,
            user = self.user,
            code,
            channel,
            "socket event rejected: {why}"
        );
    }

    /// The main loop; returns how to close, or None when the client went away.
    async fn serve(&mut self, socket: &mut WebSocket, activity: Duration) -> Option<Close> {
        let mut last_heard = Instant::now();
        let mut pinged_at: Option<Instant> = None;
        let handle = self.handle.clone();
        let shutdown = self.sockets.connections.stop_token();
        loop {
            let deadline = match pinged_at {
                Some(at) => at + PONG_WAIT,
                None => last_heard + activity,
            };
            tokio::select! {
                incoming = socket.recv() => {
                    let text = match incoming {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Binary(_))) => {
                            // Answered now, not left queued: a client sending
                            // binary frames in a loop (none of them "heard")
                            // must not grow this socket's replies.
                            self.replies.push(protocol::error(None, "Binary frames are not supported"));
                            if let Err(failed) = self.flush_replies(socket).await {
                                return failed.close();
                            }
                            continue;
                        }
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                            last_heard = Instant::now();
                            pinged_at = None;
                            continue;
                        }
                        Some(Ok(Message::Close(frame))) => {
                            self.client_close = frame.map(|f| f.code);
                            return None;
                        }
                        None => return None,
                        Some(Err(err)) => {
                            let too_big = err.to_string().to_lowercase().contains("too long")
                                || err.to_string().to_lowercase().contains("space limit");
                            return too_big.then_some(Close { code: 1009, reason: "Frame too large" });
                        }
                    };
                    last_heard = Instant::now();
                    pinged_at = None;
                    if let Err(close) = self.on_text(text.as_str()).await {
                        let _ = self.flush_replies(socket).await;
                        return Some(close);
                    }
                }
                _ = handle.wake.notified() => {
                    if handle.overflowed() {
                        // The queue is dropped, not written: a client this far
                        // behind resyncs from the log anyway.
                        drop(handle.take_queued(usize::MAX));
                        self.replies.push(protocol::error(Some(codes::RECONNECT), "Too slow: reconnect and sync"));
                        let _ = self.flush_replies(socket).await;
                        return Some(Close { code: codes::RECONNECT, reason: "Too slow: reconnect and sync" });
                    }
                    match self.write_queued(socket).await {
                        Ok(None) => {}
                        Ok(Some(end)) => {
                            self.replies.push(protocol::error(Some(end.code), end.reason));
                            let _ = self.flush_replies(socket).await;
                            return Some(end);
                        }
                        Err(failed) => return failed.close(),
                    }
                }
                _ = shutdown.cancelled() => {
                    // Another node (or this one, restarted) will take the client back.
                    self.replies.push(protocol::error(Some(codes::RECONNECT), "Server restarting: reconnect"));
                    let _ = self.flush_replies(socket).await;
                    return Some(Close { code: codes::RECONNECT, reason: "Server restarting" });
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if pinged_at.is_some() {
                        return Some(Close { code: codes::PONG_NOT_RECEIVED, reason: "Pong reply not received" });
                    }
                    pinged_at = Some(Instant::now());
                    self.replies.push(protocol::ping());
                }
            }
            if let Err(failed) = self.flush_replies(socket).await {
                return failed.close();
            }
        }
    }

    /// Writes the replies waiting, within the write deadline.
    async fn flush_replies(&mut self, socket: &mut WebSocket) -> Result<(), WriteFailed> {
        if self.replies.is_empty() {
            return Ok(());
        }
        let replies: Vec<String> = self.replies.drain(..).collect();
        let write = async {
            for reply in replies {
                socket.feed(Message::Text(reply.into())).await?;
            }
            socket.flush().await
        };
        match timeout(self.write_timeout, write).await {
            Ok(done) => Ok(done?),
            Err(_) => Err(WriteFailed::TimedOut),
        }
    }

    /// Writes everything queued, flushing once per [`WRITE_BATCH`] frames;
    /// each batch within the write deadline. Returns how to close when the
    /// queue asked for it (the login ended).
    async fn write_queued(&mut self, socket: &mut WebSocket) -> Result<Option<Close>, WriteFailed> {
        loop {
            let batch = self.handle.take_queued(WRITE_BATCH);
            if batch.is_empty() {
                return Ok(None);
            }
            let mut frames = Vec::with_capacity(batch.len());
            let mut end = None;
            for item in batch {
                match item {
                    Outbound::Frame(frame) => frames.push(frame),
                    Outbound::Revoked(channel) => self.revoked(&channel).await,
                    Outbound::Recheck => self.recheck().await,
                    Outbound::End { code, reason } => {
                        end = Some(Close { code, reason });
                        break;
                    }
                }
            }
            let write = async {
                for frame in frames {
                    socket.feed(Message::Text(frame)).await?;
                }
                socket.flush().await
            };
            match timeout(self.write_timeout, write).await {
                Ok(done) => done?,
                Err(_) => return Err(WriteFailed::TimedOut),
            }
            if end.is_some() {
                return Ok(end);
            }
        }
    }

    async fn on_text(&mut self, text: &str) -> Result<(), Close> {
        match protocol::parse(text) {
            Ok(ClientFrame::Ping) => self.replies.push(protocol::pong()),
            Ok(ClientFrame::Pong) => {}
            Ok(ClientFrame::Subscribe {
                channel,
                auth,
                channel_data,
            }) => {
                self.subscribe(channel, auth, channel_data).await?;
            }
            Ok(ClientFrame::Unsubscribe { channel }) => self.unsubscribe(&channel).await,
            Ok(ClientFrame::Signin { user_data, auth }) => self.signin(&user_data, &auth).await?,
            Ok(ClientFrame::ClientEvent {
                event,
                channel,
                data,
            }) => self.whisper(event, channel, data).await,
            Err(err) => self.replies.push(protocol::error(None, &err.to_string())),
        }
        Ok(())
    }

    fn refuse(&mut self, channel: &str, message: &str) {
        tracing::debug!(
            socket = %self.handle.socket_id,
            user = self.user,
            code = codes::UNAUTHORIZED,
            channel,
            "subscription refused: {message}"
        );
        self.replies
            .push(protocol::error(Some(codes::UNAUTHORIZED), message));
        self.replies
            .push(protocol::subscription_error(channel, 403, message));
    }

    /// Refuses a subscription over one of the socket's limits: `pusher:error`
    /// with `code`, then the channel's `pusher:subscription_error` 429.
    fn refuse_over_limit(&mut self, channel: &str, code: u16, message: &str) {
        self.log_rejected(code, channel, message);
        self.replies.push(protocol::error(Some(code), message));
        self.replies
            .push(protocol::subscription_error(channel, 429, message));
    }

    async fn subscribe(
        &mut self,
        channel: String,
        auth: Option<String>,
        channel_data: Option<String>,
    ) -> Result<(), Close> {
        if self.subscribed.contains(&channel) {
            self.replies
                .push(protocol::subscription_succeeded(&channel, "{}"));
            return Ok(());
        }
        if !self
            .subscribe_window
            .allow(SUBSCRIBES_PER_10_S, Duration::from_secs(10))
        {
            let message = "Subscriptions rejected: rate limit";
            self.refuse_over_limit(&channel, codes::CLIENT_EVENT_RATE_LIMIT, message);
            return Ok(());
        }
        let max_subscriptions = self.sockets.config.settings.ws_max_subscriptions as usize;
        if self.subscriptions.len() >= max_subscriptions {
            let message = "Too many subscriptions on this socket";
            self.refuse_over_limit(&channel, codes::TOO_MANY_SUBSCRIPTIONS, message);
            return Ok(());
        }
        if Channel::is_presence(&channel) && !self.presence_allowed() {
            let message = "Presence subscriptions rejected: rate limit";
            self.refuse_over_limit(&channel, codes::CLIENT_EVENT_RATE_LIMIT, message);
            return Ok(());
        }
        let settings = &self.sockets.config.settings;
        if Channel::needs_auth(&channel) {
            let signed = auth.as_deref().is_some_and(|auth| {
                channels::verify(
                    &settings.reverb_app_key,
                    &self.sockets.config.reverb_app_secret,
                    &self.handle.socket_id,
                    &channel,
                    channel_data.as_deref(),
                    auth,
                )
            });
            if !signed {
                self.refuse(&channel, "Invalid signature");
                return Ok(());
            }
        }
        // Read before the membership check: a removal committed after the
        // check is refused by the hub below (it may be dispatched before the
        // socket is in the channel, where its revocation would find nothing).
        let checked_at = self.sockets.realtime.hub.revocation_count();
        let user = match self.subscriber_of(&channel, channel_data.as_deref()).await {
            Ok(user) => user,
            Err(message) => {
                self.refuse(&channel, message);
                return Ok(());
            }
        };
        if let Some(user) = user {
            self.attach(user).await?;
        }
        self.sockets.count_in(&channel).await;
        if Channel::is_presence(&channel) {
            self.join_presence(&channel, user, channel_data.as_deref())
                .await;
        } else {
            self.replies
                .push(protocol::subscription_succeeded(&channel, "{}"));
        }
        let added = self
            .sockets
            .realtime
            .hub
            .subscribe(&channel, &self.handle, user, checked_at);
        tracing::debug!(
            socket = %self.handle.socket_id,
            user,
            channel = channel.as_str(),
            ?added,
            "socket subscribed"
        );
        self.subscribed.insert(channel.clone());
        self.subscriptions.push(Subscription {
            channel: channel.clone(),
            user,
        });
        if added == Subscribed::Revoked {
            // Ended as a revocation arriving a moment later would end it.
            self.revoked(&channel).await;
        }
        Ok(())
    }

    /// Counts a presence subscription against the per-second limit client
    /// events have; false when over it.
    fn presence_allowed(&mut self) -> bool {
        let limit = self.sockets.config.settings.client_events_per_second;
        self.presence_window.allow(limit, Duration::from_secs(1))
    }

    /// Takes a subscription out of this socket's list (not the hub's).
    fn forget(&mut self, channel: &str) -> Option<Subscription> {
        if !self.subscribed.remove(channel) {
            return None;
        }
        let index = self
            .subscriptions
            .iter()
            .position(|s| s.channel == channel)?;
        Some(self.subscriptions.swap_remove(index))
    }

    /// Asks the policy again about every signed subscription (something they
    /// depend on changed, such as a block) and ends those it now refuses.
    async fn recheck(&mut self) {
        let mut refused = Vec::new();
        for subscription in &self.subscriptions {
            let Some(user) = subscription.user.or(self.user) else {
                continue;
            };
            if Channel::needs_auth(&subscription.channel)
                && !self
                    .sockets
                    .policy
                    .may_join(user, &Channel::parse(&subscription.channel))
                    .await
            {
                refused.push(subscription.channel.clone());
            }
        }
        for channel in refused {
            self.sockets
                .realtime
                .hub
                .unsubscribe(&channel, self.handle.key);
            self.revoked(&channel).await;
        }
    }

    /// Whose subscription a signed channel is, checked against the database
    /// for chat channels (the user may have left since the signature).
    async fn subscriber_of(
        &self,
        channel: &str,
        channel_data: Option<&str>,
    ) -> Result<Option<i64>, &'static str> {
        let user = match Channel::parse(channel) {
            Channel::Public => return Ok(None),
            // Pusher's rule: only a socket signed in as that user.
            Channel::ServerToUser(id) => {
                return match self.user {
                    Some(me) if me == id => Ok(Some(id)),
                    _ => Err("Sign in as this user first (pusher:signin)"),
                };
            }
            Channel::User(id) => Some(id),
            Channel::ChatPresence(_) => channel_data
                .and_then(|d| serde_json::from_str::<Value>(d).ok())
                .and_then(|d| match &d["user_id"] {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.parse().ok(),
                    _ => None,
                }),
            Channel::Chat(_) | Channel::Call(_) => match self
                .sockets
                .realtime
                .grants
                .lookup(&self.handle.socket_id, channel)
                .await
            {
                Ok(Some(user)) => Some(user),
                _ => self.user,
            },
            Channel::Unknown => return Err("Unknown channel"),
        };
        let Some(user) = user else {
            return Err("Authorise this channel through /broadcasting/auth first");
        };
        if self.user.is_some_and(|mine| mine != user) {
            return Err("This socket belongs to another user");
        }
        if self
            .sockets
            .policy
            .may_join(user, &Channel::parse(channel))
            .await
        {
            Ok(Some(user))
        } else {
            Err("Not allowed on this channel")
        }
    }

    /// The socket now belongs to `user`: counts it against their limit and
    /// marks them online if it is their first socket anywhere.
    async fn attach(&mut self, user: i64) -> Result<(), Close> {
        if self.user.is_some() {
            return Ok(());
        }
        if !self.handle.claim(user) {
            return Err(Close {
                code: codes::UNAUTHORIZED,
                reason: "Socket belongs to another user",
            });
        }
        self.user = Some(user);
        self.anonymous = None;
        self.learn_session(user).await;
        let count = self.sockets.realtime.hub.attach_user(&self.handle, user);
        if count > self.sockets.config.settings.ws_max_connections_per_user as usize {
            self.replies.push(protocol::error(
                Some(codes::OVER_CAPACITY),
                "Too many connections for this user",
            ));
            return Err(Close {
                code: codes::OVER_CAPACITY,
                reason: "Too many connections for this user",
            });
        }
        match self
            .sockets
            .realtime
            .presence
            .join(&PresenceKey::Online(user), "")
            .await
        {
            Ok(first) => {
                self.counted_online = true;
                if first {
                    self.sockets.presence_changed(user, true).await;
                }
            }
            Err(err) => tracing::warn!(error = %err, "presence unavailable"),
        }
        Ok(())
    }

    /// Which login authorised this socket (the grant `/broadcasting/auth`
    /// or `/broadcasting/user-auth` recorded), so that ending that login ends
    /// this socket and no other.
    async fn learn_session(&self, user: i64) {
        match self
            .sockets
            .realtime
            .grants
            .login_of(&self.handle.socket_id)
            .await
        {
            Ok(Some((owner, session))) if owner == user => self.handle.set_session(session),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "grants unavailable"),
        }
    }

    async fn join_presence(
        &mut self,
        channel: &str,
        user: Option<i64>,
        channel_data: Option<&str>,
    ) {
        let Some(user) = user else { return };
        let info = channel_data
            .and_then(|d| serde_json::from_str::<Value>(d).ok())
            .map(|d| d["user_info"].clone())
            .unwrap_or(Value::Null)
            .to_string();
        let key = PresenceKey::Channel {
            channel: channel.to_string(),
            user_id: user,
        };
        let presence = &self.sockets.realtime.presence;
        let first = presence.join(&key, &info).await.unwrap_or(false);
        let roster = presence.roster(channel).await.unwrap_or_default();
        let ids: Vec<String> = roster.iter().map(|(id, _)| id.to_string()).collect();
        let hash: serde_json::Map<String, Value> = roster
            .iter()
            .map(|(id, info)| {
                (
                    id.to_string(),
                    serde_json::from_str(info).unwrap_or(Value::Null),
                )
            })
            .collect();
        let data =
            serde_json::json!({ "presence": { "ids": ids, "hash": hash, "count": roster.len() } });
        self.replies
            .push(protocol::subscription_succeeded(channel, &data.to_string()));
        if first {
            self.sockets
                .realtime
                .webhooks
                .notify(HookEvent::MemberAdded {
                    channel: channel.to_string(),
                    user_id: user.to_string(),
                });
            let data = serde_json::json!({ "user_id": user.to_string(), "user_info": serde_json::from_str::<Value>(&info).unwrap_or(Value::Null) });
            self.sockets.realtime.broadcast(Body::Member {
                channel: channel.to_string(),
                added: true,
                data: data.to_string(),
                except_socket: Some(self.handle.socket_id.clone()),
            });
        }
    }

    async fn leave_presence(&self, channel: &str, user: Option<i64>) {
        let Some(user) = user else { return };
        let key = PresenceKey::Channel {
            channel: channel.to_string(),
            user_id: user,
        };
        if self
            .sockets
            .realtime
            .presence
            .leave(&key)
            .await
            .unwrap_or(false)
        {
            self.sockets.announce_member_removed(channel, user);
        }
    }

    async fn unsubscribe(&mut self, channel: &str) {
        let Some(subscription) = self.forget(channel) else {
            return;
        };
        self.sockets
            .realtime
            .hub
            .unsubscribe(channel, self.handle.key);
        if Channel::is_presence(channel) {
            self.leave_presence(channel, subscription.user).await;
        }
        self.sockets.count_out(channel).await;
    }

    /// The server ended a subscription (the user left the chat).
    async fn revoked(&mut self, channel: &str) {
        if let Some(subscription) = self.forget(channel) {
            if Channel::is_presence(channel) {
                self.leave_presence(channel, subscription.user).await;
            }
            self.sockets.count_out(channel).await;
            self.replies.push(protocol::frame(
                "natter:subscription_revoked",
                Some(channel),
                "{}",
            ));
        }
    }

    async fn signin(&mut self, user_data: &str, auth: &str) -> Result<(), Close> {
        let settings = &self.sockets.config.settings;
        let expected = channels::sign_user(
            &settings.reverb_app_key,
            &self.sockets.config.reverb_app_secret,
            &self.handle.socket_id,
            user_data,
        );
        let user = serde_json::from_str::<Value>(user_data)
            .ok()
            .and_then(|d| match &d["id"] {
                Value::String(s) => s.parse::<i64>().ok(),
                Value::Number(n) => n.as_i64(),
                _ => None,
            });
        match user {
            Some(user) if constant_time_eq(auth, &expected) => {
                self.attach(user).await?;
                self.replies.push(protocol::signin_success(user_data));
            }
            _ => self
                .replies
                .push(protocol::error(Some(codes::UNAUTHORIZED), "Invalid signin")),
        }
        Ok(())
    }

    /// Relays a client event to the channel's other subscribers: only on a
    /// private or presence channel this socket is in, within the rate limit,
    /// and never between two people of whom one blocked the other.
    async fn whisper(&mut self, event: String, channel: String, data: Value) {
        let found = if self.subscribed.contains(&channel) {
            self.subscriptions.iter().find(|s| s.channel == channel)
        } else {
            None
        };
        let Some(subscription) = found else {
            self.replies.push(protocol::error(
                None,
                "Client events need a subscription to the channel",
            ));
            return;
        };
        if !Channel::needs_auth(&channel) {
            self.replies.push(protocol::error(
                None,
                "Client events need a private or presence channel",
            ));
            return;
        }
        let user = subscription.user;
        let limit = self.sockets.config.settings.client_events_per_second;
        if !self.whisper_window.allow(limit, Duration::from_secs(1)) {
            self.log_rejected(
                codes::CLIENT_EVENT_RATE_LIMIT,
                &channel,
                "client event rate limit",
            );
            self.replies.push(protocol::error(
                Some(codes::CLIENT_EVENT_RATE_LIMIT),
                "Client event rejected: rate limit",
            ));
            return;
        }
        if let (Channel::Chat(chat) | Channel::ChatPresence(chat), Some(user)) =
            (Channel::parse(&channel), user)
            && !self.sockets.policy.may_whisper(user, chat).await
        {
            return;
        }
        let user_id = if Channel::is_presence(&channel) {
            user
        } else {
            None
        };
        let hooks = &self.sockets.realtime.webhooks;
        if hooks.wants(WebhookEventKind::ClientEvent) {
            hooks.notify(HookEvent::ClientEvent {
                channel: channel.clone(),
                event: event.clone(),
                data: data.to_string(),
                socket_id: self.handle.socket_id.clone(),
                user_id: user_id.map(|u| u.to_string()),
            });
        }
        self.sockets.realtime.broadcast(Body::Whisper {
            frame: protocol::client_event(&event, &channel, &data, user_id),
            channel,
            except_socket: self.handle.socket_id.clone(),
        });
    }

    /// Unsubscribes everything, leaves presence, and marks the user offline
    /// if this was their last socket anywhere.
    async fn tidy_up(&mut self) {
        let channels: Vec<String> = self
            .subscriptions
            .iter()
            .map(|s| s.channel.clone())
            .collect();
        self.subscribed.clear();
        for subscription in std::mem::take(&mut self.subscriptions) {
            if Channel::is_presence(&subscription.channel) {
                self.leave_presence(&subscription.channel, subscription.user)
                    .await;
            }
            self.sockets.count_out(&subscription.channel).await;
        }
        let hub = &self.sockets.realtime.hub;
        if let Some((user, _)) = hub.unregister(&self.handle, &channels)
            && self.counted_online
        {
            match self
                .sockets
                .realtime
                .presence
                .leave(&PresenceKey::Online(user))
                .await
            {
                Ok(true) => self.sockets.presence_changed(user, false).await,
                Ok(false) => {}
                Err(err) => tracing::warn!(error = %err, "presence unavailable"),
            }
        }
    }
}
