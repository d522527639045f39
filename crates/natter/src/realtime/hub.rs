//! This node's sockets and what each is subscribed to. Delivering a frame is a
//! lookup and a non-blocking push onto each subscriber's bounded queue; no lock
//! is held across I/O, and a socket whose queue is full is told to go
//! (4200, reconnect and resync) instead of growing without bound.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::cache::shrink_if_sparse;
use crate::telemetry::{FANOUT_DELIVERIES, SLOW_SOCKETS_CLOSED};

/// One frame, encoded once and shared by every socket that gets it.
pub type Frame = Utf8Bytes;

/// What a socket's queue carries.
#[derive(Debug, Clone)]
pub enum Outbound {
    Frame(Frame),
    /// The socket's subscription to this channel was ended by the server
    /// (its user left the chat); the socket task tidies up after it.
    Revoked(String),
    /// Something the socket's subscriptions depend on changed (a block): the
    /// socket task asks the policy again for each and ends those refused.
    Recheck,
    /// The login behind the socket ended (logout, token reuse, account
    /// deletion): the socket task closes the connection with this code.
    End {
        code: u16,
        reason: &'static str,
    },
}

/// This node's handle on one connected socket.
pub struct SocketHandle {
    /// Pusher's socket id, `"<node>.<n>"`.
    pub socket_id: String,
    /// A number unique within this node, for cheap comparisons.
    pub key: u64,
    /// Frames waiting for the socket task. A plain deque, not a channel: an
    /// idle socket's queue allocates nothing (W3 in docs/benchmarks.md).
    queue: Mutex<VecDeque<Outbound>>,
    capacity: usize,
    /// The user the socket belongs to, once known.
    user: OnceLock<i64>,
    /// The login session that authorised it, once known (from the grant
    /// `/broadcasting/auth` recorded), so a logout ends exactly its sockets.
    session: OnceLock<i64>,
    /// Set when the queue overflowed; the socket task then closes with 4200.
    overflowed: AtomicBool,
    /// Wakes the socket task: something was queued, or the queue overflowed.
    pub wake: Notify,
}

/// Beyond this capacity an emptied queue gives its memory back.
const KEPT_QUEUE_CAPACITY: usize = 16;

impl SocketHandle {
    pub fn user(&self) -> Option<i64> {
        self.user.get().copied()
    }

    /// Records whose socket this is; false if it already belongs to someone else.
    pub fn claim(&self, user_id: i64) -> bool {
        *self.user.get_or_init(|| user_id) == user_id
    }

    /// Records the login session behind the socket (the first one wins).
    pub fn set_session(&self, session_id: i64) {
        let _ = self.session.set(session_id);
    }

    /// Whether ending `session` (None: every login of the user) ends this
    /// socket. A socket whose session is not known is ended too: it was
    /// authorised by one of the user's logins, and if that one is still valid
    /// the client reconnects and authorises again.
    pub fn ended_by(&self, session: Option<i64>) -> bool {
        match (session, self.session.get()) {
            (Some(ended), Some(mine)) => ended == *mine,
            _ => true,
        }
    }

    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::Acquire)
    }

    /// Queues a frame; false (and the socket marked for closing) if it is full.
    pub fn push(&self, frame: Frame) -> bool {
        self.push_control(Outbound::Frame(frame))
    }

    /// Queues anything for the socket task; same overflow rule as frames.
    pub fn push_control(&self, item: Outbound) -> bool {
        {
            let mut queue = self.queue.lock();
            if queue.len() < self.capacity {
                queue.push_back(item);
                drop(queue);
                self.wake.notify_one();
                return true;
            }
        }
        if !self.overflowed.swap(true, Ordering::AcqRel) {
            metrics::counter!(SLOW_SOCKETS_CLOSED).increment(1);
            self.wake.notify_one();
        }
        false
    }

    /// Takes up to `max` queued items, oldest first.
    pub fn take_queued(&self, max: usize) -> Vec<Outbound> {
        let mut queue = self.queue.lock();
        let n = queue.len().min(max);
        let taken: Vec<Outbound> = queue.drain(..n).collect();
        if queue.is_empty() && queue.capacity() > KEPT_QUEUE_CAPACITY {
            *queue = VecDeque::new();
        }
        taken
    }
}

/// A subscription: which socket, and as which user (when known).
#[derive(Clone)]
struct Subscriber {
    socket: Arc<SocketHandle>,
    user: Option<i64>,
}

/// A channel as the hub indexes it: user channels by number (the hot path of
/// fan-out looks them up by the thousand, with no name to format), others by name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChannelKey {
    User(i64),
    Named(String),
}

impl ChannelKey {
    pub fn of(channel: &str) -> ChannelKey {
        match channel
            .strip_prefix("private-user.")
            .and_then(|id| id.parse::<i64>().ok())
        {
            Some(id) if id > 0 && channel == format!("private-user.{id}") => ChannelKey::User(id),
            _ => ChannelKey::Named(channel.to_string()),
        }
    }
}

#[derive(Default)]
pub struct Hub {
    /// Subscribers per channel, in a set keyed by socket: subscribing and
    /// unsubscribing are O(1) whatever the channel's size (a list scanned on
    /// each subscribe was quadratic, issue 15 finding 7).
    channels: DashMap<ChannelKey, HashMap<u64, Subscriber>>,
    /// Open sockets by socket id.
    open: DashMap<String, Arc<SocketHandle>>,
    /// Sockets per IP address that belong to no user yet.
    anonymous: DashMap<IpAddr, usize>,
    sockets_of_user: DashMap<i64, Vec<Arc<SocketHandle>>>,
    next_key: AtomicU64,
    node_number: u32,
    /// What else this node forgets when a login ends on any node (its cached
    /// tokens): set once at start by the layer that owns that cache.
    login_ended: OnceLock<LoginEnded>,
    /// Counts revocations; a subscription that began its checks at one count
    /// is refused if its user was revoked from the channel since.
    revocations: AtomicU64,
    /// The last revocation of each (channel, user), with when it happened:
    /// kept [`REVOCATION_MEMORY`], far longer than a subscription's checks.
    revoked: DashMap<(ChannelKey, i64), (u64, Instant)>,
}

/// How long a revocation is remembered for subscriptions that were being
/// checked when it happened.
const REVOCATION_MEMORY: Duration = Duration::from_secs(60);

/// What [`Hub::subscribe`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subscribed {
    Added,
    /// The socket was subscribed already.
    Already,
    /// The user was revoked from the channel after the subscription's checks
    /// began (they left or were removed meanwhile): not subscribed.
    Revoked,
}

/// Called with (the node that ended it, user, session; None: every login of
/// the user) when a login ended, on every node, as the bus's `EndLogin` arrives.
pub type LoginEnded = Box<dyn Fn(&str, i64, Option<i64>) + Send + Sync>;

impl Hub {
    pub fn new() -> Hub {
        Hub {
            node_number: rand::random::<u32>() % 1_000_000_000,
            next_key: AtomicU64::new(1),
            ..Default::default()
        }
    }

    /// Sets what [`Hub::login_ended`] calls (once; a second call is ignored).
    pub fn on_login_ended(&self, hook: LoginEnded) {
        let _ = self.login_ended.set(hook);
    }

    /// A login ended (on node `origin`, this one or another): run the hook
    /// set at start.
    pub fn login_ended(&self, origin: &str, user: i64, session: Option<i64>) {
        if let Some(hook) = self.login_ended.get() {
            hook(origin, user, session);
        }
    }

    /// A new socket with a bounded queue of `capacity` frames. Its id is
    /// `<node>.<random>`: unguessable, so nobody can ask `/broadcasting/auth`
    /// to sign a subscription for another person's socket by counting.
    pub fn register(&self, capacity: usize) -> Arc<SocketHandle> {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        // 10^15..10^18: always 16-18 digits, far beyond guessing.
        let secret = 1_000_000_000_000_000 + rand::random::<u64>() % 900_000_000_000_000_000;
        let handle = Arc::new(SocketHandle {
            socket_id: format!("{}.{}", self.node_number, secret),
            key,
            queue: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
            user: OnceLock::new(),
            session: OnceLock::new(),
            overflowed: AtomicBool::new(false),
            wake: Notify::new(),
        });
        self.open.insert(handle.socket_id.clone(), handle.clone());
        handle
    }

    /// Counts an anonymous socket for `ip`; false (nothing counted) when the
    /// address has `max` already.
    pub fn take_anonymous(&self, ip: IpAddr, max: usize) -> bool {
        let mut count = self.anonymous.entry(ip).or_default();
        if *count >= max {
            return false;
        }
        *count += 1;
        true
    }

    /// Gives back what [`Hub::take_anonymous`] counted.
    pub fn release_anonymous(&self, ip: IpAddr) {
        if let Some(mut count) = self.anonymous.get_mut(&ip) {
            *count = count.saturating_sub(1);
        }
        self.anonymous.remove_if(&ip, |_, count| *count == 0);
    }

    /// How many sockets are open on this node.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    /// Counts a socket against its user once it is known; returns how many
    /// sockets the user now has on this node.
    pub fn attach_user(&self, socket: &Arc<SocketHandle>, user_id: i64) -> usize {
        let mut list = self.sockets_of_user.entry(user_id).or_default();
        if !list.iter().any(|s| s.key == socket.key) {
            list.push(socket.clone());
        }
        list.len()
    }

    /// An open socket of this node by id.
    pub fn find(&self, socket_id: &str) -> Option<Arc<SocketHandle>> {
        self.open.get(socket_id).map(|socket| socket.clone())
    }

    /// The revocation count now: read before a subscription's checks, given
    /// to [`Hub::subscribe`].
    pub fn revocation_count(&self) -> u64 {
        self.revocations.load(Ordering::SeqCst)
    }

    /// Subscribes `socket` (as `user`) to `channel`, unless that user was
    /// revoked from it after `checked_at` (a [`Hub::revocation_count`] read
    /// before the membership check). The check and the insert hold the
    /// channel's entry, which [`Hub::revoke`] takes after recording the
    /// revocation: a removal either is seen here or finds the subscription.
    pub fn subscribe(
        &self,
        channel: &str,
        socket: &Arc<SocketHandle>,
        user: Option<i64>,
        checked_at: u64,
    ) -> Subscribed {
        let key = ChannelKey::of(channel);
        let mut set = self.channels.entry(key.clone()).or_default();
        let revoked_since = |user: Option<i64>| {
            user.and_then(|u| self.revoked.get(&(key.clone(), u)))
                .is_some_and(|r| r.0 > checked_at)
        };
        if revoked_since(user) || revoked_since(socket.user()) {
            return Subscribed::Revoked;
        }
        if set.contains_key(&socket.key) {
            return Subscribed::Already;
        }
        set.insert(
            socket.key,
            Subscriber {
                socket: socket.clone(),
                user,
            },
        );
        Subscribed::Added
    }

    /// Removes one subscription; returns the user it was made as.
    pub fn unsubscribe(&self, channel: &str, socket_key: u64) -> Option<Option<i64>> {
        let key = ChannelKey::of(channel);
        let mut removed = None;
        let empty = match self.channels.get_mut(&key) {
            Some(mut set) => {
                removed = set.remove(&socket_key).map(|s| s.user);
                set.is_empty()
            }
            None => false,
        };
        if empty {
            self.channels.remove_if(&key, |_, list| list.is_empty());
        }
        removed
    }

    /// Forgets a closed socket; returns its user and how many sockets that user
    /// still has here.
    pub fn unregister(&self, socket: &SocketHandle, channels: &[String]) -> Option<(i64, usize)> {
        for channel in channels {
            self.unsubscribe(channel, socket.key);
        }
        self.open.remove(&socket.socket_id);
        let user = socket.user()?;
        let remaining = match self.sockets_of_user.get_mut(&user) {
            Some(mut list) => {
                list.retain(|s| s.key != socket.key);
                list.len()
            }
            None => 0,
        };
        if remaining == 0 {
            self.sockets_of_user
                .remove_if(&user, |_, list| list.is_empty());
        }
        Some((user, remaining))
    }

    /// The sockets of a user on this node.
    pub fn sockets_of(&self, user_id: i64) -> Vec<Arc<SocketHandle>> {
        self.sockets_of_user
            .get(&user_id)
            .map(|list| list.clone())
            .unwrap_or_default()
    }

    /// Ends a user's subscriptions to a channel (they left the chat). Returns
    /// the sockets that lost it.
    pub fn revoke(&self, channel: &str, user_id: i64) -> Vec<Arc<SocketHandle>> {
        let key = ChannelKey::of(channel);
        // Recorded before the channel's entry is taken (see subscribe).
        let count = self.revocations.fetch_add(1, Ordering::SeqCst) + 1;
        self.revoked
            .insert((key.clone(), user_id), (count, Instant::now()));
        let mut lost = Vec::new();
        if let Some(mut set) = self.channels.get_mut(&key) {
            set.retain(|_, s| {
                let theirs = s.user == Some(user_id) || s.socket.user() == Some(user_id);
                if theirs {
                    lost.push(s.socket.clone());
                }
                !theirs
            });
        }
        lost
    }

    /// Queues `frame` for every subscriber of `channel` except one socket.
    /// Returns how many sockets got it.
    pub fn deliver(&self, channel: &str, frame: &Frame, except: Option<u64>) -> usize {
        self.deliver_to(&ChannelKey::of(channel), frame, except)
    }

    /// Like [`Hub::deliver`], by key. The caller counts deliveries for metrics.
    pub fn deliver_to(&self, key: &ChannelKey, frame: &Frame, except: Option<u64>) -> usize {
        let Some(set) = self.channels.get(key) else {
            return 0;
        };
        let mut delivered = 0;
        for subscriber in set.values() {
            if Some(subscriber.socket.key) != except && subscriber.socket.push(frame.clone()) {
                delivered += 1;
            }
        }
        delivered
    }

    /// Records deliveries made through [`Hub::deliver_to`].
    pub fn count_deliveries(&self, delivered: usize) {
        metrics::counter!(FANOUT_DELIVERIES).increment(delivered as u64);
    }

    /// The local key of an open socket of this node (None for other nodes'
    /// sockets and closed ones).
    pub fn local_key(&self, socket_id: &str) -> Option<u64> {
        self.open.get(socket_id).map(|socket| socket.key)
    }

    /// Whether a socket id names this node (open or not).
    pub fn is_this_node(&self, socket_id: &str) -> bool {
        socket_id
            .split_once('.')
            .and_then(|(node, _)| node.parse::<u32>().ok())
            == Some(self.node_number)
    }

    /// Gives back the room of channels, sockets and users that are gone: after
    /// a thousand sockets close, their maps would keep the peak's memory.
    pub fn shrink(&self) {
        self.revoked
            .retain(|_, (_, at)| at.elapsed() < REVOCATION_MEMORY);
        shrink_if_sparse(&self.revoked);
        shrink_if_sparse(&self.channels);
        shrink_if_sparse(&self.open);
        shrink_if_sparse(&self.anonymous);
        shrink_if_sparse(&self.sockets_of_user);
    }

    pub fn has_subscribers(&self, key: &ChannelKey) -> bool {
        self.channels.get(key).is_some_and(|l| !l.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_during_a_subscriptions_checks_refuses_it() {
        let hub = Hub::new();
        let socket = hub.register(8);
        assert!(socket.claim(7));
        hub.attach_user(&socket, 7);
        let channel = "private-chat.1";
        // Checks began, then the user was removed (and revoked) before the
        // socket reached the channel: refused, not subscribed.
        let checked_at = hub.revocation_count();
        assert!(hub.revoke(channel, 7).is_empty());
        assert_eq!(
            hub.subscribe(channel, &socket, Some(7), checked_at),
            Subscribed::Revoked
        );
        assert!(!hub.has_subscribers(&ChannelKey::of(channel)));
        // Checks that began after it (a member again) subscribe; a later
        // revocation finds the subscription; other users are not affected.
        let checked_at = hub.revocation_count();
        assert_eq!(
            hub.subscribe(channel, &socket, Some(7), checked_at),
            Subscribed::Added
        );
        assert_eq!(
            hub.subscribe(channel, &socket, Some(7), checked_at),
            Subscribed::Already
        );
        assert_eq!(hub.revoke(channel, 7).len(), 1);
        let other = hub.register(8);
        assert!(other.claim(8));
        assert_eq!(
            hub.subscribe(channel, &other, Some(8), 0),
            Subscribed::Added
        );
    }

    #[test]
    fn maps_emptied_by_closed_sockets_give_their_room_back() {
        let hub = Hub::new();
        let sockets: Vec<Arc<SocketHandle>> = (0..2_000).map(|_| hub.register(8)).collect();
        for (i, socket) in sockets.iter().enumerate() {
            let user = i as i64 + 1;
            assert!(socket.claim(user));
            hub.attach_user(socket, user);
            let channel = format!("private-user.{user}");
            assert_eq!(
                hub.subscribe(&channel, socket, Some(user), 0),
                Subscribed::Added
            );
        }
        let peak = hub.channels.capacity() + hub.open.capacity() + hub.sockets_of_user.capacity();
        hub.shrink();
        assert!(
            hub.channels.capacity() + hub.open.capacity() + hub.sockets_of_user.capacity() >= peak,
            "full maps are not shrunk"
        );
        for (i, socket) in sockets.iter().enumerate() {
            hub.unregister(socket, &[format!("private-user.{}", i + 1)]);
        }
        assert_eq!(hub.open_count(), 0);
        hub.shrink();
        let left = hub.channels.capacity() + hub.open.capacity() + hub.sockets_of_user.capacity();
        assert!(left < peak / 4, "{left} of room left, {peak} at the peak");
    }
}
