//! A chat on the wire, and what is said about a chat without storing it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::message::MessageView;
use super::user::UserView;
use crate::clock::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChatType {
    Private,
    Group,
}

impl ChatType {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatType::Private => "private",
            ChatType::Group => "group",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn parse(stored: &str) -> Role {
        if stored == "admin" {
            Role::Admin
        } else {
            Role::Member
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ParticipantView {
    pub user: UserView,
    pub role: Role,
    pub joined_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatView {
    pub id: i64,
    #[serde(rename = "type")]
    pub chat_type: ChatType,
    /// For a private chat, the other person's name.
    pub name: Option<String>,
    pub description: Option<String>,
    /// For a private chat, the other person's photo (if their privacy allows).
    pub avatar_url: Option<String>,
    pub created_by: Option<i64>,
    /// Current members only.
    pub participants: Vec<ParticipantView>,
    pub last_message: Option<MessageView>,
    pub unread_count: u64,
    pub muted_until: Option<Timestamp>,
    /// The viewer pinned the chat (at most three are): the chat list shows
    /// pinned chats first, most recently pinned first. False in events.
    pub pinned: bool,
    /// When the viewer pinned it (null when not pinned).
    pub pinned_at: Option<Timestamp>,
    /// The viewer archived the chat and no message has come since (or they
    /// keep chats archived). False in events.
    pub archived: bool,
    /// The disappearing-messages timer in seconds (0 off, 86400, 604800 or
    /// 7776000): messages sent while it is on are deleted this long after.
    pub disappearing_seconds: i64,
    /// The chat's pinned messages (at most three), newest pin first: the same
    /// for every member, leaving out messages from before the viewer joined.
    pub pinned_messages: Vec<PinnedMessage>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// `App\Events\ChatPreferencesUpdated` payload: one member's own settings
/// of a chat, as the Chat resource shows them to that member.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChatPreferences {
    pub chat_id: i64,
    pub muted_until: Option<Timestamp>,
    pub pinned: bool,
    pub pinned_at: Option<Timestamp>,
    pub archived: bool,
}

/// A message pinned in a chat, in brief: fetch the message itself from history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PinnedMessage {
    pub message_id: i64,
    /// The member who pinned it.
    pub pinned_by: i64,
    pub pinned_at: Timestamp,
}

/// `App\Events\UserTyping` payload.
#[derive(Debug, Serialize)]
pub struct Typing {
    pub chat_id: i64,
    pub user_id: i64,
    pub typing: bool,
}
