//! Push devices and the pushes sent to them: `POST/GET /api/devices`,
//! `DELETE /api/devices/{id}` (routes, service, store, dto), and pushes as
//! jobs (`push.rs`): enqueued with the message (or call) that needs them, sent
//! per device through the drivers of `push/` (docs/push.md).

pub mod dto;
pub mod push;
pub mod routes;
pub mod service;
mod store;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub use push::{
    CALL_KIND, MESSAGE_KIND, OnlineHint, PushHandler, PushPayload, QueuedPushes, SentMessage,
    enqueue_message_pushes, enqueue_push,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::list, routes::register))
        .routes(routes!(routes::delete))
}
