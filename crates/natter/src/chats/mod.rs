//! Chats as members see them: the list, one chat, private-chat creation, a
//! member's own settings (mute, pin, archive), the disappearing-messages timer.

pub mod dto;
pub mod prefs;
pub mod routes;
pub mod service;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::list))
        .routes(routes!(routes::private))
        .routes(routes!(routes::show))
        .routes(routes!(routes::mute))
        .routes(routes!(routes::pin))
        .routes(routes!(routes::archive))
        .routes(routes!(routes::disappearing))
}
