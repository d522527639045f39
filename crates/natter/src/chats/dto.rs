//! Chats on the wire.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::clock::optional_rfc3339;
use crate::http::pagination::Pagination;
use crate::resources::chat::ChatView;

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
pub struct MuteRequest {
    /// RFC 3339 time until which the chat is muted; null unmutes.
    #[serde(deserialize_with = "optional_rfc3339")]
    #[schema(value_type = Option<String>, format = DateTime, required = true)]
    pub until: Option<i64>,
}

/// `GET /api/chats`' filter.
#[derive(Debug, Clone, Copy, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChatFilter {
    /// `true`: only archived chats; `false`: only the others; absent: all,
    /// each with its `archived` flag (as before archiving existed).
    pub archived: Option<bool>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct PinRequest {
    /// Pin (at most 3 chats) or unpin. Pinning unarchives the chat.
    pub pinned: bool,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct ArchiveRequest {
    /// Archive or unarchive. Archiving unpins the chat; a new message
    /// unarchives it unless the user keeps chats archived.
    pub archived: bool,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct DisappearingRequest {
    /// The timer in seconds: 0 (off), 86400 (24 hours), 604800 (7 days) or
    /// 7776000 (90 days). Messages sent while it is on are deleted this long
    /// after they were sent.
    #[schema(example = 86400)]
    pub seconds: i64,
}
