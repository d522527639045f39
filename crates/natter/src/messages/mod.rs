//! Messages: sending through the group-commit writer, history, edits, deletes,
//! reactions, forwarding, receipts (read and delivered watermarks, who got
//! and read what), typing, disappearing messages' expiry and view-once files,
//! starred messages (each user's own) and pinned messages (a chat's).

pub mod dto;
pub mod expire;
mod gate;
pub mod pins;
pub mod probe;
pub mod receipts;
pub mod render;
pub mod routes;
pub mod service;
pub mod stars;
mod store;
pub mod writer;

use axum::extract::FromRef;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::media::Media;
use crate::state::AppState;
use writer::Writer;

/// The state of the routes that write through the group-commit writer (and
/// of sync, which marks deliveries through it): the base services and the
/// writer. Handlers that need only the base take `State<AppState>` from it.
#[derive(Clone)]
pub struct MessagesState {
    pub app: AppState,
    pub writer: Writer,
    /// Upload processing, for media messages.
    pub media: Media,
}

impl FromRef<MessagesState> for AppState {
    fn from_ref(state: &MessagesState) -> AppState {
        state.app.clone()
    }
}

impl FromRef<MessagesState> for Media {
    fn from_ref(state: &MessagesState) -> Media {
        state.media.clone()
    }
}

pub fn router() -> OpenApiRouter<MessagesState> {
    OpenApiRouter::new()
        .routes(routes!(routes::history, routes::send))
        .routes(routes!(routes::edit, routes::delete))
        .routes(routes!(routes::react, routes::unreact))
        .routes(routes!(routes::forward))
        .routes(routes!(routes::receipts))
        .routes(routes!(routes::view_once))
        .routes(routes!(routes::read))
        .routes(routes!(routes::delivered))
        .routes(routes!(routes::typing))
        .routes(routes!(routes::star, routes::unstar))
        .routes(routes!(routes::starred))
        .routes(routes!(routes::pin_message, routes::unpin_message))
}
