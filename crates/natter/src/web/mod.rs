//! The web client: the static files of the repository's `web/` folder,
//! embedded at build time (see `build.rs`) and served at `/` with their
//! content types, ETags, caching headers and a strict Content-Security-Policy.
//! `WEB_CLIENT=false` turns it off (every unknown path is then the JSON 404).
//! The page itself is a plain client of the API; see docs/web.md.

mod assets;
mod dto;
pub mod policy;
pub mod routes;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::{Config, MediaDiskKind, SmsDriverKind};
use crate::http::{middleware, security};
use crate::state::AppState;

pub use assets::{Assets, PageConfig};

/// What the fallback needs to serve the page: built once at start.
pub struct WebClient {
    pub assets: Assets,
    /// Headers every response of the page carries (CSP and friends).
    pub headers: HeaderMap,
}

impl WebClient {
    pub fn new(config: &Config) -> WebClient {
        let settings = &config.settings;
        let page = PageConfig {
            json: serde_json::json!({
                "app_key": settings.reverb_app_key,
                "sms_driver": sms_driver_name(settings.sms_driver),
                "dev_codes": dev_codes_on(config),
            })
            .to_string(),
        };
        let origins = policy::Origins {
            app_url: settings.app_url.clone(),
            media: media_origins(config),
        };
        WebClient {
            assets: Assets::load(&page),
            headers: security_headers(&policy::content_security_policy(&origins)),
        }
    }
}

/// True when the page may show sign-in codes (`WEB_DEV_SHOW_CODES` with the outbox).
pub fn dev_codes_on(config: &Config) -> bool {
    config.settings.web_dev_show_codes && config.settings.sms_driver == SmsDriverKind::Outbox
}

fn sms_driver_name(driver: SmsDriverKind) -> &'static str {
    match driver {
        SmsDriverKind::Log => "log",
        SmsDriverKind::Outbox => "outbox",
        SmsDriverKind::Twilio => "twilio",
    }
}

fn security_headers(csp: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let pairs = security::BASE.into_iter().chain([
        (header::CONTENT_SECURITY_POLICY, csp),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ]);
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name, value);
        }
    }
    headers
}

/// The router's fallback: the page when `WEB_CLIENT` is on, else the JSON 404.
pub fn fallback(config: &Config) -> Router {
    if !config.settings.web_client {
        return Router::new().fallback(middleware::not_found);
    }
    Router::new()
        .fallback(routes::serve)
        .with_state(Arc::new(WebClient::new(config)))
}

/// The documented route the page uses (the development sign-in codes).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(routes::dev_sms_code))
}

/// Where the page loads media from besides this server: the bucket's origin
/// on the `s3` disk (its presigned URLs point there); nothing on `local`.
fn media_origins(config: &Config) -> Vec<String> {
    let media = &config.settings.media;
    match (media.media_disk, media.aws_bucket.as_deref()) {
        (MediaDiskKind::S3, Some(bucket)) => vec![policy::s3_origin(
            media.aws_endpoint.as_deref(),
            bucket,
            &media.aws_default_region,
            media.aws_use_path_style_endpoint,
        )],
        _ => Vec::new(),
    }
}
