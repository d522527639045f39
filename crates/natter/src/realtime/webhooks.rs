//! The events Pusher reports to an application's webhooks (channel occupied
//! and vacated, presence members added and removed, client events), as the
//! sockets see them happen. realtime/ only notices them and hands them over,
//! never blocking a socket: this node's batcher (pusher/webhooks.rs) collects
//! them and sends them, signed, through the durable job queue.
//!
//! Occupied, vacated, added and removed are decided on counts shared by every
//! node (presence.rs), so each happens once per cluster, on the node whose
//! socket made the edge (or the node that swept up after a dead one).

use parking_lot::Mutex;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::config::WebhookEventKind;

/// One webhook event, serialised as Pusher's webhook body lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum HookEvent {
    ChannelOccupied {
        channel: String,
    },
    ChannelVacated {
        channel: String,
    },
    MemberAdded {
        channel: String,
        user_id: String,
    },
    MemberRemoved {
        channel: String,
        user_id: String,
    },
    ClientEvent {
        channel: String,
        event: String,
        /// The client's data as JSON text.
        data: String,
        socket_id: String,
        /// Presence channels only.
        #[serde(skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
    },
}

impl HookEvent {
    pub fn kind(&self) -> WebhookEventKind {
        match self {
            HookEvent::ChannelOccupied { .. } => WebhookEventKind::ChannelOccupied,
            HookEvent::ChannelVacated { .. } => WebhookEventKind::ChannelVacated,
            HookEvent::MemberAdded { .. } => WebhookEventKind::MemberAdded,
            HookEvent::MemberRemoved { .. } => WebhookEventKind::MemberRemoved,
            HookEvent::ClientEvent { .. } => WebhookEventKind::ClientEvent,
        }
    }
}

/// Webhook events not yet taken by the batcher; beyond this many they are
/// dropped (and logged) rather than slowing sockets down.
pub const HOOK_QUEUE: usize = 65_536;

/// Where the sockets put webhook events: nowhere when no webhook URL is set.
pub struct Webhooks {
    sender: Option<mpsc::Sender<HookEvent>>,
    receiver: Mutex<Option<mpsc::Receiver<HookEvent>>>,
    kinds: Vec<WebhookEventKind>,
}

impl Webhooks {
    /// `enabled`: some webhook URL is set; `kinds`: which events it wants.
    pub fn new(enabled: bool, kinds: &[WebhookEventKind]) -> Webhooks {
        let (sender, receiver) = if enabled && !kinds.is_empty() {
            let (sender, receiver) = mpsc::channel(HOOK_QUEUE);
            (Some(sender), Some(receiver))
        } else {
            (None, None)
        };
        Webhooks {
            sender,
            receiver: Mutex::new(receiver),
            kinds: kinds.to_vec(),
        }
    }

    /// Whether events of this kind are wanted (to skip building them).
    pub fn wants(&self, kind: WebhookEventKind) -> bool {
        self.sender.is_some() && self.kinds.contains(&kind)
    }

    /// Hands an event to the batcher, if it is wanted; never waits.
    pub fn notify(&self, event: HookEvent) {
        let Some(sender) = &self.sender else { return };
        if !self.kinds.contains(&event.kind()) {
            return;
        }
        if sender.try_send(event).is_err() {
            tracing::warn!("webhook queue full or closed; an event was dropped");
        }
    }

    /// The batcher's end of the queue (taken once, by the server).
    pub fn take_receiver(&self) -> Option<mpsc::Receiver<HookEvent>> {
        self.receiver.lock().take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_pusher_does() {
        let added = HookEvent::MemberAdded {
            channel: "presence-chat.1".into(),
            user_id: "7".into(),
        };
        assert_eq!(
            serde_json::to_value(&added).unwrap(),
            serde_json::json!({"name": "member_added", "channel": "presence-chat.1", "user_id": "7"})
        );
        let client = HookEvent::ClientEvent {
            channel: "private-chat.1".into(),
            event: "client-typing".into(),
            data: "{}".into(),
            socket_id: "1.2".into(),
            user_id: None,
        };
        assert_eq!(
            serde_json::to_value(&client).unwrap(),
            serde_json::json!({"name": "client_event", "channel": "private-chat.1", "event": "client-typing", "data": "{}", "socket_id": "1.2"})
        );
    }

    #[tokio::test]
    async fn only_wanted_kinds_are_queued() {
        let hooks = Webhooks::new(true, &[WebhookEventKind::ChannelOccupied]);
        let mut receiver = hooks.take_receiver().unwrap();
        hooks.notify(HookEvent::ChannelVacated {
            channel: "a".into(),
        });
        hooks.notify(HookEvent::ChannelOccupied {
            channel: "b".into(),
        });
        assert_eq!(
            receiver.recv().await,
            Some(HookEvent::ChannelOccupied {
                channel: "b".into()
            })
        );
        assert!(receiver.try_recv().is_err());
        assert!(
            !Webhooks::new(false, &[WebhookEventKind::ClientEvent])
                .wants(WebhookEventKind::ClientEvent)
        );
    }
}
