//! Sign-in by phone number and SMS code, refresh and logout (through
//! sessions/), account deletion; pruning spent codes (`prune.rs`).

pub mod dto;
pub mod prune;
pub mod routes;
pub mod service;
mod store;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::send_otp))
        .routes(routes!(routes::verify_otp))
        .routes(routes!(routes::refresh))
        .routes(routes!(routes::logout))
        .routes(routes!(routes::delete_account))
}
