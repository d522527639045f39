//! HTTP handlers for profiles and privacy.

use axum::Json;
use axum::extract::State;

use super::dto::{AvatarResponse, UpdatePrivacyRequest, UpdateProfileRequest};
use super::service;
use crate::error::ApiResult;
use crate::http::auth::AuthUser;
use crate::http::json::ValidJson;
use crate::http::path::ValidPath;
use crate::media::Media;
use crate::media::upload::{AvatarForm, AvatarUpload};
use crate::resources::user::{SelfView, UserView};
use crate::state::AppState;

/// The caller's own profile.
#[utoipa::path(get, path = "/api/user/profile", tag = "users",
    security(("bearer" = [])),
    responses((status = 200, body = SelfView), (status = 401, description = "Unauthenticated")))]
pub async fn profile(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<SelfView>> {
    let user = service::require_active(&state, auth.user_id).await?;
    Ok(Json(service::self_view(&state, &user).await))
}

/// Sets the caller's profile photo: `multipart/form-data` with an image in
/// `file`, stored as a JPEG of at most 640 px, upright, without metadata.
#[utoipa::path(post, path = "/api/user/avatar", tag = "users",
    security(("bearer" = [])), request_body(content((AvatarForm = "multipart/form-data"))),
    responses((status = 200, body = AvatarResponse), (status = 413, description = "Over MEDIA_MAX_BYTES_IMAGE"),
        (status = 415, description = "Not an image"), (status = 422, description = "No file, or an image too large to decode")))]
pub async fn set_avatar(
    State(state): State<AppState>,
    State(media): State<Media>,
    auth: AuthUser,
    AvatarUpload(mut upload): AvatarUpload,
) -> ApiResult<Json<AvatarResponse>> {
    let avatar_url = service::set_avatar(&state, &media, auth.user_id, &mut upload).await?;
    Ok(Json(AvatarResponse {
        success: true,
        avatar_url,
    }))
}

/// Changes the caller's name and/or about text.
#[utoipa::path(put, path = "/api/user/profile", tag = "users",
    security(("bearer" = [])), request_body = UpdateProfileRequest,
    responses((status = 200, body = SelfView), (status = 422, description = "Validation failed")))]
pub async fn update_profile(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidJson(request): ValidJson<UpdateProfileRequest>,
) -> ApiResult<Json<SelfView>> {
    Ok(Json(
        service::update_profile(&state, auth.user_id, request).await?,
    ))
}

/// Changes who may see the caller's last seen, photo and about, and whether a
/// new message takes a chat out of the archive (`keep_chats_archived`).
#[utoipa::path(put, path = "/api/user/privacy", tag = "users",
    security(("bearer" = [])), request_body = UpdatePrivacyRequest,
    responses((status = 200, body = SelfView), (status = 422, description = "Validation failed")))]
pub async fn update_privacy(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidJson(request): ValidJson<UpdatePrivacyRequest>,
) -> ApiResult<Json<SelfView>> {
    Ok(Json(
        service::update_privacy(&state, auth.user_id, request).await?,
    ))
}

/// Another user, as the caller may see them.
#[utoipa::path(get, path = "/api/users/{id}", tag = "users",
    security(("bearer" = [])), params(("id" = i64, Path, description = "User id")),
    responses((status = 200, body = UserView), (status = 404, description = "No such user"),
        (status = 429, description = "Over USER_LOOKUPS_PER_HOUR (another user's profile); see Retry-After")))]
pub async fn show(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(id): ValidPath<i64>,
) -> ApiResult<Json<UserView>> {
    if id != auth.user_id {
        service::count_lookup(&state, auth.user_id).await?;
    }
    Ok(Json(service::view_user(&state, auth.user_id, id).await?))
}
