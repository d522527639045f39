//! HTTP handlers for chats.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::dto::{
    ArchiveRequest, ChatFilter, ChatList, DisappearingRequest, MuteRequest, PinRequest,
    PrivateChatRequest,
};
use super::prefs::{self, Change};
use super::service;
use crate::error::ApiResult;
use crate::http::auth::AuthUser;
use crate::http::json::ValidJson;
use crate::http::pagination::PageQuery;
use crate::http::path::ValidPath;
use crate::http::query::ValidQuery;
use crate::resources::chat::ChatView;
use crate::state::AppState;

/// The caller's chats: pinned ones first (most recently pinned first), then
/// the rest by most recent activity; `archived` filters.
#[utoipa::path(get, path = "/api/chats", tag = "chats", security(("bearer" = [])),
    params(PageQuery, ChatFilter), responses((status = 200, body = ChatList)))]
pub async fn list(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidQuery(page): ValidQuery<PageQuery>,
    ValidQuery(filter): ValidQuery<ChatFilter>,
) -> ApiResult<Json<ChatList>> {
    Ok(Json(
        service::list(&state, auth.user_id, page, filter).await?,
    ))
}

/// The private chat with a user: 201 when created, 200 when it existed.
#[utoipa::path(post, path = "/api/chats/private", tag = "chats", security(("bearer" = [])),
    request_body = PrivateChatRequest,
    responses((status = 201, body = ChatView), (status = 200, body = ChatView, description = "Existed"),
        (status = 403, description = "Blocked"), (status = 404, description = "No such user")))]
pub async fn private(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidJson(request): ValidJson<PrivateChatRequest>,
) -> ApiResult<(StatusCode, Json<ChatView>)> {
    let (chat, created) =
        service::get_or_create_private(&state, auth.user_id, request.contact_id).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(chat)))
}

/// One chat the caller is in.
#[utoipa::path(get, path = "/api/chats/{chat}", tag = "chats", security(("bearer" = [])),
    params(("chat" = i64, Path, description = "Chat id")),
    responses((status = 200, body = ChatView), (status = 404, description = "Not a member")))]
pub async fn show(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(chat): ValidPath<i64>,
) -> ApiResult<Json<ChatView>> {
    Ok(Json(service::show(&state, auth.user_id, chat).await?))
}

/// Mutes the chat until a time, or unmutes it with null. The caller's other
/// devices hear `ChatPreferencesUpdated`.
#[utoipa::path(put, path = "/api/chats/{chat}/mute", tag = "chats", security(("bearer" = [])),
    params(("chat" = i64, Path, description = "Chat id")), request_body = MuteRequest,
    responses((status = 200, body = ChatView), (status = 404, description = "Not a member")))]
pub async fn mute(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(chat): ValidPath<i64>,
    ValidJson(request): ValidJson<MuteRequest>,
) -> ApiResult<Json<ChatView>> {
    let change = Change::Mute(request.until);
    Ok(Json(
        prefs::update(&state, auth.user_id, chat, change).await?,
    ))
}

/// Pins the chat to the top of the caller's list (at most 3; pinning
/// unarchives it), or unpins it. The caller's other devices hear
/// `ChatPreferencesUpdated`.
#[utoipa::path(put, path = "/api/chats/{chat}/pin", tag = "chats", security(("bearer" = [])),
    params(("chat" = i64, Path, description = "Chat id")), request_body = PinRequest,
    responses((status = 200, body = ChatView), (status = 404, description = "Not a member"),
        (status = 422, description = "Already 3 pinned chats")))]
pub async fn pin(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(chat): ValidPath<i64>,
    ValidJson(request): ValidJson<PinRequest>,
) -> ApiResult<Json<ChatView>> {
    let change = Change::Pin(request.pinned);
    Ok(Json(
        prefs::update(&state, auth.user_id, chat, change).await?,
    ))
}

/// Archives the chat for the caller (which unpins it), or unarchives it. A
/// new message unarchives it unless the caller keeps chats archived
/// (`keep_chats_archived`, `PUT /api/user/privacy`). The caller's other
/// devices hear `ChatPreferencesUpdated`.
#[utoipa::path(put, path = "/api/chats/{chat}/archive", tag = "chats", security(("bearer" = [])),
    params(("chat" = i64, Path, description = "Chat id")), request_body = ArchiveRequest,
    responses((status = 200, body = ChatView), (status = 404, description = "Not a member")))]
pub async fn archive(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(chat): ValidPath<i64>,
    ValidJson(request): ValidJson<ArchiveRequest>,
) -> ApiResult<Json<ChatView>> {
    let change = Change::Archive(request.archived);
    Ok(Json(
        prefs::update(&state, auth.user_id, chat, change).await?,
    ))
}

/// Sets the chat's disappearing-messages timer: any member of a private chat,
/// only admins of a group. Announced by a `system` message and `ChatUpdated`.
#[utoipa::path(put, path = "/api/chats/{chat}/disappearing", tag = "chats", security(("bearer" = [])),
    params(("chat" = i64, Path, description = "Chat id")), request_body = DisappearingRequest,
    responses((status = 200, body = ChatView), (status = 403, description = "Not a group admin"),
        (status = 404, description = "Not a member"),
        (status = 422, description = "Not one of the allowed timers"),
        (status = 429, description = "Posts a system message in the chat, so counts as a send: over SENDS_PER_MINUTE; see Retry-After")))]
pub async fn disappearing(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(chat): ValidPath<i64>,
    ValidJson(request): ValidJson<DisappearingRequest>,
) -> ApiResult<Json<ChatView>> {
    Ok(Json(
        service::set_disappearing(&state, auth.user_id, chat, request.seconds).await?,
    ))
}
