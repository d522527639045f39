//! Turning bus messages into frames on this node's sockets, in log order.
//!
//! Logged events pass a sequencer: positions are dense (a rolled-back
//! transaction hands its positions to the next one), so an event that arrives
//! ahead of a missing one waits for it, briefly, before being delivered. A
//! client that goes by "the last seq I saw" then never sees N+1 and misses N.
//! A position that never shows up (a node died between commit and publish) is
//! skipped after [`GAP_WAIT`]; the client finds it through sync.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::bus::{Body, Envelope};
use super::channels::{chat_channel, chat_presence_channel, user_channel};
use super::hub::{ChannelKey, Frame, Hub, Outbound};
use super::protocol::codes::UNAUTHORIZED;
use super::protocol::{MEMBER_ADDED, MEMBER_REMOVED, frame_with_escaped, json_string};
use crate::clock::now_us;
use crate::telemetry::FANOUT_DELAY;

/// How long an event waits for a missing earlier one.
pub const GAP_WAIT: Duration = Duration::from_millis(50);

/// Orders logged events by position.
#[derive(Default)]
pub struct Sequencer {
    next: Option<i64>,
    pending: BTreeMap<i64, Arc<Envelope>>,
    gap_since: Option<Instant>,
}

impl Sequencer {
    /// Takes an event; returns those now deliverable, in order.
    pub fn offer(&mut self, seq: i64, envelope: Arc<Envelope>, now: Instant) -> Vec<Arc<Envelope>> {
        let next = *self.next.get_or_insert(seq);
        if seq < next {
            // Late (or from before this node started): deliver rather than drop.
            return vec![envelope];
        }
        self.pending.insert(seq, envelope);
        let ready = self.drain();
        self.gap_since = if self.pending.is_empty() {
            None
        } else {
            self.gap_since.or(Some(now))
        };
        ready
    }

    /// When the oldest gap stops being waited for.
    pub fn deadline(&self) -> Option<Instant> {
        self.gap_since.map(|since| since + GAP_WAIT)
    }

    /// Gives up on the oldest gap; returns what follows it.
    pub fn skip_gap(&mut self, now: Instant) -> Vec<Arc<Envelope>> {
        if let Some((&first, _)) = self.pending.iter().next() {
            self.next = Some(first);
        }
        let ready = self.drain();
        self.gap_since = if self.pending.is_empty() {
            None
        } else {
            Some(now)
        };
        ready
    }

    fn drain(&mut self) -> Vec<Arc<Envelope>> {
        let mut ready = Vec::new();
        while let Some(next) = self.next {
            match self.pending.remove(&next) {
                Some(envelope) => {
                    ready.push(envelope);
                    self.next = Some(next + 1);
                }
                None => break,
            }
        }
        ready
    }
}

/// Runs until shutdown: the one task that writes bus messages to sockets.
pub async fn run(
    hub: Arc<Hub>,
    mut inbox: mpsc::Receiver<Arc<Envelope>>,
    shutdown: CancellationToken,
) {
    let mut sequencer = Sequencer::default();
    loop {
        let deadline = sequencer.deadline();
        let envelope = tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = sleep_until(deadline) => {
                for ready in sequencer.skip_gap(Instant::now()) {
                    deliver(&hub, &ready);
                }
                continue;
            }
            next = inbox.recv() => match next { Some(e) => e, None => break },
        };
        match &envelope.body {
            Body::Event { seq, .. } => {
                for ready in sequencer.offer(*seq, envelope.clone(), Instant::now()) {
                    deliver(&hub, &ready);
                }
            }
            _ => deliver(&hub, &envelope),
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Frames one bus message for each channel that has subscribers here.
pub fn deliver(hub: &Hub, envelope: &Envelope) {
    match &envelope.body {
        Body::Event {
            name,
            data,
            chat,
            users,
            revoke,
            channels,
            except_socket,
            committed_us,
            ..
        } => {
            if let Some(chat) = chat {
                for user in revoke {
                    for channel in [chat_channel(*chat), chat_presence_channel(*chat)] {
                        for socket in hub.revoke(&channel, *user) {
                            socket.push_control(Outbound::Revoked(channel.clone()));
                        }
                    }
                }
            }
            let keys = chat
                .map(|c| ChannelKey::Named(chat_channel(c)))
                .into_iter()
                .chain(users.iter().map(|u| ChannelKey::User(*u)))
                .chain(channels.iter().map(|c| ChannelKey::of(c)));
            let except = except_socket.as_deref().and_then(|s| hub.local_key(s));
            if fan_out(hub, name.as_str(), data, keys, except) > 0 {
                record_delay(*committed_us);
            }
        }
        Body::Transient {
            name,
            data,
            channels,
            except_socket,
        } => {
            let except = except_socket.as_deref().and_then(|s| hub.local_key(s));
            let keys = channels.iter().map(|c| ChannelKey::of(c));
            fan_out(hub, name.as_str(), data, keys, except);
        }
        Body::Member {
            channel,
            added,
            data,
            except_socket,
        } => {
            let name = if *added { MEMBER_ADDED } else { MEMBER_REMOVED };
            let except = except_socket.as_deref().and_then(|s| hub.local_key(s));
            let keys = std::iter::once(ChannelKey::of(channel));
            fan_out(hub, name, data, keys, except);
        }
        Body::Whisper {
            channel,
            frame,
            except_socket,
        } => {
            let except = hub.local_key(except_socket);
            let delivered = hub.deliver(channel, &Frame::from(frame.clone()), except);
            hub.count_deliveries(delivered);
        }
        Body::Published {
            event,
            data,
            channels,
            except_socket,
        } => {
            let except = except_socket.as_deref().and_then(|s| hub.local_key(s));
            let keys = channels.iter().map(|c| ChannelKey::of(c));
            fan_out(hub, event, data, keys, except);
        }
        Body::Terminate { user } => {
            for socket in hub.sockets_of(*user) {
                socket.push_control(Outbound::End {
                    code: UNAUTHORIZED,
                    reason: "Connection terminated by the server",
                });
            }
        }
        Body::EndLogin { user, session } => {
            // Tokens first: a request with the ended login's token must not
            // pass on this node while its socket closes (nor for CACHE_TTL).
            hub.login_ended(&envelope.origin, *user, *session);
            for socket in hub.sockets_of(*user) {
                if socket.ended_by(*session) {
                    socket.push_control(Outbound::End {
                        code: UNAUTHORIZED,
                        reason: "Signed out",
                    });
                }
            }
        }
        Body::Recheck { users } => {
            for user in users {
                for socket in hub.sockets_of(*user) {
                    socket.push_control(Outbound::Recheck);
                }
            }
        }
    }
}

/// The time from a logged event's commit to its frames being queued here:
/// one observation per event (not per socket), when a socket of this node
/// got it. Each socket's task writes its queue at once unless the client is
/// slow, which `natter_slow_sockets_closed_total` shows.
fn record_delay(committed_us: i64) {
    if committed_us > 0 {
        let delay_us = (now_us() - committed_us).max(0);
        metrics::histogram!(FANOUT_DELAY).record(delay_us as f64 / 1_000_000.0);
    }
}

/// Escapes the data once, then frames it per channel, only where someone
/// listens: the costly work happens once per event, a copy once per channel.
/// Returns the number of sockets it was queued on.
fn fan_out(
    hub: &Hub,
    name: &str,
    data: &str,
    keys: impl Iterator<Item = ChannelKey>,
    except: Option<u64>,
) -> usize {
    let mut escaped: Option<(String, String)> = None;
    let mut delivered = 0;
    for key in keys {
        if !hub.has_subscribers(&key) {
            continue;
        }
        let (event_json, data_json) =
            escaped.get_or_insert_with(|| (json_string(name), json_string(data)));
        let channel = match &key {
            ChannelKey::User(id) => user_channel(*id),
            ChannelKey::Named(name) => name.clone(),
        };
        let frame = Frame::from(frame_with_escaped(event_json, &channel, data_json));
        delivered += hub.deliver_to(&key, &frame, except);
    }
    hub.count_deliveries(delivered);
    delivered
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::synclog::EventName;

    fn event(seq: i64) -> Arc<Envelope> {
        Arc::new(Envelope {
            origin: "n".into(),
            body: Body::Event {
                seq,
                name: EventName::MessageSent,
                data: "{}".into(),
                chat: None,
                users: vec![],
                revoke: vec![],
                channels: vec![],
                except_socket: None,
                committed_us: 0,
            },
        })
    }

    fn seqs(list: Vec<Arc<Envelope>>) -> Vec<i64> {
        list.iter()
            .map(|e| match e.body {
                Body::Event { seq, .. } => seq,
                _ => -1,
            })
            .collect()
    }

    #[test]
    fn holds_events_until_the_gap_fills() {
        let now = Instant::now();
        let mut s = Sequencer::default();
        assert_eq!(seqs(s.offer(10, event(10), now)), vec![10]);
        assert_eq!(seqs(s.offer(12, event(12), now)), Vec::<i64>::new());
        assert!(s.deadline().is_some());
        assert_eq!(seqs(s.offer(11, event(11), now)), vec![11, 12]);
        assert!(s.deadline().is_none());
        // Late arrivals go out at once.
        assert_eq!(seqs(s.offer(5, event(5), now)), vec![5]);
    }

    #[test]
    fn skips_a_gap_that_never_fills() {
        let now = Instant::now();
        let mut s = Sequencer::default();
        s.offer(1, event(1), now);
        s.offer(3, event(3), now);
        s.offer(4, event(4), now);
        s.offer(6, event(6), now);
        assert_eq!(seqs(s.skip_gap(now)), vec![3, 4]);
        assert!(s.deadline().is_some(), "6 still waits for 5");
        assert_eq!(seqs(s.offer(5, event(5), now)), vec![5, 6]);
    }
}
