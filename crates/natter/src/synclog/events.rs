//! The event catalogue: every event natter sends, its name (the `App\Events\...`
//! strings of API.md, the same on the socket and in `GET /api/sync`), its
//! payload, and whether the sync log keeps it. An event is sent in one of two
//! ways, both typed by [`Event`]: logged, through [`LogTx::emit`] inside the
//! transaction that causes it; or transient, through
//! `realtime::Realtime::transient` (typing, presence), which nobody can fetch
//! later.
//!
//! Not in the catalogue because natter does not name them: client events
//! (whispers, `client-*`), relayed as sent between the subscribers of a
//! private or presence channel and never logged; and the Pusher protocol's own
//! `pusher:*` and `pusher_internal:*` frames (realtime/protocol.rs).
//!
//! [`LogTx::emit`]: super::LogTx::emit

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::resources::broadcast::BroadcastListUpdate;
use crate::resources::call::{CallSignalPayload, CallView};
use crate::resources::chat::{ChatPreferences, ChatView, Typing};
use crate::resources::message::{
    MessageView, PinUpdate, ReactionUpdate, ReceiptUpdate, StarUpdate,
};
use crate::resources::status::{StatusDeletedPayload, StatusView, StatusViewedPayload};
use crate::resources::user::OnlineStatus;

/// The name of an event. Serialised as its full Laravel name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventName {
    #[serde(rename = "App\\Events\\MessageSent")]
    MessageSent,
    #[serde(rename = "App\\Events\\MessageEdited")]
    MessageEdited,
    #[serde(rename = "App\\Events\\MessageDeleted")]
    MessageDeleted,
    #[serde(rename = "App\\Events\\MessageRead")]
    MessageRead,
    #[serde(rename = "App\\Events\\MessageDelivered")]
    MessageDelivered,
    #[serde(rename = "App\\Events\\ReactionUpdated")]
    ReactionUpdated,
    #[serde(rename = "App\\Events\\ChatUpdated")]
    ChatUpdated,
    #[serde(rename = "App\\Events\\ChatPreferencesUpdated")]
    ChatPreferencesUpdated,
    #[serde(rename = "App\\Events\\UserTyping")]
    UserTyping,
    #[serde(rename = "App\\Events\\UserOnline")]
    UserOnline,
    #[serde(rename = "App\\Events\\StatusPosted")]
    StatusPosted,
    #[serde(rename = "App\\Events\\StatusViewed")]
    StatusViewed,
    #[serde(rename = "App\\Events\\StatusDeleted")]
    StatusDeleted,
    #[serde(rename = "App\\Events\\CallInitiated")]
    CallInitiated,
    #[serde(rename = "App\\Events\\CallUpdated")]
    CallUpdated,
    #[serde(rename = "App\\Events\\CallSignal")]
    CallSignal,
    #[serde(rename = "App\\Events\\MessageStarred")]
    MessageStarred,
    #[serde(rename = "App\\Events\\MessagePinned")]
    MessagePinned,
    #[serde(rename = "App\\Events\\BroadcastListUpdated")]
    BroadcastListUpdated,
}

impl EventName {
    pub const ALL: [EventName; 19] = [
        EventName::MessageSent,
        EventName::MessageEdited,
        EventName::MessageDeleted,
        EventName::MessageRead,
        EventName::MessageDelivered,
        EventName::ReactionUpdated,
        EventName::ChatUpdated,
        EventName::ChatPreferencesUpdated,
        EventName::UserTyping,
        EventName::UserOnline,
        EventName::StatusPosted,
        EventName::StatusViewed,
        EventName::StatusDeleted,
        EventName::CallInitiated,
        EventName::CallUpdated,
        EventName::CallSignal,
        EventName::MessageStarred,
        EventName::MessagePinned,
        EventName::BroadcastListUpdated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventName::MessageSent => "App\\Events\\MessageSent",
            EventName::MessageEdited => "App\\Events\\MessageEdited",
            EventName::MessageDeleted => "App\\Events\\MessageDeleted",
            EventName::MessageRead => "App\\Events\\MessageRead",
            EventName::MessageDelivered => "App\\Events\\MessageDelivered",
            EventName::ReactionUpdated => "App\\Events\\ReactionUpdated",
            EventName::ChatUpdated => "App\\Events\\ChatUpdated",
            EventName::ChatPreferencesUpdated => "App\\Events\\ChatPreferencesUpdated",
            EventName::UserTyping => "App\\Events\\UserTyping",
            EventName::UserOnline => "App\\Events\\UserOnline",
            EventName::StatusPosted => "App\\Events\\StatusPosted",
            EventName::StatusViewed => "App\\Events\\StatusViewed",
            EventName::StatusDeleted => "App\\Events\\StatusDeleted",
            EventName::CallInitiated => "App\\Events\\CallInitiated",
            EventName::CallUpdated => "App\\Events\\CallUpdated",
            EventName::CallSignal => "App\\Events\\CallSignal",
            EventName::MessageStarred => "App\\Events\\MessageStarred",
            EventName::MessagePinned => "App\\Events\\MessagePinned",
            EventName::BroadcastListUpdated => "App\\Events\\BroadcastListUpdated",
        }
    }

    /// Whether the sync log keeps the event (and `GET /api/sync` returns it).
    /// Typing, presence and call signalling are only worth anything live.
    pub fn is_logged(self) -> bool {
        !matches!(
            self,
            EventName::UserTyping | EventName::UserOnline | EventName::CallSignal
        )
    }
}

/// An event with its payload.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// `{"message": Message}`, to the chat.
    MessageSent(&'a MessageView),
    /// `{"message": Message}`, to the chat.
    MessageEdited(&'a MessageView),
    /// `{"message": Message}` (content gone), to the chat.
    MessageDeleted(&'a MessageView),
    /// A member's read watermark moved: to the chat and the senders it concerns.
    MessageRead(&'a ReceiptUpdate),
    /// A member's delivered watermark moved: likewise.
    MessageDelivered(&'a ReceiptUpdate),
    /// A message's reactions, all of them, after a change.
    ReactionUpdated(&'a ReactionUpdate<'a>),
    /// `{"chat": Chat}` as anyone may see it (no viewer's unread count or mute).
    ChatUpdated(&'a ChatView),
    /// `{"chat_id", "muted_until", "pinned", "pinned_at", "archived"}`: one
    /// member's own settings of a chat (mute, pin, archive) changed, to that
    /// member's user channel only, so each of their devices follows.
    ChatPreferencesUpdated(&'a ChatPreferences),
    /// Not logged: someone is typing in a chat.
    UserTyping(&'a Typing),
    /// Not logged: someone came online or went offline.
    UserOnline(&'a OnlineStatus),
    /// `{"status": Status}`: a new status, to its owner and each person of its
    /// audience (one logged event each, on their user channel).
    StatusPosted(&'a StatusView),
    /// `{"status_id", "user", "viewed_at", "view_count"}`: someone viewed a
    /// status, to its owner only.
    StatusViewed(&'a StatusViewedPayload),
    /// `{"status_id", "user_id"}`: the owner deleted a status, to its owner and
    /// audience. (Expiry sends nothing: `expires_at` says when.)
    StatusDeleted(&'a StatusDeletedPayload),
    /// `{"call": Call}`: a call rings, to each callee's user channel.
    CallInitiated(&'a CallView),
    /// `{"call": Call}`: a call changed (answered, declined, ended, missed),
    /// to `private-call.{id}` and each participant's user channel.
    CallUpdated(&'a CallView),
    /// Not logged: WebRTC signalling, to the target's user channel only.
    CallSignal(&'a CallSignalPayload),
    /// `{"message_id", "chat_id", "starred"}`: the user starred or unstarred a
    /// message, to their own user channel only (stars are private).
    MessageStarred(&'a StarUpdate),
    /// `{"chat_id", "message_id", "pinned", "actor_id"}`: a message was pinned
    /// or unpinned, to the chat.
    MessagePinned(&'a PinUpdate),
    /// `{"id", "deleted", "broadcast_list": BroadcastList|null}`: the owner
    /// created, changed or deleted a broadcast list; to the owner only.
    BroadcastListUpdated(&'a BroadcastListUpdate<'a>),
}

#[derive(Serialize)]
struct StatusPayload<'a> {
    status: &'a StatusView,
}

#[derive(Serialize)]
struct CallPayload<'a> {
    call: &'a CallView,
}

#[derive(Serialize)]
struct MessagePayload<'a> {
    message: &'a MessageView,
}

#[derive(Serialize)]
struct ChatPayload<'a> {
    chat: &'a ChatView,
}

impl Event<'_> {
    pub fn name(&self) -> EventName {
        match self {
            Event::MessageSent(_) => EventName::MessageSent,
            Event::MessageEdited(_) => EventName::MessageEdited,
            Event::MessageDeleted(_) => EventName::MessageDeleted,
            Event::MessageRead(_) => EventName::MessageRead,
            Event::MessageDelivered(_) => EventName::MessageDelivered,
            Event::ReactionUpdated(_) => EventName::ReactionUpdated,
            Event::ChatUpdated(_) => EventName::ChatUpdated,
            Event::ChatPreferencesUpdated(_) => EventName::ChatPreferencesUpdated,
            Event::UserTyping(_) => EventName::UserTyping,
            Event::UserOnline(_) => EventName::UserOnline,
            Event::StatusPosted(_) => EventName::StatusPosted,
            Event::StatusViewed(_) => EventName::StatusViewed,
            Event::StatusDeleted(_) => EventName::StatusDeleted,
            Event::CallInitiated(_) => EventName::CallInitiated,
            Event::CallUpdated(_) => EventName::CallUpdated,
            Event::CallSignal(_) => EventName::CallSignal,
            Event::MessageStarred(_) => EventName::MessageStarred,
            Event::MessagePinned(_) => EventName::MessagePinned,
            Event::BroadcastListUpdated(_) => EventName::BroadcastListUpdated,
        }
    }

    /// The payload as a JSON object, as the socket and sync carry it.
    pub fn data(&self) -> serde_json::Result<String> {
        match self {
            Event::MessageSent(message)
            | Event::MessageEdited(message)
            | Event::MessageDeleted(message) => serde_json::to_string(&MessagePayload { message }),
            Event::MessageRead(receipt) | Event::MessageDelivered(receipt) => {
                serde_json::to_string(receipt)
            }
            Event::ReactionUpdated(reactions) => serde_json::to_string(reactions),
            Event::ChatUpdated(chat) => serde_json::to_string(&ChatPayload { chat }),
            Event::ChatPreferencesUpdated(prefs) => serde_json::to_string(prefs),
            Event::UserTyping(typing) => serde_json::to_string(typing),
            Event::UserOnline(online) => serde_json::to_string(online),
            Event::StatusPosted(status) => serde_json::to_string(&StatusPayload { status }),
            Event::StatusViewed(viewed) => serde_json::to_string(viewed),
            Event::StatusDeleted(deleted) => serde_json::to_string(deleted),
            Event::CallInitiated(call) | Event::CallUpdated(call) => {
                serde_json::to_string(&CallPayload { call })
            }
            Event::CallSignal(signal) => serde_json::to_string(signal),
            Event::MessageStarred(star) => serde_json::to_string(star),
            Event::MessagePinned(pin) => serde_json::to_string(pin),
            Event::BroadcastListUpdated(update) => serde_json::to_string(update),
        }
    }
}

/// The OpenAPI schema of a logged event's name: the catalogue's logged names.
pub fn logged_names_schema() -> Schema {
    let names: Vec<&str> = EventName::ALL
        .into_iter()
        .filter(|name| name.is_logged())
        .map(EventName::as_str)
        .collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names))
        .description(Some("The event's name, as on the socket."))
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_serialise_as_they_print() {
        for name in EventName::ALL {
            let json = serde_json::to_string(&name).unwrap();
            assert_eq!(json, serde_json::to_string(name.as_str()).unwrap());
            assert_eq!(serde_json::from_str::<EventName>(&json).unwrap(), name);
        }
        assert_eq!(
            EventName::ALL.iter().filter(|n| !n.is_logged()).count(),
            3,
            "typing, presence and call signalling only"
        );
    }

    #[test]
    fn payloads_are_objects() {
        let typing = Typing {
            chat_id: 1,
            user_id: 2,
            typing: true,
        };
        let event = Event::UserTyping(&typing);
        assert_eq!(event.name(), EventName::UserTyping);
        assert_eq!(
            event.data().unwrap(),
            r#"{"chat_id":1,"user_id":2,"typing":true}"#
        );
    }
}
