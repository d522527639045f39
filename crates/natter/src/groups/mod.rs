//! Groups: chats of type `group` with admins, members and invite links.

pub mod dto;
pub mod routes;
pub mod service;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::media::MediaState;

pub fn router() -> OpenApiRouter<MediaState> {
    OpenApiRouter::new()
        .routes(routes!(routes::set_avatar))
        .routes(routes!(routes::create))
        .routes(routes!(routes::show, routes::update))
        .routes(routes!(routes::add_members))
        .routes(routes!(routes::remove_member))
        .routes(routes!(routes::set_role))
        .routes(routes!(routes::leave))
        .routes(routes!(routes::invite_link))
        .routes(routes!(routes::join))
}
