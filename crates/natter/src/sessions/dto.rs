//! Tokens on the wire.

use serde::Serialize;
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
