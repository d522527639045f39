//! Calls on the wire: what the routes take and the list shapes.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::http::pagination::Pagination;
use crate::resources::call::{CallType, CallView, SignalType};

/// A new call: in a chat (`chat_id`, private or group), or to one person
/// (`callee_id`, through the private chat with them, created if needed).
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct InitiateCallRequest {
    #[validate(range(min = 1))]
    #[schema(minimum = 1)]
    pub chat_id: Option<i64>,
    #[validate(range(min = 1))]
    #[schema(minimum = 1)]
    pub callee_id: Option<i64>,
    #[serde(rename = "type")]
    pub call_type: CallType,
}

/// WebRTC signalling for another participant of a live call.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct SignalRequest {
    #[validate(range(min = 1))]
    #[schema(minimum = 1)]
    pub to_user_id: i64,
    #[serde(rename = "type")]
    pub signal_type: SignalType,
    /// The SDP description or ICE candidate, as the WebRTC API gives it; at
    /// most CALL_SIGNAL_MAX_BYTES of JSON.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CallList {
    /// Newest first.
    pub calls: Vec<CallView>,
    pub pagination: Pagination,
}

/// `{"call": Call}`-less answers are the Call itself (API.md).
#[derive(Debug, Serialize, ToSchema)]
pub struct SignalAccepted {
    pub success: bool,
}

/// Time-limited TURN credentials in coturn's REST scheme.
#[derive(Debug, Serialize, ToSchema)]
pub struct TurnCredentials {
    pub urls: Vec<String>,
    /// `<unix expiry>:<user id>`.
    pub username: String,
    /// base64(HMAC-SHA1(TURN_SECRET, username)).
    pub credential: String,
    /// Seconds the credentials stay valid.
    pub ttl: u64,
}
