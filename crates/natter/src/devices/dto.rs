//! Devices on the wire.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::clock::Timestamp;
use crate::db::entities::device;
use crate::push::Platform;

/// A push device. `token` is what was registered (for Web Push, the
/// subscription's endpoint).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviceView {
    pub id: i64,
    pub platform: Platform,
    pub token: String,
    /// Whether pushes to this device name the sender (`sender_name`).
    pub push_content: bool,
    pub created_at: Timestamp,
    /// When it was last registered again or reached by a push.
    pub last_used_at: Timestamp,
}

impl DeviceView {
    pub fn of(row: &device::Model) -> DeviceView {
        DeviceView {
            id: row.id,
            platform: Platform::parse(&row.platform).unwrap_or(Platform::Webhook),
            token: row.token.clone(),
            push_content: row.push_content,
            created_at: Timestamp(row.created_at),
            last_used_at: Timestamp(row.last_used_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceList {
    pub devices: Vec<DeviceView>,
}

/// Registers a push token for the caller's login session.
///
/// - `fcm`: the FCM registration token.
/// - `apns`: the APNs device token in hex; a PushKit VoIP token as `voip:<hex>`.
/// - `webpush`: the subscription's `endpoint` as `token` with `p256dh` and
///   `auth`, or the whole `subscription.toJSON()` as `token`.
/// - `webhook`: an `https://` URL to POST to (or any identifier when the
///   server has PUSH_WEBHOOK_URL).
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct RegisterDeviceRequest {
    pub platform: Platform,
    #[validate(length(min = 1, max = 2000))]
    #[schema(min_length = 1, max_length = 2000)]
    pub token: String,
    /// Web Push: the subscription's P-256 public key, base64url.
    #[validate(length(min = 1, max = 100))]
    #[schema(min_length = 1, max_length = 100)]
    pub p256dh: Option<String>,
    /// Web Push: the subscription's auth secret, base64url.
    #[validate(length(min = 1, max = 50))]
    #[schema(min_length = 1, max_length = 50)]
    pub auth: Option<String>,
    /// Name the sender in this device's pushes (default false: pushes carry ids only).
    #[serde(default)]
    pub push_content: bool,
}
