//! What every response says to a browser about itself: headers that keep it
//! from being sniffed, framed or followed by a referrer, HSTS when the server
//! is reached over TLS, and which other origins' pages may call the API
//! (CORS, `CORS_ALLOWED_ORIGINS`).

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer};

use super::middleware::REQUEST_ID_HEADER;
use crate::config::Config;

/// HSTS for a year. Without `includeSubDomains`: natter cannot know whether
/// every other host of the domain serves HTTPS.
const HSTS: &str = "max-age=31536000";

/// For responses that set no policy of their own (the API's JSON, media):
/// nothing may load from them as a document, and nothing may frame them. The
/// web client's pages carry their own, fuller policy (web/policy.rs).
const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// The headers every response carries, whatever its content security policy
/// (the web client's pages set their own policy beside these).
pub const BASE: [(HeaderName, &str); 3] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_FRAME_OPTIONS, "DENY"),
];

/// The headers added to every response that does not set them itself.
#[derive(Clone)]
pub struct SecurityHeaders(Arc<[(HeaderName, HeaderValue)]>);

impl SecurityHeaders {
    pub fn from_config(config: &Config) -> SecurityHeaders {
        SecurityHeaders::new(config.public_tls())
    }

    /// `tls`: browsers reach the server over HTTPS, so HSTS is sent.
    pub fn new(tls: bool) -> SecurityHeaders {
        let mut headers = BASE.to_vec();
        headers.push((header::CONTENT_SECURITY_POLICY, DEFAULT_CSP));
        if tls {
            headers.push((header::STRICT_TRANSPORT_SECURITY, HSTS));
        }
        SecurityHeaders(
            headers
                .into_iter()
                .map(|(name, value)| (name, HeaderValue::from_static(value)))
                .collect(),
        )
    }

    /// Adds each security header `response` does not carry yet.
    pub fn add_to(&self, response: &mut Response) {
        let present = response.headers_mut();
        for (name, value) in self.0.iter() {
            if !present.contains_key(name) {
                present.insert(name.clone(), value.clone());
            }
        }
    }
}

/// CORS for `CORS_ALLOWED_ORIGINS`: those origins (or any, for `*`) may call
/// the API from a browser, with any method and request header (the API
/// authenticates with a bearer token, never a cookie, so no credentials mode
/// is needed). With no origins no page of another origin may call it; the
/// preflight is still answered, without the headers that would allow it.
pub fn cors(origins: &[String]) -> CorsLayer {
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        // Mirrored rather than `*`: a wildcard does not cover Authorization.
        .allow_methods(AllowMethods::mirror_request())
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers([
            HeaderName::from_static(REQUEST_ID_HEADER),
            header::RETRY_AFTER,
        ])
        .max_age(Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsts_only_over_tls() {
        let has_hsts = |headers: &SecurityHeaders| {
            headers
                .0
                .iter()
                .any(|(name, _)| name == header::STRICT_TRANSPORT_SECURITY)
        };
        assert!(has_hsts(&SecurityHeaders::new(true)));
        assert!(!has_hsts(&SecurityHeaders::new(false)));
    }
}
