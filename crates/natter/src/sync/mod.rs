//! `GET /api/sync`: catching up on the sync log (synclog/) after being away;
//! and the periodic job that keeps the log to SYNC_RETENTION (`retention.rs`).

pub mod dto;
pub mod retention;
pub mod routes;
pub mod service;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::messages::MessagesState;

pub fn router() -> OpenApiRouter<MessagesState> {
    OpenApiRouter::new().routes(routes!(routes::sync))
}
