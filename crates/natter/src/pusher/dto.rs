//! The Pusher HTTP API's bodies and answers (Pusher's "HTTP API reference").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /apps/{id}/events`: `channels` (or one `channel`), an event `name`,
/// its `data` (a string, as the server libraries send it), and optionally the
/// `socket_id` to leave out and the `info` to answer with.
#[derive(Debug, Deserialize)]
pub struct TriggerRequest {
    pub name: Value,
    pub data: Option<Value>,
    pub channels: Option<Value>,
    pub channel: Option<Value>,
    pub socket_id: Option<Value>,
    pub info: Option<Value>,
}

/// `POST /apps/{id}/batch_events`.
#[derive(Debug, Deserialize)]
pub struct BatchRequest {
    pub batch: Vec<TriggerRequest>,
}

/// What `info` may ask of a channel; absent fields are left out.
#[derive(Debug, Default, Clone, Serialize)]
pub struct ChannelInfo {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_count: Option<u64>,
}

/// `GET /apps/{id}/channels/{name}`.
#[derive(Debug, Serialize)]
pub struct ChannelState {
    pub occupied: bool,
    #[serde(flatten)]
    pub info: ChannelInfo,
}

/// `GET /apps/{id}/channels`.
#[derive(Debug, Serialize)]
pub struct ChannelList {
    pub channels: BTreeMap<String, ChannelInfo>,
}

/// `GET /apps/{id}/channels/{name}/users`.
#[derive(Debug, Serialize)]
pub struct UserList {
    pub users: Vec<UserId>,
}

#[derive(Debug, Serialize)]
pub struct UserId {
    pub id: String,
}
