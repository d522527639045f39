//! A message on the wire (the Message resource of API.md), and the receipt
//! and reaction changes events carry.

use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};

use crate::clock::Timestamp;

/// Who sent a message, in brief.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SenderView {
    pub id: i64,
    pub name: String,
    pub avatar_url: Option<String>,
}

/// The message a reply quotes.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReplyView {
    pub id: i64,
    pub sender_id: i64,
    pub message_type: String,
    /// Null when the quoted message was deleted.
    #[schema(value_type = Option<Object>)]
    #[schema(schema_with = text_or_object)]
    pub content: Option<serde_json::Value>,
}

/// A message's file. URLs are signed and expire (at least MEDIA_URL_TTL, one
/// hour by default); fetch the message again for fresh ones.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MediaView {
    /// Signed, expiring URL of the file (without metadata, for images).
    pub url: String,
    /// Bytes uploaded.
    pub size: Option<i64>,
    /// Whole seconds (video and audio), once probed; null without ffmpeg.
    pub duration: Option<i64>,
    /// The type sniffed from the bytes.
    pub mime_type: Option<String>,
    /// The sender's file name (documents).
    pub file_name: Option<String>,
    /// Signed URL of a JPEG, longest side 320 px: images at once, video posters
    /// once probed (`MessageEdited`).
    pub thumbnail_url: Option<String>,
    /// Pixels as displayed (images; video once probed).
    pub width: Option<i64>,
    pub height: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LocationView {
    pub latitude: f64,
    pub longitude: f64,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReactionSummary {
    pub emoji: String,
    pub count: usize,
    pub user_ids: Vec<i64>,
}

/// Delivery state of a message, for its sender: the lowest over the recipients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageView {
    pub id: i64,
    pub chat_id: i64,
    pub sender_id: i64,
    pub sender: SenderView,
    pub client_message_id: Option<String>,
    pub reply_to: Option<ReplyView>,
    /// text, image, video, audio, document, location, contact, or system.
    pub message_type: String,
    /// Text or caption; for `system` messages an object `{"event", "actor_id", "user_ids"}`.
    #[schema(value_type = Option<Object>)]
    #[schema(schema_with = text_or_object)]
    pub content: Option<serde_json::Value>,
    pub media: Option<MediaView>,
    pub location: Option<LocationView>,
    #[schema(value_type = Option<Object>)]
    pub contact_data: Option<serde_json::Value>,
    pub status: DeliveryStatus,
    pub reactions: Vec<ReactionSummary>,
    pub sent_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
    pub read_at: Option<Timestamp>,
    pub edited_at: Option<Timestamp>,
    pub deleted: bool,
    /// When the server deletes it (the chat's disappearing-messages timer as it
    /// was when the message was stored); null: never.
    pub expires_at: Option<Timestamp>,
    /// The file opens once per recipient, through `POST /api/messages/{id}/view`;
    /// `media` is always null on such a message.
    pub view_once: bool,
    /// For a view-once message in history: the caller has opened it (or sent it;
    /// the sender cannot open it either). False in events.
    pub viewed: bool,
    /// The caller starred it (history, the starred list, a chat's last
    /// message). Stars are private: false in events, which the whole chat
    /// hears; a star travels in the starrer's own `MessageStarred`.
    pub starred: bool,
    /// Users the message mentions (groups only), in the order sent; the text
    /// shows them as `@Name`. Empty once the message is deleted.
    pub mentions: Vec<i64>,
}

/// `MessageRead` / `MessageDelivered` payload.
#[derive(Debug, Serialize)]
pub struct ReceiptUpdate {
    pub chat_id: i64,
    pub user_id: i64,
    pub message_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<Timestamp>,
}

/// `ReactionUpdated` payload.
#[derive(Debug, Serialize)]
pub struct ReactionUpdate<'a> {
    pub message_id: i64,
    pub chat_id: i64,
    pub reactions: &'a [ReactionSummary],
}

/// `MessageStarred` payload: to the starrer's own devices only.
#[derive(Debug, Serialize)]
pub struct StarUpdate {
    pub message_id: i64,
    pub chat_id: i64,
    pub starred: bool,
}

/// `MessagePinned` payload: to the chat.
#[derive(Debug, Serialize)]
pub struct PinUpdate {
    pub chat_id: i64,
    pub message_id: i64,
    pub pinned: bool,
    /// Who pinned or unpinned it; null when the message was deleted (by its
    /// sender or its disappearing timer), which unpins it.
    pub actor_id: Option<i64>,
}

/// A text, or for system messages an object, or null.
pub fn text_or_object() -> Schema {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([
            Type::String,
            Type::Object,
            Type::Null,
        ]))
        .description(Some(
            "Text (or caption); for `system` messages an object {event, actor_id, user_ids}.",
        ))
        .into()
}
