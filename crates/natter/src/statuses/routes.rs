//! HTTP handlers for statuses.

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use validator::Validate;

use super::dto::{PostStatusForm, PostStatusRequest, StatusFeed, StatusViewList};
use super::{StatusesState, service};
use crate::error::ApiResult;
use crate::http::auth::AuthUser;
use crate::http::json::{ValidJson, from_value};
use crate::http::laravel::validation_error;
use crate::http::path::ValidPath;
use crate::http::reply::Success;
use crate::media::upload::{KindRule, ReceivedFile, extract, is_multipart};
use crate::resources::status::StatusView;
use crate::state::AppState;

/// The caller's live statuses and those of their mutual contacts, by person.
#[utoipa::path(get, path = "/api/status", tag = "status", security(("bearer" = [])),
    responses((status = 200, body = StatusFeed)))]
pub async fn feed(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<StatusFeed>> {
    Ok(Json(service::feed(&state, auth.user_id).await?))
}

/// Posts a status: JSON for text, multipart/form-data (`type` first, then `file`)
/// for an image or video. Expires STATUS_TTL seconds later.
#[utoipa::path(post, path = "/api/status", tag = "status", security(("bearer" = [])),
    request_body(content(
        (PostStatusRequest = "application/json"),
        (PostStatusForm = "multipart/form-data"),
    )),
    responses((status = 201, body = StatusView), (status = 413, description = "File too large"),
        (status = 415, description = "The file's bytes are not an allowed image or video"),
        (status = 422, description = "Validation failed"),
        (status = 429, description = "STATUSES_PER_DAY posted in the last 24 hours")))]
pub async fn post(
    State(state): State<StatusesState>,
    auth: AuthUser,
    request: Request,
) -> ApiResult<(StatusCode, Json<StatusView>)> {
    service::count_post(&state.app, auth.user_id).await?;
    let (fields, file) = read_post(&state, request).await?;
    let status = service::post(&state, auth.user_id, fields, file).await?;
    Ok((StatusCode::CREATED, Json(status)))
}

/// The fields (validated like JSON) and the file of a new status.
async fn read_post(
    state: &StatusesState,
    request: Request,
) -> ApiResult<(PostStatusRequest, Option<ReceivedFile>)> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    if !is_multipart(content_type) {
        let ValidJson(fields) =
            ValidJson::<PostStatusRequest>::from_request(request, state).await?;
        return Ok((fields, None));
    }
    let mut upload = extract(request, &state.media, KindRule::Field("type")).await?;
    let fields: PostStatusRequest = from_value(upload.fields_json())?;
    fields.validate().map_err(validation_error)?;
    Ok((fields, upload.file.take()))
}

/// Marks a status viewed by the caller (idempotent).
#[utoipa::path(post, path = "/api/status/{status}/view", tag = "status", security(("bearer" = [])),
    params(("status" = i64, Path, description = "Status id")),
    responses((status = 200, body = Success), (status = 404, description = "Not visible to the caller, or expired")))]
pub async fn view(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(status): ValidPath<i64>,
) -> ApiResult<Json<Success>> {
    service::view(&state, auth.user_id, status).await?;
    Ok(Json(Success { success: true }))
}

/// Who viewed one of the caller's statuses, most recent first.
#[utoipa::path(get, path = "/api/status/{status}/views", tag = "status", security(("bearer" = [])),
    params(("status" = i64, Path, description = "Status id")),
    responses((status = 200, body = StatusViewList), (status = 403, description = "Not the owner"),
        (status = 404, description = "Not visible to the caller, or expired")))]
pub async fn views(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(status): ValidPath<i64>,
) -> ApiResult<Json<StatusViewList>> {
    Ok(Json(service::views(&state, auth.user_id, status).await?))
}

/// Deletes one of the caller's statuses.
#[utoipa::path(delete, path = "/api/status/{status}", tag = "status", security(("bearer" = [])),
    params(("status" = i64, Path, description = "Status id")),
    responses((status = 200, body = Success), (status = 403, description = "Not the owner"),
        (status = 404, description = "Not visible to the caller, or expired")))]
pub async fn delete(
    State(state): State<StatusesState>,
    auth: AuthUser,
    ValidPath(status): ValidPath<i64>,
) -> ApiResult<Json<Success>> {
    service::delete(&state, auth.user_id, status).await?;
    Ok(Json(Success { success: true }))
}
