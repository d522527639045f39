//! Linked devices (issue 19): the caller's logins (`GET /api/sessions`,
//! `DELETE /api/sessions/{id}`, which signs one out as logout does) and
//! linking a new device by a short-lived code from a signed-in one
//! (`POST /api/sessions/link-codes`, `POST /api/auth/link`). Sessions and
//! their tokens are sessions/'s; this is what a user sees of them. See
//! docs/sessions.md.

pub mod dto;
pub mod routes;
pub mod service;
mod store;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::list))
        .routes(routes!(routes::delete))
        .routes(routes!(routes::create_link_code))
        .routes(routes!(routes::link))
}
