//! Contacts: the people a user has added, blocking, and contact sync.

pub mod dto;
pub mod routes;
pub mod service;
mod store;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::list, routes::add))
        .routes(routes!(routes::sync))
        .routes(routes!(routes::toggle_block))
        .routes(routes!(routes::delete))
}
