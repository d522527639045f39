//! Users: profiles, privacy settings, how one user sees another, summaries.

pub mod dto;
pub mod routes;
pub mod service;
mod store;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::media::MediaState;

pub fn router() -> OpenApiRouter<MediaState> {
    OpenApiRouter::new()
        .routes(routes!(routes::set_avatar))
        .routes(routes!(routes::profile, routes::update_profile))
        .routes(routes!(routes::update_privacy))
        .routes(routes!(routes::show))
}
