//! HTTP handlers for devices.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::dto::{DeviceList, DeviceView, RegisterDeviceRequest};
use super::service;
use crate::error::ApiResult;
use crate::http::auth::AuthUser;
use crate::http::json::ValidJson;
use crate::http::path::ValidPath;
use crate::http::reply::Success;
use crate::state::AppState;

/// Registers a push token for this login session (200 with the same device when it was already the caller's).
#[utoipa::path(post, path = "/api/devices", tag = "devices", security(("bearer" = [])),
    request_body = RegisterDeviceRequest,
    responses((status = 201, body = DeviceView), (status = 200, body = DeviceView, description = "Already registered"),
        (status = 422, description = "Validation failed")))]
pub async fn register(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidJson(request): ValidJson<RegisterDeviceRequest>,
) -> ApiResult<(StatusCode, Json<DeviceView>)> {
    let (device, created) = service::register(&state, &auth, request).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(device)))
}

/// The caller's devices, oldest first.
#[utoipa::path(get, path = "/api/devices", tag = "devices", security(("bearer" = [])),
    responses((status = 200, body = DeviceList)))]
pub async fn list(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<DeviceList>> {
    Ok(Json(service::list(&state, auth.user_id).await?))
}

/// Removes one of the caller's devices.
#[utoipa::path(delete, path = "/api/devices/{device}", tag = "devices", security(("bearer" = [])),
    params(("device" = i64, Path, description = "Device id")),
    responses((status = 200, body = Success), (status = 404, description = "Not the caller's device")))]
pub async fn delete(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(device): ValidPath<i64>,
) -> ApiResult<Json<Success>> {
    service::delete(&state, auth.user_id, device).await?;
    Ok(Json(Success { success: true }))
}
