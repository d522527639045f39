//! The sync log: events appended in the transaction that causes them
//! (`log.rs`), and `GET /api/sync` to catch up on them.

pub mod dto;
pub mod log;
pub mod routes;
pub mod service;
mod store;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(routes::sync))
}
