//! Chats: private-chat creation, listing, membership checks, receipts
//! watermarks, muting.

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
        .routes(routes!(routes::private))
        .routes(routes!(routes::show))
        .routes(routes!(routes::read))
        .routes(routes!(routes::delivered))
        .routes(routes!(routes::mute))
}
