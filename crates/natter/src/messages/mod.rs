//! Messages: sending through the group-commit writer, history, edits, deletes,
//! reactions, forwarding, receipts (read and delivered watermarks, who got
//! and read what) and typing.

pub mod dto;
pub mod receipts;
pub mod render;
pub mod routes;
pub mod service;
mod store;
pub mod writer;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::history, routes::send))
        .routes(routes!(routes::edit, routes::delete))
        .routes(routes!(routes::react, routes::unreact))
        .routes(routes!(routes::forward))
        .routes(routes!(routes::receipts))
        .routes(routes!(routes::read))
        .routes(routes!(routes::delivered))
        .routes(routes!(routes::typing))
}
