//! Linked devices on the wire.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::clock::Timestamp;
use crate::db::entities::login_session;
use crate::sessions::device::UNKNOWN_DEVICE;
use crate::sessions::dto::SessionPlatform;

/// One login of the caller's: a device signed in as them.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    pub id: i64,
    /// What the device called itself, or a name made from its User-Agent
    /// ("Chrome on Linux"), else "Unknown device".
    pub device_name: String,
    pub platform: SessionPlatform,
    /// When it signed in.
    pub created_at: Timestamp,
    /// When it last made an authenticated request or socket subscription
    /// (kept to the minute).
    pub last_active_at: Timestamp,
    /// Where it signed in from, coarsely: the IPv4 /16 (`203.0.x.x`) or the
    /// IPv6 /32 (`2001:db8::/32`), never the whole address; null for a login
    /// older than this field.
    pub ip_region: Option<String>,
    /// True for the session making this request.
    pub current: bool,
}

impl SessionView {
    pub fn of(row: &login_session::Model, current_session: i64) -> SessionView {
        SessionView {
            id: row.id,
            device_name: row
                .device_name
                .clone()
                .unwrap_or_else(|| UNKNOWN_DEVICE.to_string()),
            platform: SessionPlatform::parse(row.platform.as_deref()),
            created_at: Timestamp(row.created_at),
            last_active_at: Timestamp(row.last_active_at.unwrap_or(row.created_at)),
            ip_region: row.ip_region.clone(),
            current: row.id == current_session,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// Most recently active first.
    pub sessions: Vec<SessionView>,
}

/// A code a signed-in device shows (as text or a QR code) for a new device to
/// sign in with, once, before `expires_at`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkCodeView {
    pub code: String,
    /// `natter://link?code=<code>`, to draw as a QR code.
    pub qr_payload: String,
    pub expires_at: Timestamp,
}

/// Signs a new device in with a link code from a signed-in one.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct LinkRequest {
    /// The code from `POST /api/sessions/link-codes`.
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub code: String,
    /// This device's name in the user's list of linked devices; without it
    /// one is made from the User-Agent ("Chrome on Linux"), else "Unknown device".
    #[validate(length(min = 1, max = 64))]
    #[schema(min_length = 1, max_length = 64)]
    pub device_name: Option<String>,
    /// This device's kind; without it `web` for a browser, else `other`.
    pub platform: Option<SessionPlatform>,
}
