//! Broadcast lists (WhatsApp's): a user's named lists of up to 256 people,
//! and sending one message to a list, which becomes a normal private message
//! in each recipient's chat with the owner (docs/broadcasts.md).

pub mod dto;
pub mod routes;
pub mod service;
mod store;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::messages::MessagesState;

pub fn router() -> OpenApiRouter<MessagesState> {
    OpenApiRouter::new()
        .routes(routes!(routes::list, routes::create))
        .routes(routes!(routes::show, routes::update, routes::delete))
        .routes(routes!(routes::send))
}
