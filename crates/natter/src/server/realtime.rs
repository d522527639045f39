//! The HTTP endpoints of real time: the socket upgrade, channel authorisation
//! (Laravel's `/broadcasting/auth`) and user sign-in for sockets. They are
//! here rather than in realtime/ because they need the caller (`AuthUser`,
//! from http/, above realtime/); realtime/ keeps the sockets and the
//! signatures, and the answers come from the application's policy.

use axum::Json;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRef, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use validator::Validate;

use crate::error::{ApiError, ApiResult};
use crate::http::auth::AuthUser;
use crate::http::client_ip::ClientIp;
use crate::http::json::FormOrJson;
use crate::http::path::ValidPath;
use crate::realtime::channels::{self, Channel};
use crate::realtime::{Sockets, protocol, socket};
use crate::state::AppState;

/// The state of these endpoints: the base services (for `AuthUser`) and the
/// sockets (real time and the policy).
#[derive(Clone)]
pub struct RealtimeState {
    pub app: AppState,
    pub sockets: Sockets,
}

impl FromRef<RealtimeState> for AppState {
    fn from_ref(state: &RealtimeState) -> AppState {
        state.app.clone()
    }
}

impl FromRef<RealtimeState> for Sockets {
    fn from_ref(state: &RealtimeState) -> Sockets {
        state.sockets.clone()
    }
}

pub fn router() -> OpenApiRouter<RealtimeState> {
    OpenApiRouter::new()
        .routes(routes!(websocket))
        .routes(routes!(authorize))
        .routes(routes!(user_auth))
        .routes(routes!(api_authorize))
        .routes(routes!(api_user_auth))
}

/// The Pusher protocol 7 WebSocket (`ws://host/app/{key}?protocol=7`).
#[utoipa::path(get, path = "/app/{key}", tag = "realtime",
    params(("key" = String, Path, description = "REVERB_APP_KEY")),
    responses((status = 101, description = "Switching to the Pusher protocol over WebSocket")))]
pub async fn websocket(
    State(sockets): State<Sockets>,
    ClientIp(ip): ClientIp,
    ValidPath(key): ValidPath<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
    socket::accept(sockets, &key, ip, upgrade)
}

/// Refuses to sign for a socket of this node that is closed or belongs to
/// another user: with a socket id taken from someone else, a fellow member
/// could otherwise have their subscriptions signed onto that socket. (A
/// socket on another node is checked there, when it subscribes: it
/// belongs to one user, and ids are unguessable.) Then records which login
/// authorised the socket, so ending that login ends it.
async fn check_socket(state: &RealtimeState, auth: &AuthUser, socket_id: &str) -> ApiResult<()> {
    let realtime = &state.sockets.realtime;
    if realtime.hub.is_this_node(socket_id) {
        let Some(socket) = realtime.hub.find(socket_id) else {
            return Err(ApiError::forbidden("No such socket."));
        };
        if socket.user().is_some_and(|owner| owner != auth.user_id) {
            return Err(ApiError::forbidden("No such socket."));
        }
    }
    realtime
        .grants
        .record_login(socket_id, auth.user_id, auth.session_id)
        .await
        .map_err(ApiError::Internal)
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
    if protocol::valid_channel(value) {
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
    State(state): State<RealtimeState>,
    auth: AuthUser,
    FormOrJson(request): FormOrJson<ChannelAuthRequest>,
) -> ApiResult<Json<ChannelAuthResponse>> {
    let channel = &request.channel_name;
    let policy = &state.sockets.policy;
    if !Channel::needs_auth(channel)
        || !policy
            .may_join(auth.user_id, &Channel::parse(channel))
            .await
    {
        return Err(ApiError::forbidden("You may not join this channel."));
    }
    check_socket(&state, &auth, &request.socket_id).await?;
    let channel_data = if Channel::is_presence(channel) {
        let me = policy.user_info(auth.user_id).await?;
        let data = serde_json::json!({
            "user_id": auth.user_id,
            // laravel-echo hands callbacks only user_info, so it carries the id too.
            "user_info": { "id": auth.user_id, "name": me.name, "avatar_url": me.avatar_url },
        });
        Some(data.to_string())
    } else {
        None
    };
    let config = &state.sockets.config;
    let signature = channels::sign(
        &config.settings.reverb_app_key,
        &config.reverb_app_secret,
        &request.socket_id,
        channel,
        channel_data.as_deref(),
    );
    state
        .sockets
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
    State(state): State<RealtimeState>,
    auth: AuthUser,
    FormOrJson(request): FormOrJson<UserAuthRequest>,
) -> ApiResult<Json<UserAuthResponse>> {
    check_socket(&state, &auth, &request.socket_id).await?;
    let me = state.sockets.policy.user_info(auth.user_id).await?;
    let user_data = serde_json::json!({
        "id": auth.user_id.to_string(),
        "user_info": { "name": me.name, "avatar_url": me.avatar_url },
    })
    .to_string();
    let config = &state.sockets.config;
    let signature = channels::sign_user(
        &config.settings.reverb_app_key,
        &config.reverb_app_secret,
        &request.socket_id,
        &user_data,
    );
    Ok(Json(UserAuthResponse {
        auth: signature,
        user_data,
    }))
}

/// `/api/broadcasting/auth`: the same as `/broadcasting/auth`, at the path
/// Sanctum-based Laravel apps give Echo's `authEndpoint`.
#[utoipa::path(post, path = "/api/broadcasting/auth", tag = "realtime", security(("bearer" = [])),
    request_body(content((ChannelAuthRequest = "application/json"), (ChannelAuthRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, body = ChannelAuthResponse), (status = 403, description = "Not allowed on that channel")))]
pub async fn api_authorize(
    state: State<RealtimeState>,
    auth: AuthUser,
    request: FormOrJson<ChannelAuthRequest>,
) -> ApiResult<Json<ChannelAuthResponse>> {
    authorize(state, auth, request).await
}

/// `/api/broadcasting/user-auth`: the same as `/broadcasting/user-auth`.
#[utoipa::path(post, path = "/api/broadcasting/user-auth", tag = "realtime", security(("bearer" = [])),
    request_body(content((UserAuthRequest = "application/json"), (UserAuthRequest = "application/x-www-form-urlencoded"))), responses((status = 200, body = UserAuthResponse)))]
pub async fn api_user_auth(
    state: State<RealtimeState>,
    auth: AuthUser,
    request: FormOrJson<UserAuthRequest>,
) -> ApiResult<Json<UserAuthResponse>> {
    user_auth(state, auth, request).await
}
