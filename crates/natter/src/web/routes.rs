//! Serving the page and its files, and the development route for sign-in codes.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::WebClient;
use super::assets::{Asset, Assets};
use super::dto::{DevCode, DevCodeQuery};
use crate::clock;
use crate::config::SmsDriverKind;
use crate::error::{ApiError, ApiResult};
use crate::http::middleware;
use crate::http::query::ValidQuery;
use crate::phone;
use crate::sms::outbox;
use crate::state::AppState;

/// Paths the page never answers, whatever comes after them: the API, the
/// socket, channel authorisation, media and operations keep their JSON 404.
const RESERVED: &[&str] = &[
    "/api",
    "/app",
    "/apps",
    "/broadcasting",
    "/media",
    "/health",
    "/ready",
    "/metrics",
];

pub fn is_reserved(path: &str) -> bool {
    RESERVED.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// How long a browser may keep a response without asking again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// `no-cache`: keep it, but revalidate with the ETag every time.
    Revalidate,
    /// A year: the URL carries the version of every file.
    Immutable,
}

/// Which file answers `path`, if any: a versioned asset, a file at the root
/// of `web/`, or the page itself for any other path that does not look like a
/// file (the page routes those itself).
pub fn resolve<'a>(assets: &'a Assets, path: &str) -> Option<(&'a Asset, Caching)> {
    let path = path.trim_start_matches('/');
    if let Some(rest) = path.strip_prefix("assets/") {
        let (version, name) = rest.split_once('/')?;
        // An old page asking for an old version gets today's file, never
        // cached for long under the old name.
        let caching = if version == assets.version {
            Caching::Immutable
        } else {
            Caching::Revalidate
        };
        return assets.get(name).map(|asset| (asset, caching));
    }
    if path.is_empty() {
        return Some((assets.index(), Caching::Revalidate));
    }
    if let Some(asset) = assets.get(path) {
        return Some((asset, Caching::Revalidate));
    }
    let last = path.rsplit('/').next().unwrap_or_default();
    if last.contains('.') {
        return None;
    }
    Some((assets.index(), Caching::Revalidate))
}

/// The fallback of the whole router: the page and its files for GET and HEAD
/// outside the reserved prefixes, the JSON 404 for everything else.
pub async fn serve(State(web): State<Arc<WebClient>>, request: Request) -> Response {
    let path = request.uri().path();
    let readable = matches!(*request.method(), Method::GET | Method::HEAD);
    if !readable || is_reserved(path) {
        return middleware::not_found().await.into_response();
    }
    match resolve(&web.assets, path) {
        Some((asset, caching)) => respond(&web, asset, caching, request.headers()),
        None => middleware::not_found().await.into_response(),
    }
}

fn respond(web: &WebClient, asset: &Asset, caching: Caching, request: &HeaderMap) -> Response {
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| etag_matches(tags, &asset.etag));
    let (status, body) = if fresh {
        (StatusCode::NOT_MODIFIED, Body::empty())
    } else {
        (StatusCode::OK, Body::from(asset.bytes.clone()))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.extend(web.headers.clone());
    let cache_control = match caching {
        Caching::Revalidate => "no-cache",
        Caching::Immutable => "public, max-age=31536000, immutable",
    };
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    if let Ok(etag) = HeaderValue::from_str(&asset.etag) {
        headers.insert(header::ETAG, etag);
    }
    if !fresh {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
    }
    response
}

/// `If-None-Match` as RFC 9110 says: `*`, or a list of tags compared weakly.
pub fn etag_matches(header_value: &str, etag: &str) -> bool {
    let bare = |tag: &str| tag.trim().trim_start_matches("W/").to_string();
    header_value
        .split(',')
        .any(|tag| tag.trim() == "*" || bare(tag) == bare(etag))
}

/// The newest sign-in code sent to a number, when `WEB_DEV_SHOW_CODES=true`
/// (which natter accepts only with `SMS_DRIVER=outbox`); 404 otherwise. Lets
/// the web client show the code on a developer's machine.
#[utoipa::path(get, path = "/api/dev/sms-code", tag = "web", params(DevCodeQuery),
    responses((status = 200, body = DevCode),
        (status = 404, description = "WEB_DEV_SHOW_CODES is off, or no code was sent to that number within OTP_TTL")))]
pub async fn dev_sms_code(
    State(state): State<AppState>,
    ValidQuery(query): ValidQuery<DevCodeQuery>,
) -> ApiResult<Json<DevCode>> {
    let config = &state.config;
    let settings = &config.settings;
    if !settings.web_dev_show_codes || settings.sms_driver != SmsDriverKind::Outbox {
        return Err(ApiError::not_found("Route"));
    }
    let number = phone::to_e164(&query.phone_number, query.country_code.as_deref())
        .map_err(phone::field_error)?;
    let line = outbox::latest_for(&config.sms_outbox_path, &number)
        .await
        .map_err(ApiError::Internal)?
        .ok_or_else(|| ApiError::not_found("Code"))?;
    let sent_ms = clock::parse_rfc3339(&line.sent_at).unwrap_or(0);
    let ttl_ms = i64::try_from(settings.otp_ttl.saturating_mul(1000)).unwrap_or(i64::MAX);
    if clock::now_ms().saturating_sub(sent_ms) > ttl_ms {
        return Err(ApiError::not_found("Code"));
    }
    Ok(Json(DevCode {
        phone_number: number,
        code: line.code,
        sent_at: line.sent_at,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_prefixes_are_whole_segments() {
        for path in [
            "/api",
            "/api/nope",
            "/app/key",
            "/apps/1/events",
            "/broadcasting/auth",
            "/media/x.jpg",
            "/health",
            "/ready",
            "/metrics",
            "/metrics/",
        ] {
            assert!(is_reserved(path), "{path}");
        }
        for path in [
            "/",
            "/chats/5",
            "/application",
            "/healthy",
            "/apix",
            "/index.html",
        ] {
            assert!(!is_reserved(path), "{path}");
        }
    }

    #[test]
    fn etags_compare_weakly_and_in_lists() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("W/\"abc\"", "\"abc\""));
        assert!(etag_matches("\"x\", \"abc\"", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
    }
}
