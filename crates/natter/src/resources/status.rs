//! A status (story) on the wire, and what its events carry.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::message::MediaView;
use super::user::UserView;
use crate::clock::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StatusType {
    Text,
    Image,
    Video,
}

impl StatusType {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusType::Text => "text",
            StatusType::Image => "image",
            StatusType::Video => "video",
        }
    }

    /// Stored values are natter's own; anything else reads as text.
    pub fn parse(stored: &str) -> StatusType {
        match stored {
            "image" => StatusType::Image,
            "video" => StatusType::Video,
            _ => StatusType::Text,
        }
    }
}

/// The Status resource of API.md, as one viewer sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusView {
    pub id: i64,
    pub user: UserView,
    #[serde(rename = "type")]
    pub status_type: StatusType,
    /// The text (text statuses) or caption.
    pub content: Option<String>,
    /// `#RRGGBB` or `#RRGGBBAA` (text statuses).
    pub background_color: Option<String>,
    pub media: Option<MediaView>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// How many people viewed it: shown to its owner only (absent for others).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view_count: Option<u64>,
    /// Whether the viewer has viewed it (always true for the owner's own).
    pub viewed: bool,
}

/// `App\Events\StatusViewed` payload, to the owner: who viewed which status.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusViewedPayload {
    pub status_id: i64,
    pub user: UserView,
    pub viewed_at: Timestamp,
    pub view_count: u64,
}

/// `App\Events\StatusDeleted` payload, to the audience.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatusDeletedPayload {
    pub status_id: i64,
    pub user_id: i64,
}
