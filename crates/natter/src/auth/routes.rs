//! HTTP handlers for sign-in.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;

use super::dto::{
    LogoutResponse, SendOtpRequest, SendOtpResponse, SuccessResponse, VerifyOtpRequest,
    VerifyOtpResponse,
};
use super::service;
use crate::error::{ApiError, ApiResult};
use crate::http::auth::{AuthUser, bearer_token};
use crate::http::client_ip::ClientIp;
use crate::http::json::ValidJson;
use crate::sessions;
use crate::sessions::device::{DeviceHints, DeviceInfo};
use crate::sessions::dto::TokenPair;
use crate::state::AppState;

/// Sends a 6-digit code by SMS.
#[utoipa::path(post, path = "/api/auth/send-otp", tag = "auth", request_body = SendOtpRequest,
    responses((status = 200, body = SendOtpResponse), (status = 422, description = "Impossible number"),
        (status = 429, description = "Too many codes; see Retry-After")))]
pub async fn send_otp(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ValidJson(request): ValidJson<SendOtpRequest>,
) -> ApiResult<Json<SendOtpResponse>> {
    Ok(Json(service::send_otp(&state, request, ip).await?))
}

/// Checks the code; signs in (creating the account on first use), opening a
/// login session for this device (`device_name`, `platform`, or a name from
/// the User-Agent). A banned account (`natter users ban`) gets 403 and no session.
#[utoipa::path(post, path = "/api/auth/verify-otp", tag = "auth", request_body = VerifyOtpRequest,
    responses((status = 200, body = VerifyOtpResponse), (status = 400, description = "Invalid or expired OTP"),
        (status = 403, description = "This account has been banned."),
        (status = 429, description = "Too many code checks from this address or for this number; see Retry-After")))]
pub async fn verify_otp(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ValidJson(request): ValidJson<VerifyOtpRequest>,
) -> ApiResult<Json<VerifyOtpResponse>> {
    let hints = DeviceHints::of(&headers, request.device_name.as_deref(), request.platform);
    let device = DeviceInfo::new(hints, ip);
    Ok(Json(
        service::verify_otp(&state, request, ip, &device).await?,
    ))
}

/// Exchanges the refresh token (as the bearer token) for a new pair.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = TokenPair), (status = 401, description = "Not a live refresh token")))]
pub async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> ApiResult<Json<TokenPair>> {
    let token = bearer_token(&headers).ok_or(ApiError::Unauthenticated)?;
    Ok(Json(sessions::service::refresh(&state, token).await?))
}

/// Signs this device out.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = LogoutResponse), (status = 401, description = "Unauthenticated")))]
pub async fn logout(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<LogoutResponse>> {
    service::logout(&state, auth.user_id, auth.session_id).await?;
    Ok(Json(LogoutResponse {
        success: true,
        message: "Logged out successfully".into(),
    }))
}

/// Deletes the caller's account.
#[utoipa::path(delete, path = "/api/user", tag = "users",
    security(("bearer" = [])),
    responses((status = 200, body = SuccessResponse)))]
pub async fn delete_account(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<SuccessResponse>> {
    service::delete_account(&state, auth.user_id).await?;
    Ok(Json(SuccessResponse {
        success: true,
        message: "Account deleted successfully".into(),
    }))
}
