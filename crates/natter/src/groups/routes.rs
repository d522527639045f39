//! HTTP handlers for groups.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};

use super::dto::{
    AddMembersRequest, CreateGroupRequest, InviteLink, RoleRequest, UpdateGroupRequest,
};
use super::service;
use crate::error::ApiResult;
use crate::http::auth::AuthUser;
use crate::http::json::ValidJson;
use crate::http::path::ValidPath;
use crate::http::reply::Success;
use crate::media::MediaState;
use crate::media::upload::AvatarForm;
use crate::resources::chat::ChatView;
use crate::state::AppState;

/// Creates a group; the caller is its admin.
#[utoipa::path(post, path = "/api/groups", tag = "groups", security(("bearer" = [])), request_body = CreateGroupRequest,
    responses((status = 201, body = ChatView), (status = 403, description = "A participant has blocked the caller"),
        (status = 422, description = "Validation failed, or over GROUP_MAX_MEMBERS"),
        (status = 429, description = "Posts a system message in the chat, so counts as a send: over SENDS_PER_MINUTE; see Retry-After")))]
pub async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidJson(request): ValidJson<CreateGroupRequest>,
) -> ApiResult<(StatusCode, Json<ChatView>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::create(&state, auth.user_id, request).await?),
    ))
}

/// One group the caller is in.
#[utoipa::path(get, path = "/api/groups/{group}", tag = "groups", security(("bearer" = [])),
    params(("group" = i64, Path, description = "Group (chat) id")),
    responses((status = 200, body = ChatView), (status = 404, description = "Not a member")))]
pub async fn show(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(group): ValidPath<i64>,
) -> ApiResult<Json<ChatView>> {
    Ok(Json(service::show(&state, auth.user_id, group).await?))
}

/// Renames or re-describes a group (admins only).
#[utoipa::path(put, path = "/api/groups/{group}", tag = "groups", security(("bearer" = [])),
    params(("group" = i64, Path, description = "Group (chat) id")), request_body = UpdateGroupRequest,
    responses((status = 200, body = ChatView), (status = 403, description = "Not an admin"),
        (status = 429, description = "Posts a system message in the chat, so counts as a send: over SENDS_PER_MINUTE; see Retry-After")))]
pub async fn update(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(group): ValidPath<i64>,
    ValidJson(request): ValidJson<UpdateGroupRequest>,
) -> ApiResult<Json<ChatView>> {
    Ok(Json(
        service::update(&state, auth.user_id, group, request).await?,
    ))
}

/// Sets the group's photo (admins only): `multipart/form-data` with an image in
/// `file`, stored as a JPEG of at most 640 px.
#[utoipa::path(post, path = "/api/groups/{group}/avatar", tag = "groups", security(("bearer" = [])),
    params(("group" = i64, Path, description = "Group (chat) id")),
    request_body(content((AvatarForm = "multipart/form-data"))),
    responses((status = 200, body = ChatView), (status = 403, description = "Not an admin"),
        (status = 404, description = "Not a member"), (status = 413, description = "Over MEDIA_MAX_BYTES_IMAGE"),
        (status = 415, description = "Not an image"), (status = 422, description = "No file, or an image too large to decode")))]
pub async fn set_avatar(
    State(state): State<MediaState>,
    auth: AuthUser,
    ValidPath(group): ValidPath<i64>,
    request: Request,
) -> ApiResult<Json<ChatView>> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    Ok(Json(
        service::set_avatar(
            &state.app,
            &state.media,
            auth.user_id,
            group,
            request.into_body(),
            content_type.as_deref(),
        )
        .await?,
    ))
}

/// Adds members (admins only).
#[utoipa::path(post, path = "/api/groups/{group}/members", tag = "groups", security(("bearer" = [])),
    params(("group" = i64, Path, description = "Group (chat) id")), request_body = AddMembersRequest,
    responses((status = 200, body = ChatView), (status = 403, description = "Not an admin, or blocked"),
        (status = 422, description = "Unknown users, or over GROUP_MAX_MEMBERS"),
        (status = 429, description = "Posts a system message in the chat, so counts as a send: over SENDS_PER_MINUTE; see Retry-After")))]
pub async fn add_members(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(group): ValidPath<i64>,
    ValidJson(request): ValidJson<AddMembersRequest>,
) -> ApiResult<Json<ChatView>> {
    Ok(Json(
        service::add_members(&state, auth.user_id, group, &request.user_ids).await?,
    ))
}

/// Removes a member (admins only).
#[utoipa::path(delete, path = "/api/groups/{group}/members/{user}", tag = "groups", security(("bearer" = [])),
    params(("group" = i64, Path, description = "Group (chat) id"), ("user" = i64, Path, description = "User id")),
    responses((status = 200, body = ChatView), (status = 403, description = "Not an admin"), (status = 404, description = "Not a member"), (status = 422, description = "The caller themselves: leaving is its own route"),
        (status = 429, description = "Posts a system message in the chat, so counts as a send: over SENDS_PER_MINUTE; see Retry-After")))]
pub async fn remove_member(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath((group, user)): ValidPath<(i64, i64)>,
) -> ApiResult<Json<ChatView>> {
    Ok(Json(
        service::remove_member(&state, auth.user_id, group, user).await?,
    ))
}

/// Makes a member an admin or a plain member (admins only).
#[utoipa::path(put, path = "/api/groups/{group}/members/{user}/role", tag = "groups", security(("bearer" = [])),
    params(("group" = i64, Path, description = "Group (chat) id"), ("user" = i64, Path, description = "User id")),
    request_body = RoleRequest,
    responses((status = 200, body = ChatView), (status = 403, description = "Not an admin"), (status = 422, description = "Would leave no admin"),
        (status = 429, description = "Posts a system message in the chat, so counts as a send: over SENDS_PER_MINUTE; see Retry-After")))]
pub async fn set_role(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath((group, user)): ValidPath<(i64, i64)>,
    ValidJson(request): ValidJson<RoleRequest>,
) -> ApiResult<Json<ChatView>> {
    Ok(Json(
        service::set_role(&state, auth.user_id, group, user, request.role).await?,
    ))
}

/// Leaves a group.
#[utoipa::path(post, path = "/api/groups/{group}/leave", tag = "groups", security(("bearer" = [])),
    params(("group" = i64, Path, description = "Group (chat) id")), responses((status = 200, body = Success)))]
pub async fn leave(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(group): ValidPath<i64>,
) -> ApiResult<Json<Success>> {
    service::leave(&state, auth.user_id, group).await?;
    Ok(Json(Success { success: true }))
}

/// A new invite link (admins only); the previous one stops working.
#[utoipa::path(post, path = "/api/groups/{group}/invite-link", tag = "groups", security(("bearer" = [])),
    params(("group" = i64, Path, description = "Group (chat) id")),
    responses((status = 201, body = InviteLink), (status = 403, description = "Not an admin")))]
pub async fn invite_link(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(group): ValidPath<i64>,
) -> ApiResult<(StatusCode, Json<InviteLink>)> {
    Ok((
        StatusCode::CREATED,
        Json(service::invite_link(&state, auth.user_id, group).await?),
    ))
}

/// Joins a group by its invite code.
#[utoipa::path(post, path = "/api/groups/join/{code}", tag = "groups", security(("bearer" = [])),
    params(("code" = String, Path, description = "Invite code")),
    responses((status = 200, body = ChatView), (status = 404, description = "Unknown or revoked code"),
        (status = 403, description = "Removed from this group by an admin"),
        (status = 422, description = "The group is full"),
        (status = 429, description = "Posts a system message in the chat, so counts as a send: over SENDS_PER_MINUTE; see Retry-After")))]
pub async fn join(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(code): ValidPath<String>,
) -> ApiResult<Json<ChatView>> {
    Ok(Json(
        service::join_by_code(&state, auth.user_id, &code).await?,
    ))
}
