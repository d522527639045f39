//! HTTP handlers for linked devices.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use super::dto::{LinkCodeView, LinkRequest, SessionList};
use super::service;
use crate::auth::dto::VerifyOtpResponse;
use crate::error::ApiResult;
use crate::http::auth::AuthUser;
use crate::http::client_ip::ClientIp;
use crate::http::json::ValidJson;
use crate::http::path::ValidPath;
use crate::http::reply::Success;
use crate::sessions::device::{DeviceHints, DeviceInfo};
use crate::state::AppState;

/// The caller's logins (devices signed in as them), most recently active
/// first; `current` marks the one calling.
#[utoipa::path(get, path = "/api/sessions", tag = "sessions", security(("bearer" = [])),
    responses((status = 200, body = SessionList)))]
pub async fn list(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<SessionList>> {
    Ok(Json(
        service::list(&state, auth.user_id, auth.session_id).await?,
    ))
}

/// Signs one of the caller's logins out, as logout does for it: its tokens
/// stop working, its push devices are removed and its sockets closed on every
/// node. Signing out the calling login is logout.
#[utoipa::path(delete, path = "/api/sessions/{session}", tag = "sessions", security(("bearer" = [])),
    params(("session" = i64, Path, description = "Login session id")),
    responses((status = 200, body = Success), (status = 404, description = "Not a live login of the caller's")))]
pub async fn delete(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(session): ValidPath<i64>,
) -> ApiResult<Json<Success>> {
    service::sign_out(&state, auth.user_id, auth.session_id, session).await?;
    Ok(Json(Success { success: true }))
}

/// A code (and its QR payload) with which a new device signs in as the
/// caller through `POST /api/auth/link`: valid once, for LINK_CODE_TTL seconds.
#[utoipa::path(post, path = "/api/sessions/link-codes", tag = "sessions", security(("bearer" = [])),
    responses((status = 201, body = LinkCodeView),
        (status = 429, description = "Five codes are live already; see Retry-After")))]
pub async fn create_link_code(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<(StatusCode, Json<LinkCodeView>)> {
    let code = service::create_code(&state, auth.user_id, auth.session_id).await?;
    Ok((StatusCode::CREATED, Json(code)))
}

/// Signs this device in with a link code from a signed-in device of the
/// user's: a new login session with its own token pair, no SMS.
#[utoipa::path(post, path = "/api/auth/link", tag = "auth", request_body = LinkRequest,
    responses((status = 200, body = VerifyOtpResponse),
        (status = 422, description = "The code is invalid or has expired (unknown, used, expired or its device signed out)"),
        (status = 403, description = "This account has been banned."),
        (status = 429, description = "Too many attempts from this address; see Retry-After")))]
pub async fn link(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ValidJson(request): ValidJson<LinkRequest>,
) -> ApiResult<Json<VerifyOtpResponse>> {
    let hints = DeviceHints::of(&headers, request.device_name.as_deref(), request.platform);
    let device = DeviceInfo::new(hints, ip);
    Ok(Json(
        service::redeem(&state, &request.code, ip, &device).await?,
    ))
}
