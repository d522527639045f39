//! Health, readiness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::secrets::constant_time_eq;
use crate::state::AppState;
use crate::telemetry;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// "ready" or "not ready".
    pub status: &'static str,
    /// "ok" or "unreachable".
    pub database: &'static str,
    /// "ok", "unreachable" or "not configured".
    pub redis: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, body = Health)))]
pub async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The database (and Redis, when configured) answer.
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let database_ok = state.db.ping().await;
    let redis = match &state.redis {
        None => "not configured",
        Some(conn) => {
            let mut conn = conn.clone();
            let pong: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
            if pong.is_ok() { "ok" } else { "unreachable" }
        }
    };
    let ready = database_ok && redis != "unreachable";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        status: if ready { "ready" } else { "not ready" },
        database: if database_ok { "ok" } else { "unreachable" },
        redis,
    };
    (status, Json(body))
}

/// Prometheus text format. With `METRICS_TOKEN` set it asks for
/// `Authorization: Bearer <token>`; with `METRICS_ADDR` set it is served
/// there and this address answers 404.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, content_type = "text/plain", body = String),
        (status = 401, description = "METRICS_TOKEN is set and the request does not carry it"),
        (status = 404, description = "METRICS_ADDR is set: metrics are served there instead"),
    ))]
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if state.config.settings.metrics_addr.is_some() {
        return ApiError::NotFound("Route not found".into()).into_response();
    }
    render_metrics(&state, &headers)
}

/// `/metrics` on METRICS_ADDR, the listener of its own.
pub async fn metrics_listener(State(state): State<AppState>, headers: HeaderMap) -> Response {
    render_metrics(&state, &headers)
}

/// The text, after checking the token (in constant time) and reading the
/// figures that are only states (process, pools).
fn render_metrics(state: &AppState, headers: &HeaderMap) -> Response {
    if let Some(token) = &state.config.settings.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !constant_time_eq(given, token) {
            let mut response = ApiError::Unauthenticated.into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"metrics\""),
            );
            return response;
        }
    }
    telemetry::refresh(&state.db);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
