//! Publishing through the Pusher HTTP API, with Pusher's limits, and what it
//! tells about channels. Events go to every node over the bus and only to
//! sockets: they are not in the sync log (as on Reverb).

use std::collections::BTreeMap;

use serde_json::Value;

use super::dto::{ChannelInfo, TriggerRequest};
use super::error::PusherError;
use crate::realtime::bus::Body;
use crate::realtime::channels::{Channel, valid_socket_id};
use crate::realtime::presence::PresenceKey;
use crate::realtime::protocol::valid_channel;
use crate::state::AppState;

/// Pusher's limits: channels per trigger, events per batch, event name length.
pub const MAX_CHANNELS: usize = 100;
pub const MAX_BATCH: usize = 10;
pub const MAX_EVENT_NAME: usize = 200;

/// One event, checked and ready to publish.
#[derive(Debug)]
pub struct Trigger {
    pub name: String,
    pub data: String,
    pub channels: Vec<String>,
    pub except_socket: Option<String>,
    pub info: Info,
}

/// Which counts the caller asked for (`info=user_count,subscription_count`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Info {
    pub user_count: bool,
    pub subscription_count: bool,
}

impl Info {
    pub fn parse(text: Option<&str>) -> Result<Info, PusherError> {
        let mut info = Info::default();
        for part in text.unwrap_or_default().split(',').map(str::trim) {
            match part {
                "" => {}
                "user_count" => info.user_count = true,
                "subscription_count" => info.subscription_count = true,
                other => {
                    return Err(PusherError::bad_request(format!(
                        "Unknown info attribute: {}",
                        other.chars().take(40).collect::<String>()
                    )));
                }
            }
        }
        Ok(info)
    }

    fn any(&self) -> bool {
        self.user_count || self.subscription_count
    }
}

/// Checks one event against Pusher's rules; `batch` events name one `channel`.
pub fn check(request: TriggerRequest, max_data: usize) -> Result<Trigger, PusherError> {
    let name = match request.name {
        Value::String(name) if !name.is_empty() && name.len() <= MAX_EVENT_NAME => name,
        _ => {
            return Err(PusherError::bad_request(
                "name must be a string of 1 to 200 characters",
            ));
        }
    };
    if name.starts_with("pusher:") || name.starts_with("pusher_internal:") {
        return Err(PusherError::bad_request(
            "Event names starting with pusher: are reserved",
        ));
    }
    let data = match request.data {
        Some(Value::String(text)) => text,
        // Some libraries send objects; they arrive as the JSON text of them.
        Some(other) => other.to_string(),
        None => return Err(PusherError::bad_request("data is required")),
    };
    if data.len() > max_data {
        return Err(PusherError::too_large(format!(
            "Event data too large: at most {max_data} bytes"
        )));
    }
    let channels = channels_of(request.channels, request.channel)?;
    let except_socket = match request.socket_id {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) if valid_socket_id(&id) => Some(id),
        Some(_) => return Err(PusherError::bad_request("Invalid socket_id")),
    };
    let info = match request.info {
        None | Some(Value::Null) => Info::default(),
        Some(Value::String(text)) => Info::parse(Some(&text))?,
        Some(_) => return Err(PusherError::bad_request("info must be a string")),
    };
    if info.user_count && channels.iter().any(|c| !Channel::is_presence(c)) {
        return Err(PusherError::bad_request(
            "user_count is only available for presence channels",
        ));
    }
    Ok(Trigger {
        name,
        data,
        channels,
        except_socket,
        info,
    })
}

fn channels_of(
    channels: Option<Value>,
    channel: Option<Value>,
) -> Result<Vec<String>, PusherError> {
    let names: Vec<Value> = match (channels, channel) {
        (Some(Value::Array(list)), None) => list,
        (None, Some(one)) => vec![one],
        _ => {
            return Err(PusherError::bad_request(
                "Give either channels (a list) or channel",
            ));
        }
    };
    if names.is_empty() {
        return Err(PusherError::bad_request("No channels given"));
    }
    if names.len() > MAX_CHANNELS {
        return Err(PusherError::bad_request(format!(
            "Too many channels: at most {MAX_CHANNELS} per event"
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        match name {
            Value::String(name) if valid_channel(&name) => {
                if !out.contains(&name) {
                    out.push(name);
                }
            }
            _ => return Err(PusherError::bad_request("Invalid channel name")),
        }
    }
    Ok(out)
}

/// Publishes a checked event on every node; returns the asked-for counts.
pub async fn publish(
    state: &AppState,
    trigger: Trigger,
) -> Result<BTreeMap<String, ChannelInfo>, PusherError> {
    let mut answer = BTreeMap::new();
    if trigger.info.any() {
        for channel in &trigger.channels {
            answer.insert(channel.clone(), info(state, channel, trigger.info).await?);
        }
    }
    state.realtime.broadcast(Body::Published {
        event: trigger.name,
        data: trigger.data,
        channels: trigger.channels,
        except_socket: trigger.except_socket,
    });
    Ok(answer)
}

/// A channel's counts, as asked for.
pub async fn info(
    state: &AppState,
    channel: &str,
    asked: Info,
) -> Result<ChannelInfo, PusherError> {
    let presence = &state.realtime.presence;
    let mut info = ChannelInfo::default();
    if asked.subscription_count {
        let key = PresenceKey::Occupied(channel.to_string());
        info.subscription_count = Some(presence.count(&key).await.map_err(PusherError::internal)?);
    }
    if asked.user_count {
        info.user_count = Some(members(state, channel).await?.len() as u64);
    }
    Ok(info)
}

/// Whether anyone subscribes to the channel, anywhere.
pub async fn occupied(state: &AppState, channel: &str) -> Result<bool, PusherError> {
    let key = PresenceKey::Occupied(channel.to_string());
    let count = state
        .realtime
        .presence
        .count(&key)
        .await
        .map_err(PusherError::internal)?;
    Ok(count > 0)
}

/// The occupied channels whose names start with `prefix`.
pub async fn channels(state: &AppState, prefix: &str) -> Result<Vec<String>, PusherError> {
    let mut names = state
        .realtime
        .presence
        .occupied()
        .await
        .map_err(PusherError::internal)?;
    names.retain(|name| name.starts_with(prefix));
    names.sort_unstable();
    Ok(names)
}

/// A presence channel's members' ids.
pub async fn members(state: &AppState, channel: &str) -> Result<Vec<i64>, PusherError> {
    if !Channel::is_presence(channel) {
        return Err(PusherError::bad_request(
            "Users are only available for presence channels",
        ));
    }
    let mut ids: Vec<i64> = state
        .realtime
        .presence
        .roster(channel)
        .await
        .map_err(PusherError::internal)?
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

/// Closes every socket of the user, on every node.
pub fn terminate(state: &AppState, user: i64) {
    state.realtime.broadcast(Body::Terminate { user });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(body: Value) -> TriggerRequest {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn applies_pushers_limits() {
        let ok = check(
            request(json!({"name": "e", "data": "{}", "channels": ["a", "a", "b"]})),
            10,
        )
        .unwrap();
        assert_eq!(ok.channels, vec!["a", "b"]);
        let status =
            |body: Value, max: usize| check(request(body), max).err().map(|e| e.status.as_u16());
        assert_eq!(
            status(
                json!({"name": "e", "data": "x".repeat(11), "channel": "a"}),
                10
            ),
            Some(413)
        );
        let many: Vec<String> = (0..101).map(|i| format!("c{i}")).collect();
        assert_eq!(
            status(json!({"name": "e", "data": "", "channels": many}), 10),
            Some(400)
        );
        assert_eq!(
            status(json!({"name": "", "data": "", "channel": "a"}), 10),
            Some(400)
        );
        assert_eq!(
            status(json!({"name": "pusher:x", "data": "", "channel": "a"}), 10),
            Some(400)
        );
        assert_eq!(
            status(json!({"name": "e", "data": "", "channel": "bad name"}), 10),
            Some(400)
        );
        assert_eq!(
            status(
                json!({"name": "e", "data": "", "channel": "a", "socket_id": "x"}),
                10
            ),
            Some(400)
        );
        assert_eq!(
            status(
                json!({"name": "e", "data": "", "channel": "a", "info": "user_count"}),
                10
            ),
            Some(400)
        );
        assert_eq!(status(json!({"name": "e", "data": ""}), 10), Some(400));
        assert!(check(request(json!({"name": "e", "data": "", "channel": "presence-x", "info": "user_count,subscription_count"})), 10).is_ok());
    }
}
