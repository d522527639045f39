//! Chats on the wire.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::clock::Timestamp;
use crate::http::pagination::Pagination;
use crate::messages::dto::MessageView;
use crate::users::dto::UserView;

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
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChatList {
    pub chats: Vec<ChatView>,
    pub pagination: Pagination,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct PrivateChatRequest {
    /// The other person's user id (they need not be a contact).
    #[validate(range(min = 1))]
    #[schema(minimum = 1)]
    pub contact_id: i64,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct WatermarkRequest {
    /// Everything up to this message is marked.
    #[validate(range(min = 1))]
    #[schema(minimum = 1)]
    pub message_id: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadResponse {
    pub success: bool,
    pub read_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Success {
    pub success: bool,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct MuteRequest {
    /// RFC 3339 time until which the chat is muted; null unmutes.
    #[serde(deserialize_with = "crate::http::json::optional_rfc3339")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub until: Option<i64>,
}

/// `ChatUpdated` payload.
#[derive(Debug, Serialize)]
pub struct ChatEvent<'a> {
    pub chat: &'a ChatView,
}

/// `MessageRead` / `MessageDelivered` payload.
#[derive(Debug, Serialize)]
pub struct ReceiptEvent {
    pub chat_id: i64,
    pub user_id: i64,
    pub message_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<Timestamp>,
}
