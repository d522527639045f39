//! HTTP side of real time: the WebSocket endpoint, channel authorisation,
//! user sign-in for sockets.

use axum::Json;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use super::channels::{self, Channel};
use crate::error::{ApiError, ApiResult};
use crate::http::auth::AuthUser;
use crate::http::json::FormOrJson;
use crate::http::path::ValidPath;
use crate::secrets::constant_time_eq;
use crate::state::AppState;
use crate::users;

/// The read buffer each socket starts with (a larger frame grows it). Client
/// frames are small (subscriptions, pings, whispers); 512 bytes rather than
/// 1 KiB keeps an idle socket under 8 KiB with jemalloc's size classes (W3 in
/// docs/benchmarks.md).
const READ_BUFFER_BYTES: usize = 512;

/// The Pusher protocol 7 WebSocket (`ws://host/app/{key}?protocol=7`).
#[utoipa::path(get, path = "/app/{key}", tag = "realtime",
    params(("key" = String, Path, description = "REVERB_APP_KEY")),
    responses((status = 101, description = "Switching to the Pusher protocol over WebSocket")))]
pub async fn websocket(
    State(state): State<AppState>,
    ValidPath(key): ValidPath<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let settings = &state.config.settings;
    let key_ok = constant_time_eq(&key, &settings.reverb_app_key);
    let max = settings.ws_max_frame_bytes as usize;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_write_buffer_size(settings.ws_outbound_queue as usize * 64 * 1024)
        .on_upgrade(move |socket| super::socket::run(state, socket, key_ok))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct ChannelAuthRequest {
    /// The socket id from `pusher:connection_established`.
    #[validate(length(min = 3, max = 41), custom(function = "socket_id_rule"))]
    #[schema(pattern = r"^[0-9]{1,20}\.[0-9]{1,20}$")]
    pub socket_id: String,
    #[validate(length(min = 1, max = 200), custom(function = "channel_rule"))]
    #[schema(pattern = r"^[A-Za-z0-9_\-=@,.;]{1,200}$")]
    pub channel_name: String,
}

fn socket_id_rule(value: &str) -> Result<(), validator::ValidationError> {
    if channels::valid_socket_id(value) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("socket_id")
            .with_message("The :attribute field is not a socket id.".into()))
    }
}

fn channel_rule(value: &str) -> Result<(), validator::ValidationError> {
    if super::protocol::valid_channel(value) {
        Ok(())
    } else {
        Err(validator::ValidationError::new("channel")
            .with_message("The :attribute field is not a channel name.".into()))
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelAuthResponse {
    /// `<key>:<hex HMAC-SHA256(secret, socket_id:channel_name[:channel_data])>`
    pub auth: String,
    /// Presence channels only: `{"user_id", "user_info": {"id", "name", "avatar_url"}}` as a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_data: Option<String>,
}

/// Signs a private or presence subscription for the caller (Laravel's
/// `/broadcasting/auth`); form or JSON body, Bearer token.
#[utoipa::path(post, path = "/broadcasting/auth", tag = "realtime", security(("bearer" = [])),
    request_body(content((ChannelAuthRequest = "application/json"), (ChannelAuthRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, body = ChannelAuthResponse), (status = 403, description = "Not allowed on that channel")))]
pub async fn authorize(
    State(state): State<AppState>,
    auth: AuthUser,
    FormOrJson(request): FormOrJson<ChannelAuthRequest>,
) -> ApiResult<Json<ChannelAuthResponse>> {
    let channel = &request.channel_name;
    if !Channel::needs_auth(channel) || !channels::may_join(&state, auth.user_id, channel).await? {
        return Err(ApiError::forbidden("You may not join this channel."));
    }
    let channel_data = if Channel::is_presence(channel) {
        let me = users::service::summaries(&state, &[auth.user_id])
            .await?
            .remove(&auth.user_id)
            .ok_or_else(|| ApiError::not_found("User"))?;
        let data = serde_json::json!({
            "user_id": auth.user_id,
            // laravel-echo hands callbacks only user_info, so it carries the id too.
            "user_info": { "id": auth.user_id, "name": me.name, "avatar_url": me.avatar_url },
        });
        Some(data.to_string())
    } else {
        None
    };
    let settings = &state.config.settings;
    let signature = channels::sign(
        &settings.reverb_app_key,
        &state.config.reverb_app_secret,
        &request.socket_id,
        channel,
        channel_data.as_deref(),
    );
    state
        .realtime
        .grants
        .record(&request.socket_id, channel, auth.user_id)
        .await
        .map_err(ApiError::Internal)?;
    Ok(Json(ChannelAuthResponse {
        auth: signature,
        channel_data,
    }))
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct UserAuthRequest {
    #[validate(length(min = 3, max = 41), custom(function = "socket_id_rule"))]
    #[schema(pattern = r"^[0-9]{1,20}\.[0-9]{1,20}$")]
    pub socket_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserAuthResponse {
    /// `<key>:<hex HMAC-SHA256(secret, socket_id::user::user_data)>`
    pub auth: String,
    /// `{"id": "<user id>", "user_info": {...}}` as a string.
    pub user_data: String,
}

/// Signs `pusher:signin` for the caller (pusher-js `signin()`), so a socket
/// belongs to its user without subscribing to the user channel.
#[utoipa::path(post, path = "/broadcasting/user-auth", tag = "realtime", security(("bearer" = [])),
    request_body(content((UserAuthRequest = "application/json"), (UserAuthRequest = "application/x-www-form-urlencoded"))), responses((status = 200, body = UserAuthResponse)))]
pub async fn user_auth(
    State(state): State<AppState>,
    auth: AuthUser,
    FormOrJson(request): FormOrJson<UserAuthRequest>,
) -> ApiResult<Json<UserAuthResponse>> {
    let me = users::service::summaries(&state, &[auth.user_id])
        .await?
        .remove(&auth.user_id)
        .ok_or_else(|| ApiError::not_found("User"))?;
    let user_data = serde_json::json!({
        "id": auth.user_id.to_string(),
        "user_info": { "name": me.name, "avatar_url": me.avatar_url },
    })
    .to_string();
    let settings = &state.config.settings;
    let signature = channels::sign_user(
        &settings.reverb_app_key,
        &state.config.reverb_app_secret,
        &request.socket_id,
        &user_data,
    );
    Ok(Json(UserAuthResponse {
        auth: signature,
        user_data,
    }))
}
