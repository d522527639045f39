//! Tokens and login sessions on the wire.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::Timestamp;

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPair {
    /// `<id>|<secret>`; send as `Authorization: Bearer <access_token>`.
    pub access_token: String,
    /// Single-use; exchange at /api/auth/refresh for a new pair.
    pub refresh_token: String,
    /// When the access token expires.
    pub expires_at: Timestamp,
}

/// The kind of device a login session is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SessionPlatform {
    Ios,
    Android,
    Web,
    Desktop,
    Other,
}

impl SessionPlatform {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionPlatform::Ios => "ios",
            SessionPlatform::Android => "android",
            SessionPlatform::Web => "web",
            SessionPlatform::Desktop => "desktop",
            SessionPlatform::Other => "other",
        }
    }

    /// The stored form back; anything unknown (or a row from before linked
    /// devices) is `other`.
    pub fn parse(stored: Option<&str>) -> SessionPlatform {
        match stored {
            Some("ios") => SessionPlatform::Ios,
            Some("android") => SessionPlatform::Android,
            Some("web") => SessionPlatform::Web,
            Some("desktop") => SessionPlatform::Desktop,
            _ => SessionPlatform::Other,
        }
    }
}
