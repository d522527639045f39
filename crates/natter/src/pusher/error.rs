//! The Pusher HTTP API's error answers: a status and `{"error": message}`, as
//! Reverb answers them (Pusher's own server libraries only look at the status).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct PusherError {
    pub status: StatusCode,
    pub message: String,
}

impl PusherError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> PusherError {
        PusherError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> PusherError {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> PusherError {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn too_large(message: impl Into<String>) -> PusherError {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, message)
    }

    /// Something of ours failed (Redis); logged, not shown.
    pub fn internal(err: anyhow::Error) -> PusherError {
        tracing::error!(error = format!("{err:#}"), "Pusher HTTP API failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal error")
    }
}

impl IntoResponse for PusherError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message });
        (self.status, Json(body)).into_response()
    }
}
