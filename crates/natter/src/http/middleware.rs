//! What wraps every request: a request id, a log line, metrics, JSON for
//! unknown routes and panics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::request_id::{MakeRequestId, RequestId};
use tracing::Instrument;

use super::security::SecurityHeaders;
use super::socket_origin;
use crate::error::ApiError;
use crate::secrets::random_token;
use crate::telemetry::{HTTP_DURATION, HTTP_REQUESTS};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// Request ids: a random per-process prefix and a counter, short and unique.
#[derive(Clone)]
pub struct NatterRequestId {
    prefix: std::sync::Arc<str>,
}

impl NatterRequestId {
    pub fn new() -> NatterRequestId {
        NatterRequestId {
            prefix: random_token(8).into(),
        }
    }
}

impl Default for NatterRequestId {
    fn default() -> Self {
        Self::new()
    }
}

static NEXT_REQUEST: AtomicU64 = AtomicU64::new(1);

impl MakeRequestId for NatterRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let n = NEXT_REQUEST.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n}", self.prefix))
            .ok()
            .map(RequestId::new)
    }
}

/// The outer middleware (one layer for what were two, issue 20: each layer
/// costs every request a boxed service and future): logs one line per
/// request and records its metrics, and adds the security headers the
/// response lacks. The route template, not the raw path, is what gets logged
/// and labelled: paths can hold invite codes. Metric handles are looked up
/// once per (route, method, status) and kept, so a request costs no label
/// formatting or registry lookup.
pub async fn observe(headers: SecurityHeaders, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let route_name = route
        .as_ref()
        .map(MatchedPath::as_str)
        .unwrap_or("unmatched");
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    // With INFO off this span is disabled and costs next to nothing; errors
    // logged inside it still carry the request id when it is on.
    let span = tracing::info_span!("request", %method, route = route_name, request_id);
    let mut response = next.run(request).instrument(span.clone()).await;
    headers.add_to(&mut response);
    let status = response.status().as_u16();
    span.in_scope(|| {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if status >= 500 {
            tracing::error!(status, ms, "request finished");
        } else {
            tracing::info!(status, ms, "request finished");
        }
    });
    let handles = RouteMetrics::get(route_name, &method, status);
    handles.requests.increment(1);
    handles.duration.record(started.elapsed().as_secs_f64());
    response
}

/// Route -> the handles made for it, per (method, status).
type MetricHandles = dashmap::DashMap<String, Vec<(axum::http::Method, u16, RouteMetrics)>>;

/// Cached metric handles for one (route, method, status).
#[derive(Clone)]
struct RouteMetrics {
    requests: metrics::Counter,
    duration: metrics::Histogram,
}

impl RouteMetrics {
    fn get(route: &str, method: &axum::http::Method, status: u16) -> RouteMetrics {
        static CACHE: std::sync::OnceLock<MetricHandles> = std::sync::OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        if let Some(list) = cache.get(route)
            && let Some((_, _, found)) = list.iter().find(|(m, s, _)| m == method && *s == status)
        {
            return found.clone();
        }
        let labels = [
            ("route", route.to_string()),
            ("method", method.to_string()),
            ("status", status.to_string()),
        ];
        let made = RouteMetrics {
            requests: metrics::counter!(HTTP_REQUESTS, &labels),
            duration: metrics::histogram!(HTTP_DURATION, &labels[..2]),
        };
        cache
            .entry(route.to_string())
            .or_default()
            .push((method.clone(), status, made.clone()));
        made
    }
}

/// The inner middleware, next to the handler: refuses with 431 a request
/// whose headers together exceed `limit` bytes (`MAX_HEADER_BYTES`) before
/// any handler parses them (hyper alone would buffer and accept about 400 KiB
/// of headers per request), then runs the request as speaking for its
/// `X-Socket-ID` (socket_origin.rs).
pub async fn admit(limit: usize, request: Request, next: Next) -> Response {
    // Name, value, ": " and CRLF, as they were on the wire.
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if size > limit {
        return (
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            axum::Json(serde_json::json!({
                "success": false,
                "message": format!("Request headers are larger than {limit} bytes."),
            })),
        )
            .into_response();
    }
    socket_origin::scope(request, next).await
}

/// Unknown routes: 404 JSON, not an empty body.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("Route not found".into())
}

/// A route that exists but not with this method.
pub async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(serde_json::json!({ "success": false, "message": "Method not allowed" })),
    )
        .into_response()
}

/// A panic in a handler becomes the generic 500 body; the panic is logged.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    let detail = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".to_string());
    tracing::error!(panic = %detail, "handler panicked");
    ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
}
