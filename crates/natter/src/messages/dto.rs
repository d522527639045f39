//! Messages on the wire.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::clock::Timestamp;
use crate::http::validate::{distinct_ids, no_outer_space, one_emoji};
use crate::resources::chat::PinnedMessage;
use crate::resources::message::{MediaView, MessageView};

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageEnvelope {
    pub message: MessageView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessagesEnvelope {
    pub messages: Vec<MessageView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryPagination {
    pub has_more: bool,
    pub next_before_message_id: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageHistory {
    /// Oldest first.
    pub messages: Vec<MessageView>,
    pub pagination: HistoryPagination,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SendableType {
    Text,
    Image,
    Video,
    Audio,
    Document,
    Location,
    Contact,
}

impl SendableType {
    pub fn as_str(self) -> &'static str {
        match self {
            SendableType::Text => "text",
            SendableType::Image => "image",
            SendableType::Video => "video",
            SendableType::Audio => "audio",
            SendableType::Document => "document",
            SendableType::Location => "location",
            SendableType::Contact => "contact",
        }
    }

    pub fn is_media(self) -> bool {
        matches!(
            self,
            SendableType::Image
                | SendableType::Video
                | SendableType::Audio
                | SendableType::Document
        )
    }
}

/// Longest text or caption, in characters.
pub const MAX_CONTENT_CHARS: u64 = 65_536;

#[derive(Debug, Clone, Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactCard {
    #[validate(length(min = 1, max = 255))]
    #[schema(min_length = 1, max_length = 255)]
    pub name: String,
    #[validate(length(
        min = 1,
        max = 20,
        message = "The :attribute field must have between 1 and 20 numbers."
    ))]
    #[schema(min_items = 1, max_items = 20)]
    pub phone_numbers: Vec<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct SendMessageRequest {
    pub message_type: SendableType,
    /// Required for text (1 to 65,536 characters); an optional caption otherwise.
    #[validate(length(min = 1, max = 65536))]
    #[schema(min_length = 1, max_length = 65536)]
    pub content: Option<String>,
    /// A message of the same chat.
    #[validate(range(min = 1))]
    #[schema(minimum = 1)]
    pub reply_to_message_id: Option<i64>,
    /// The client's own id for the message; sending it again returns the
    /// first one. Compared exactly; no space at either end.
    #[validate(length(min = 1, max = 64), custom(function = "no_outer_space"))]
    #[schema(min_length = 1, max_length = 64)]
    pub client_message_id: Option<String>,
    #[validate(range(min = -90.0, max = 90.0))]
    #[schema(minimum = -90.0, maximum = 90.0)]
    pub latitude: Option<f64>,
    #[validate(range(min = -180.0, max = 180.0))]
    #[schema(minimum = -180.0, maximum = 180.0)]
    pub longitude: Option<f64>,
    #[validate(length(max = 255))]
    #[schema(max_length = 255)]
    pub location_name: Option<String>,
    #[validate(nested)]
    pub contact_data: Option<ContactCard>,
    /// Image, video and audio only: each recipient can open the file once
    /// (`POST /api/messages/{id}/view`); no message resource shows it.
    pub view_once: Option<bool>,
    /// Groups only: up to 50 distinct user ids the message mentions, each a
    /// current member of the group (else 422 on `mentions`). The text keeps
    /// the display form (`@Alice`); these ids are the truth. A mentioned
    /// member who muted the group still gets the push.
    #[validate(
        length(
            max = 50,
            message = "The :attribute field must not have more than 50 items."
        ),
        custom(function = "distinct_ids")
    )]
    #[schema(max_items = 50)]
    pub mentions: Option<Vec<i64>>,
}

/// A media message as `multipart/form-data`: the fields of the JSON body as
/// text parts (send `message_type` before `file`, so its own size limit applies
/// while streaming), and the file.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SendMessageForm {
    /// image, video or audio, or document (or any other type, without a file).
    pub message_type: SendableType,
    /// The caption, up to 65,536 characters.
    #[schema(min_length = 1, max_length = 65536)]
    pub content: Option<String>,
    #[schema(minimum = 1)]
    pub reply_to_message_id: Option<i64>,
    #[schema(min_length = 1, max_length = 64)]
    pub client_message_id: Option<String>,
    /// `true` (or `1`): a view-once image, video or audio.
    pub view_once: Option<bool>,
    /// A JSON array of user ids, as in the JSON body (groups only).
    pub mentions: Option<String>,
    /// The file: its bytes decide its type (image: JPEG, PNG, WebP, GIF; video:
    /// MP4, WebM, 3GP, QuickTime; audio: Ogg/Opus, MP3, AAC/M4A, WAV, AMR, WebM;
    /// document: anything but executables), at most MEDIA_MAX_BYTES_<TYPE>.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct EditMessageRequest {
    #[validate(length(min = 1, max = 65536))]
    #[schema(min_length = 1, max_length = 65536)]
    pub content: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct ReactRequest {
    /// One emoji.
    #[validate(custom(function = "one_emoji"))]
    #[schema(min_length = 1, max_length = 64)]
    pub emoji: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReactionResult {
    pub message_id: i64,
    pub emoji: String,
    pub count: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReactResponse {
    pub success: bool,
    pub reaction: ReactionResult,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct ForwardRequest {
    /// Up to 50 chats the caller is in.
    #[validate(length(
        min = 1,
        max = 50,
        message = "The :attribute field must have between 1 and 50 chats."
    ))]
    #[schema(min_items = 1, max_items = 50)]
    pub chat_ids: Vec<i64>,
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Messages per page (default 50, at most 100).
    #[validate(range(min = 1, max = 100))]
    #[serde(default = "default_history_limit")]
    #[param(minimum = 1, maximum = 100)]
    pub limit: u64,
    /// Only messages older than this one.
    #[validate(range(min = 1))]
    #[param(minimum = 1)]
    pub before_message_id: Option<i64>,
}

fn default_history_limit() -> u64 {
    50
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Receipt {
    pub user_id: i64,
    pub delivered_at: Option<Timestamp>,
    pub read_at: Option<Timestamp>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptList {
    pub receipts: Vec<Receipt>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuccessMessage {
    pub success: bool,
    pub message: String,
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

/// A view-once file, opened: shown to this recipient this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ViewOnceMedia {
    pub success: bool,
    pub media: MediaView,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct TypingRequest {
    pub typing: bool,
}

#[derive(Debug, Deserialize, Validate, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StarredQuery {
    /// Messages per page (default 50, at most 100).
    #[validate(range(min = 1, max = 100))]
    #[serde(default = "default_history_limit")]
    #[param(minimum = 1, maximum = 100)]
    pub limit: u64,
    /// Continues a list: the `next_before` of the page before.
    #[validate(range(min = 1))]
    #[param(minimum = 1)]
    pub before: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StarredPagination {
    pub has_more: bool,
    /// Pass as `before` for the next page (a position in the caller's stars).
    pub next_before: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StarredList {
    /// Newest star first.
    pub messages: Vec<MessageView>,
    pub pagination: StarredPagination,
}

/// A chat's pins after a change.
#[derive(Debug, Serialize, ToSchema)]
pub struct PinList {
    pub success: bool,
    /// Newest pin first, at most three.
    pub pinned_messages: Vec<PinnedMessage>,
}
