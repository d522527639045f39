//! Statuses (stories): text with a background colour, or an image or video
//! through the media pipeline, seen by the owner's mutual contacts for
//! STATUS_TTL, with views; expired ones removed by a periodic job
//! (docs/status.md).

pub mod dto;
pub mod expire;
pub mod routes;
pub mod service;
mod store;

use axum::extract::FromRef;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::media::Media;
use crate::state::AppState;

/// The state of the status routes: the base services and the media pipeline
/// (uploads, collection).
#[derive(Clone)]
pub struct StatusesState {
    pub app: AppState,
    pub media: Media,
}

impl FromRef<StatusesState> for AppState {
    fn from_ref(state: &StatusesState) -> AppState {
        state.app.clone()
    }
}

impl FromRef<StatusesState> for Media {
    fn from_ref(state: &StatusesState) -> Media {
        state.media.clone()
    }
}

pub fn router() -> OpenApiRouter<StatusesState> {
    OpenApiRouter::new()
        .routes(routes!(routes::feed, routes::post))
        .routes(routes!(routes::view))
        .routes(routes!(routes::views))
        .routes(routes!(routes::delete))
}
