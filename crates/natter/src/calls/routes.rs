//! HTTP handlers for calls.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::dto::{CallList, InitiateCallRequest, SignalAccepted, SignalRequest, TurnCredentials};
use super::service::{self, Action};
use crate::error::ApiResult;
use crate::http::auth::AuthUser;
use crate::http::json::ValidJson;
use crate::http::pagination::PageQuery;
use crate::http::path::ValidPath;
use crate::http::query::ValidQuery;
use crate::resources::call::CallView;
use crate::state::AppState;

/// The calls the caller made or received, newest first.
#[utoipa::path(get, path = "/api/calls", tag = "calls", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = CallList)))]
pub async fn history(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidQuery(page): ValidQuery<PageQuery>,
) -> ApiResult<Json<CallList>> {
    Ok(Json(service::history(&state, auth.user_id, page).await?))
}

/// Starts a call in a chat (`chat_id`) or with one person (`callee_id`); the
/// callees hear `CallInitiated`. Unanswered after CALL_RING_TIMEOUT, it is `missed`.
#[utoipa::path(post, path = "/api/calls", tag = "calls", security(("bearer" = [])),
    request_body = InitiateCallRequest,
    responses((status = 201, body = CallView), (status = 403, description = "Blocked"),
        (status = 404, description = "No such chat or user for the caller"),
        (status = 409, description = "The caller is already in a call (joined to one, ringing or ongoing)"),
        (status = 422, description = "Validation failed"),
        (status = 429, description = "CALLS_PER_MINUTE calls started in the last minute")))]
pub async fn initiate(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidJson(request): ValidJson<InitiateCallRequest>,
) -> ApiResult<(StatusCode, Json<CallView>)> {
    let call = service::initiate(&state, auth.user_id, request).await?;
    Ok((StatusCode::CREATED, Json(call)))
}

/// Answers a ringing call (callees only).
#[utoipa::path(put, path = "/api/calls/{call}/answer", tag = "calls", security(("bearer" = [])),
    params(("call" = i64, Path, description = "Call id")),
    responses((status = 200, body = CallView), (status = 403, description = "The caller cannot answer"),
        (status = 404, description = "Not a participant"), (status = 409, description = "The call or the caller's part in it does not allow it, or they are already in another call")))]
pub async fn answer(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(call): ValidPath<i64>,
) -> ApiResult<Json<CallView>> {
    Ok(Json(
        service::act(&state, auth.user_id, call, Action::Answer).await?,
    ))
}

/// Declines a ringing call (callees only).
#[utoipa::path(put, path = "/api/calls/{call}/decline", tag = "calls", security(("bearer" = [])),
    params(("call" = i64, Path, description = "Call id")),
    responses((status = 200, body = CallView), (status = 403, description = "The caller cannot decline"),
        (status = 404, description = "Not a participant"), (status = 409, description = "The call or the caller's part in it does not allow it")))]
pub async fn decline(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(call): ValidPath<i64>,
) -> ApiResult<Json<CallView>> {
    Ok(Json(
        service::act(&state, auth.user_id, call, Action::Decline).await?,
    ))
}

/// Ends a ringing or ongoing call (a private call for both; in a group call the
/// caller leaves, and the call ends when fewer than two remain).
#[utoipa::path(put, path = "/api/calls/{call}/end", tag = "calls", security(("bearer" = [])),
    params(("call" = i64, Path, description = "Call id")),
    responses((status = 200, body = CallView), (status = 404, description = "Not a participant"),
        (status = 409, description = "Already ended, declined or missed")))]
pub async fn end(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(call): ValidPath<i64>,
) -> ApiResult<Json<CallView>> {
    Ok(Json(
        service::act(&state, auth.user_id, call, Action::End).await?,
    ))
}

/// Relays WebRTC signalling to another participant of a live call, as
/// `CallSignal` on their user channel.
#[utoipa::path(post, path = "/api/calls/{call}/signal", tag = "calls", security(("bearer" = [])),
    params(("call" = i64, Path, description = "Call id")), request_body = SignalRequest,
    responses((status = 202, body = SignalAccepted), (status = 404, description = "Not a participant"),
        (status = 409, description = "The call is not live for the sender or the target"),
        (status = 422, description = "Validation failed, payload too large or target not in the call"),
        (status = 429, description = "CALL_SIGNALS_PER_10_SECONDS signals relayed in the last 10 seconds")))]
pub async fn signal(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(call): ValidPath<i64>,
    ValidJson(request): ValidJson<SignalRequest>,
) -> ApiResult<(StatusCode, Json<SignalAccepted>)> {
    service::signal(&state, auth.user_id, call, request).await?;
    Ok((StatusCode::ACCEPTED, Json(SignalAccepted { success: true })))
}

/// Time-limited TURN credentials (coturn's REST scheme).
#[utoipa::path(get, path = "/api/calls/turn-credentials", tag = "calls", security(("bearer" = [])),
    responses((status = 200, body = TurnCredentials), (status = 503, description = "TURN_SECRET is not set")))]
pub async fn turn_credentials(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<TurnCredentials>> {
    Ok(Json(service::turn_credentials(&state, auth.user_id)?))
}
