//! The wire types of API.md, as a client reads them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SendOtpResponse {
    pub success: bool,
    pub message: String,
    pub expires_at: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_at: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct VerifyOtpResponse {
    pub success: bool,
    pub user: SelfUser,
    pub tokens: TokenPair,
}

/// A user as others see them.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub phone_number: Option<String>,
    pub about: Option<String>,
    pub avatar_url: Option<String>,
    pub is_online: bool,
    pub last_seen_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Privacy {
    pub last_seen: String,
    pub profile_photo: String,
    pub about: String,
}

/// A user as they see themself.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct SelfUser {
    pub id: i64,
    pub name: String,
    pub phone_number: Option<String>,
    pub about: Option<String>,
    pub avatar_url: Option<String>,
    pub is_online: bool,
    pub last_seen_at: Option<String>,
    pub country_code: String,
    pub phone_verified_at: Option<String>,
    pub privacy: Privacy,
    /// "Keep chats archived": a new message leaves an archived chat archived.
    #[serde(default)]
    pub keep_chats_archived: bool,
    pub created_at: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Pagination {
    pub current_page: u64,
    pub total_pages: u64,
    pub total_items: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Contact {
    pub id: i64,
    pub contact_name: Option<String>,
    pub is_blocked: bool,
    pub added_at: String,
    pub user: User,
}

/// A push device.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Device {
    pub id: i64,
    pub platform: String,
    pub token: String,
    pub push_content: bool,
    pub created_at: String,
    pub last_used_at: String,
}

/// One login of the caller's (`GET /api/sessions`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Session {
    pub id: i64,
    pub device_name: String,
    pub platform: String,
    pub created_at: String,
    pub last_active_at: String,
    pub ip_region: Option<String>,
    pub current: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SessionList {
    pub sessions: Vec<Session>,
}

/// A code for linking a new device (`POST /api/sessions/link-codes`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct LinkCode {
    pub code: String,
    pub qr_payload: String,
    pub expires_at: String,
}

/// What a signing-in device says about itself; both optional.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeviceLabel {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// `ios`, `android`, `web`, `desktop` or `other`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct DeviceList {
    pub devices: Vec<Device>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ContactList {
    pub contacts: Vec<Contact>,
    pub pagination: Pagination,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct RegisteredNumber {
    pub phone_number: String,
    pub user: User,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ContactSync {
    pub registered: Vec<RegisteredNumber>,
    pub invalid: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct BlockResult {
    pub success: bool,
    pub is_blocked: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Participant {
    pub user: User,
    pub role: String,
    pub joined_at: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Chat {
    pub id: i64,
    #[serde(rename = "type")]
    pub chat_type: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub avatar_url: Option<String>,
    pub created_by: Option<i64>,
    pub participants: Vec<Participant>,
    pub last_message: Option<Message>,
    pub unread_count: u64,
    pub muted_until: Option<String>,
    /// The disappearing-messages timer in seconds; 0: off.
    #[serde(default)]
    pub disappearing_seconds: i64,
    /// The caller pinned it (at most 3; listed first).
    #[serde(default)]
    pub pinned: bool,
    #[serde(default)]
    pub pinned_at: Option<String>,
    /// The caller archived it and no message came since (or they keep chats archived).
    #[serde(default)]
    pub archived: bool,
    /// Pinned messages, newest pin first (at most three).
    #[serde(default)]
    pub pinned_messages: Vec<PinnedMessage>,
    pub created_at: String,
    pub updated_at: String,
}

/// A message pinned in a chat.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PinnedMessage {
    pub message_id: i64,
    pub pinned_by: i64,
    pub pinned_at: String,
}

/// A chat's pins after a pin or unpin.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PinList {
    pub pinned_messages: Vec<PinnedMessage>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ChatList {
    pub chats: Vec<Chat>,
    pub pagination: Pagination,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Sender {
    pub id: i64,
    pub name: String,
    pub avatar_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ReplyTo {
    pub id: i64,
    pub sender_id: i64,
    pub message_type: String,
    pub content: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Reaction {
    pub emoji: String,
    pub count: usize,
    pub user_ids: Vec<i64>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Message {
    pub id: i64,
    pub chat_id: i64,
    pub sender_id: i64,
    pub sender: Sender,
    pub client_message_id: Option<String>,
    pub reply_to: Option<ReplyTo>,
    pub message_type: String,
    pub content: Option<serde_json::Value>,
    pub media: Option<serde_json::Value>,
    pub location: Option<Location>,
    pub contact_data: Option<serde_json::Value>,
    pub status: String,
    pub reactions: Vec<Reaction>,
    pub sent_at: String,
    pub delivered_at: Option<String>,
    pub read_at: Option<String>,
    pub edited_at: Option<String>,
    pub deleted: bool,
    /// When the server deletes it (a disappearing message); None: never.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// The file opens once, through [`crate::Client::view_once`]; `media` is null.
    #[serde(default)]
    pub view_once: bool,
    /// A view-once message the caller has opened (or sent).
    #[serde(default)]
    pub viewed: bool,
    /// The caller starred it (false in events: stars are private).
    #[serde(default)]
    pub starred: bool,
    /// Users a group message mentions.
    #[serde(default)]
    pub mentions: Vec<i64>,
}

impl Message {
    /// The text of a text message (or caption).
    pub fn text(&self) -> Option<&str> {
        self.content.as_ref().and_then(|c| c.as_str())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct MessageEnvelope {
    pub message: Message,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct MessagesEnvelope {
    pub messages: Vec<Message>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct HistoryPagination {
    pub has_more: bool,
    pub next_before_message_id: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct History {
    pub messages: Vec<Message>,
    pub pagination: HistoryPagination,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StarredPagination {
    pub has_more: bool,
    /// Pass as `before` for the next page.
    pub next_before: Option<i64>,
}

/// The caller's starred messages, newest star first.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StarredList {
    pub messages: Vec<Message>,
    pub pagination: StarredPagination,
}

/// One hit of `GET /api/search`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SearchResult {
    pub message: Message,
    pub chat_id: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SearchPagination {
    pub has_more: bool,
    pub next_before: Option<String>,
}

/// A page of `GET /api/search`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SearchPage {
    pub results: Vec<SearchResult>,
    pub pagination: SearchPagination,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Receipt {
    pub user_id: i64,
    pub delivered_at: Option<String>,
    pub read_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ReceiptList {
    pub receipts: Vec<Receipt>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SyncEvent {
    pub seq: i64,
    pub event: String,
    pub data: serde_json::Value,
    pub created_at: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SyncPage {
    pub events: Vec<SyncEvent>,
    pub next_since: i64,
    pub has_more: bool,
}

/// A status (story), as the caller sees it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Status {
    pub id: i64,
    pub user: User,
    #[serde(rename = "type")]
    pub status_type: String,
    pub content: Option<String>,
    pub background_color: Option<String>,
    pub media: Option<serde_json::Value>,
    pub created_at: String,
    pub expires_at: String,
    /// Present for the owner only.
    #[serde(default)]
    pub view_count: Option<u64>,
    pub viewed: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct UserStatuses {
    pub user: User,
    pub items: Vec<Status>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StatusFeed {
    pub statuses: Vec<UserStatuses>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StatusViewer {
    pub user: User,
    pub viewed_at: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct StatusViewList {
    pub views: Vec<StatusViewer>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct CallParticipant {
    pub user_id: i64,
    pub status: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Call {
    pub id: i64,
    pub chat_id: i64,
    pub caller: User,
    #[serde(rename = "type")]
    pub call_type: String,
    pub status: String,
    pub started_at: String,
    pub answered_at: Option<String>,
    pub ended_at: Option<String>,
    pub duration_seconds: i64,
    pub participants: Vec<CallParticipant>,
}

impl Call {
    /// A participant's status, if they take part.
    pub fn status_of(&self, user_id: i64) -> Option<&str> {
        self.participants
            .iter()
            .find(|p| p.user_id == user_id)
            .map(|p| p.status.as_str())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct CallList {
    pub calls: Vec<Call>,
    pub pagination: Pagination,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct TurnCredentials {
    pub urls: Vec<String>,
    pub username: String,
    pub credential: String,
    pub ttl: u64,
}

/// A broadcast list (its owner's only).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct BroadcastList {
    pub id: i64,
    pub name: String,
    pub user_ids: Vec<i64>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct BroadcastListEnvelope {
    pub broadcast_list: BroadcastList,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct BroadcastListsEnvelope {
    pub broadcast_lists: Vec<BroadcastList>,
}
