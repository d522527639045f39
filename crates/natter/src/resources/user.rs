//! A user on the wire: as others see them (privacy applied), as they see
//! themself, in brief, and their presence as `UserOnline` carries it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::Timestamp;

/// Who may see a profile detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Everyone,
    Contacts,
    Nobody,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Everyone => "everyone",
            Visibility::Contacts => "contacts",
            Visibility::Nobody => "nobody",
        }
    }

    /// Stored values are written by natter only; anything unknown is read as the
    /// most private setting rather than leaking.
    pub fn parse(stored: &str) -> Visibility {
        match stored {
            "everyone" => Visibility::Everyone,
            "contacts" => Visibility::Contacts,
            _ => Visibility::Nobody,
        }
    }
}

/// A user as another user sees them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub name: String,
    pub phone_number: Option<String>,
    pub about: Option<String>,
    pub avatar_url: Option<String>,
    pub is_online: bool,
    pub last_seen_at: Option<Timestamp>,
}

/// The three privacy settings, as User(self) shows them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PrivacySettings {
    pub last_seen: Visibility,
    pub profile_photo: Visibility,
    pub about: Visibility,
}

/// A user as they see themself.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SelfView {
    pub id: i64,
    pub name: String,
    pub phone_number: Option<String>,
    pub about: Option<String>,
    pub avatar_url: Option<String>,
    pub is_online: bool,
    pub last_seen_at: Option<Timestamp>,
    pub country_code: String,
    pub phone_verified_at: Option<Timestamp>,
    pub privacy: PrivacySettings,
    /// WhatsApp's "Keep chats archived": when true, a new message does not
    /// take a chat out of the archive.
    pub keep_chats_archived: bool,
    pub created_at: Timestamp,
}

/// A user in brief, the same for every viewer: the photo only when its owner
/// shows it to everyone. Used where one rendering serves all (message senders).
/// Cached, so it holds the photo's object key; responses sign it when sent.
#[derive(Debug, Clone)]
pub struct UserSummary {
    pub id: i64,
    pub name: String,
    pub avatar_key: Option<String>,
}

/// `App\Events\UserOnline` payload.
#[derive(Debug, Serialize)]
pub struct OnlineStatus {
    pub user_id: i64,
    pub is_online: bool,
    pub last_seen_at: Option<Timestamp>,
}
