//! Calls: private and group calls in chats, their state machine (answer,
//! decline, end, ring timeout, busy), WebRTC signalling relayed between
//! participants, history, and TURN credentials (docs/calls.md).

pub mod dto;
pub mod offline;
pub mod ring;
pub mod routes;
pub mod service;
mod store;
pub mod turn;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::history, routes::initiate))
        .routes(routes!(routes::turn_credentials))
        .routes(routes!(routes::answer))
        .routes(routes!(routes::decline))
        .routes(routes!(routes::end))
        .routes(routes!(routes::signal))
}
