//! The OpenAPI document: assembled from every feature's annotated handlers, plus
//! the bearer security scheme. Served at /api/openapi.json.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi};

pub fn finish(mut api: OpenApi) -> OpenApi {
    api.info = InfoBuilder::new()
        .title("natter")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "The natter HTTP API: the routes of the Laravel WhatsApp-clone guide, settled by API.md. \
             Real-time events use the Pusher protocol at /app/{key}.",
        ))
        .build();
    let components = api.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    api
}
