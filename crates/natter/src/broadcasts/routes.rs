//! HTTP handlers for broadcast lists.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::dto::{
    BroadcastListEnvelope, BroadcastListsEnvelope, CreateBroadcastListRequest,
    UpdateBroadcastListRequest,
};
use super::service;
use crate::error::ApiResult;
use crate::http::auth::AuthUser;
use crate::http::json::ValidJson;
use crate::http::path::ValidPath;
use crate::http::reply::Success;
use crate::messages::MessagesState;
use crate::messages::dto::{MessagesEnvelope, SendMessageRequest};
use crate::state::AppState;

/// The caller's broadcast lists, newest first.
#[utoipa::path(get, path = "/api/broadcast-lists", tag = "broadcasts", security(("bearer" = [])),
    responses((status = 200, body = BroadcastListsEnvelope)))]
pub async fn list(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<BroadcastListsEnvelope>> {
    let broadcast_lists = service::list(&state, auth.user_id).await?;
    Ok(Json(BroadcastListsEnvelope { broadcast_lists }))
}

/// Creates a broadcast list of 1 to 256 people.
#[utoipa::path(post, path = "/api/broadcast-lists", tag = "broadcasts", security(("bearer" = [])),
    request_body = CreateBroadcastListRequest,
    responses((status = 201, body = BroadcastListEnvelope),
        (status = 422, description = "Validation failed: a name, 1 to 256 distinct active users, not the caller")))]
pub async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidJson(request): ValidJson<CreateBroadcastListRequest>,
) -> ApiResult<(StatusCode, Json<BroadcastListEnvelope>)> {
    let broadcast_list = service::create(&state, auth.user_id, request).await?;
    Ok((
        StatusCode::CREATED,
        Json(BroadcastListEnvelope { broadcast_list }),
    ))
}

/// One of the caller's broadcast lists.
#[utoipa::path(get, path = "/api/broadcast-lists/{list}", tag = "broadcasts", security(("bearer" = [])),
    params(("list" = i64, Path, description = "Broadcast list id")),
    responses((status = 200, body = BroadcastListEnvelope), (status = 404, description = "Not the caller's list")))]
pub async fn show(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(list): ValidPath<i64>,
) -> ApiResult<Json<BroadcastListEnvelope>> {
    let broadcast_list = service::show(&state, auth.user_id, list).await?;
    Ok(Json(BroadcastListEnvelope { broadcast_list }))
}

/// Renames a list and/or replaces its recipients.
#[utoipa::path(patch, path = "/api/broadcast-lists/{list}", tag = "broadcasts", security(("bearer" = [])),
    params(("list" = i64, Path, description = "Broadcast list id")),
    request_body = UpdateBroadcastListRequest,
    responses((status = 200, body = BroadcastListEnvelope), (status = 404, description = "Not the caller's list"),
        (status = 422, description = "Validation failed")))]
pub async fn update(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(list): ValidPath<i64>,
    ValidJson(request): ValidJson<UpdateBroadcastListRequest>,
) -> ApiResult<Json<BroadcastListEnvelope>> {
    let broadcast_list = service::update(&state, auth.user_id, list, request).await?;
    Ok(Json(BroadcastListEnvelope { broadcast_list }))
}

/// Deletes a list (the messages sent through it stay: they are private messages).
#[utoipa::path(delete, path = "/api/broadcast-lists/{list}", tag = "broadcasts", security(("bearer" = [])),
    params(("list" = i64, Path, description = "Broadcast list id")),
    responses((status = 200, body = Success), (status = 404, description = "Not the caller's list")))]
pub async fn delete(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(list): ValidPath<i64>,
) -> ApiResult<Json<Success>> {
    service::delete(&state, auth.user_id, list).await?;
    Ok(Json(Success { success: true }))
}

/// Sends a text, location or contact message to every recipient of a list:
/// one normal private message in each one's chat with the caller (created if
/// needed). Recipients with a block either way are skipped silently.
#[utoipa::path(post, path = "/api/broadcast-lists/{list}/messages", tag = "broadcasts", security(("bearer" = [])),
    params(("list" = i64, Path, description = "Broadcast list id")),
    request_body = SendMessageRequest,
    responses((status = 201, body = MessagesEnvelope, description = "The messages stored, each with its chat_id"),
        (status = 404, description = "Not the caller's list"),
        (status = 422, description = "Validation failed, or a file, reply, mentions or client_message_id, or more recipients than SENDS_PER_MINUTE (on `list`)"),
        (status = 429, description = "One send per recipient would go over SENDS_PER_MINUTE; nothing was sent, see Retry-After")))]
pub async fn send(
    State(state): State<MessagesState>,
    auth: AuthUser,
    ValidPath(list): ValidPath<i64>,
    ValidJson(request): ValidJson<SendMessageRequest>,
) -> ApiResult<(StatusCode, Json<MessagesEnvelope>)> {
    let messages = service::send(&state.app, &state.writer, auth.user_id, list, request).await?;
    Ok((StatusCode::CREATED, Json(MessagesEnvelope { messages })))
}
