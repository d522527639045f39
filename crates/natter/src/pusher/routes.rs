//! The Pusher HTTP API's routes, for `REVERB_APP_ID`: what a stock Pusher
//! server library (Laravel's pusher broadcaster, pusher-http-node, the Python
//! `pusher` package) calls. Not under /api and not in the OpenAPI document:
//! the contract is Pusher's (docs/realtime.md lists what is served).

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::dto::{BatchRequest, ChannelList, ChannelState, TriggerRequest, UserId, UserList};
use super::error::PusherError;
use super::service::{self, Info, MAX_BATCH};
use super::signature::{self, Credentials};
use crate::clock::now_ms;
use crate::realtime::protocol::valid_channel;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/apps/{app_id}/events", post(trigger))
        .route("/apps/{app_id}/batch_events", post(trigger_batch))
        .route("/apps/{app_id}/channels", get(list_channels))
        .route("/apps/{app_id}/channels/{channel}", get(channel))
        .route("/apps/{app_id}/channels/{channel}/users", get(users))
        .route(
            "/apps/{app_id}/users/{user_id}/terminate_connections",
            post(terminate_connections),
        )
}

/// A request to this app whose signature checked out: its query parameters and body.
pub struct Signed {
    pub query: BTreeMap<String, String>,
    pub body: Bytes,
}

impl Signed {
    fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    fn json<T: DeserializeOwned>(&self) -> Result<T, PusherError> {
        serde_json::from_slice(&self.body)
            .map_err(|err| PusherError::bad_request(format!("Invalid JSON body: {err}")))
    }
}

impl FromRequest<AppState> for Signed {
    type Rejection = PusherError;

    async fn from_request(request: Request, state: &AppState) -> Result<Signed, PusherError> {
        let settings = &state.config.settings;
        let path = request.uri().path().to_string();
        let ours = path
            .strip_prefix("/apps/")
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(id, _)| id == settings.reverb_app_id);
        if !ours {
            return Err(PusherError::new(
                axum::http::StatusCode::NOT_FOUND,
                "No matching application for this id",
            ));
        }
        let method = request.method().as_str().to_string();
        let query = request.uri().query().unwrap_or_default().to_string();
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|err| PusherError::new(err.status(), err.body_text()))?;
        let credentials = Credentials {
            key: &settings.reverb_app_key,
            secret: &state.config.reverb_app_secret,
        };
        let request = signature::Signed {
            method: &method,
            path: &path,
            query: &query,
            body: &body,
        };
        let query = signature::verify(&credentials, &request, now_ms() / 1000)?;
        Ok(Signed { query, body })
    }
}

fn max_data(state: &AppState) -> usize {
    state.config.settings.pusher.pusher_max_event_bytes as usize
}

/// `POST /apps/{id}/events`: `{}`, or `{"channels": {...}}` when `info` asked.
async fn trigger(
    State(state): State<AppState>,
    signed: Signed,
) -> Result<Json<Value>, PusherError> {
    let request: TriggerRequest = signed.json()?;
    let trigger = service::check(request, max_data(&state))?;
    let asked = trigger.info;
    let channels = service::publish(&state, trigger).await?;
    if asked.user_count || asked.subscription_count {
        return Ok(Json(json!({ "channels": channels })));
    }
    Ok(Json(json!({})))
}

/// `POST /apps/{id}/batch_events`: up to 10 events, each checked before any
/// is published; `{"batch": [{}, ...]}` with each event's `info` answer.
async fn trigger_batch(
    State(state): State<AppState>,
    signed: Signed,
) -> Result<Json<Value>, PusherError> {
    let request: BatchRequest = signed.json()?;
    if request.batch.is_empty() || request.batch.len() > MAX_BATCH {
        return Err(PusherError::bad_request(format!(
            "A batch holds 1 to {MAX_BATCH} events"
        )));
    }
    let mut triggers = Vec::with_capacity(request.batch.len());
    for event in request.batch {
        if event.channels.is_some() {
            return Err(PusherError::bad_request(
                "Batch events name one channel each",
            ));
        }
        triggers.push(service::check(event, max_data(&state))?);
    }
    let mut answers = Vec::with_capacity(triggers.len());
    for trigger in triggers {
        let channels = service::publish(&state, trigger).await?;
        let answer = channels
            .into_values()
            .next()
            .map(|info| json!(info))
            .unwrap_or_else(|| json!({}));
        answers.push(answer);
    }
    Ok(Json(json!({ "batch": answers })))
}

/// `GET /apps/{id}/channels?filter_by_prefix=&info=user_count`.
async fn list_channels(
    State(state): State<AppState>,
    signed: Signed,
) -> Result<Json<ChannelList>, PusherError> {
    let prefix = signed.param("filter_by_prefix").unwrap_or_default();
    let asked = Info::parse(signed.param("info"))?;
    if asked.subscription_count {
        return Err(PusherError::bad_request(
            "Only user_count may be asked of the channel list",
        ));
    }
    if asked.user_count && !prefix.starts_with("presence-") {
        return Err(PusherError::bad_request(
            "user_count needs filter_by_prefix=presence-",
        ));
    }
    let mut channels = BTreeMap::new();
    for name in service::channels(&state, prefix).await? {
        let info = service::info(&state, &name, asked).await?;
        channels.insert(name, info);
    }
    Ok(Json(ChannelList { channels }))
}

fn channel_name(name: &str) -> Result<(), PusherError> {
    if valid_channel(name) {
        Ok(())
    } else {
        Err(PusherError::bad_request("Invalid channel name"))
    }
}

/// `GET /apps/{id}/channels/{name}?info=user_count,subscription_count`.
async fn channel(
    State(state): State<AppState>,
    Path((_app, name)): Path<(String, String)>,
    signed: Signed,
) -> Result<Json<ChannelState>, PusherError> {
    channel_name(&name)?;
    let asked = Info::parse(signed.param("info"))?;
    if asked.user_count && !name.starts_with("presence-") {
        return Err(PusherError::bad_request(
            "user_count is only available for presence channels",
        ));
    }
    let occupied = service::occupied(&state, &name).await?;
    let info = service::info(&state, &name, asked).await?;
    Ok(Json(ChannelState { occupied, info }))
}

/// `GET /apps/{id}/channels/{name}/users` (presence channels).
async fn users(
    State(state): State<AppState>,
    Path((_app, name)): Path<(String, String)>,
    _signed: Signed,
) -> Result<Json<UserList>, PusherError> {
    channel_name(&name)?;
    let users = service::members(&state, &name)
        .await?
        .into_iter()
        .map(|id| UserId { id: id.to_string() })
        .collect();
    Ok(Json(UserList { users }))
}

/// `POST /apps/{id}/users/{user_id}/terminate_connections`.
async fn terminate_connections(
    State(state): State<AppState>,
    Path((_app, user)): Path<(String, String)>,
    _signed: Signed,
) -> Result<Json<Value>, PusherError> {
    let user: i64 = user
        .parse()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| PusherError::bad_request("Invalid user id"))?;
    service::terminate(&state, user);
    Ok(Json(json!({})))
}
