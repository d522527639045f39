//! The Pusher Channels protocol, version 7: parsing what clients send and
//! writing what the server sends. Parsing never panics: anything that is not a
//! frame natter understands comes back as [`ParseError`].
//!
//! Frames are JSON objects `{"event", "channel"?, "data"?}`. From the server,
//! `data` is a JSON *string* (pusher-js parses it again); clients send it either
//! way, so both are accepted.

use serde::Deserialize;
use serde_json::Value;

/// Pusher's error codes that natter uses.
pub mod codes {
    /// The app key in the URL is unknown (do not reconnect).
    pub const UNKNOWN_APP_KEY: u16 = 4001;
    /// A subscription or sign-in was not authorised.
    pub const UNAUTHORIZED: u16 = 4009;
    /// Over capacity (too many connections for this user): reconnect after a pause.
    pub const OVER_CAPACITY: u16 = 4100;
    /// Please reconnect: the socket fell behind; resync from the log.
    pub const RECONNECT: u16 = 4200;
    /// No pong to the server's ping.
    pub const PONG_NOT_RECEIVED: u16 = 4201;
    /// Client event refused: over the per-socket rate limit.
    pub const CLIENT_EVENT_RATE_LIMIT: u16 = 4301;
    /// Subscription refused: the socket holds WS_MAX_SUBSCRIPTIONS already.
    pub const TOO_MANY_SUBSCRIPTIONS: u16 = 4303;
}

/// Largest channel name Pusher allows.
pub const MAX_CHANNEL_LEN: usize = 200;

/// What a client can say.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientFrame {
    Ping,
    Pong,
    Subscribe {
        channel: String,
        auth: Option<String>,
        channel_data: Option<String>,
    },
    Unsubscribe {
        channel: String,
    },
    Signin {
        user_data: String,
        auth: String,
    },
    /// A `client-*` event (a whisper) for the other subscribers of a channel.
    ClientEvent {
        event: String,
        channel: String,
        data: Value,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("Invalid message format")]
    NotJson,
    #[error("Missing or invalid field: {0}")]
    Field(&'static str),
    #[error("Unsupported event: {0}")]
    Unknown(String),
}

#[derive(Deserialize)]
struct RawFrame {
    event: Option<Value>,
    channel: Option<Value>,
    data: Option<Value>,
}

/// Parses one text frame.
pub fn parse(text: &str) -> Result<ClientFrame, ParseError> {
    let raw: RawFrame = serde_json::from_str(text).map_err(|_| ParseError::NotJson)?;
    let event = match raw.event {
        Some(Value::String(event)) => event,
        _ => return Err(ParseError::Field("event")),
    };
    let data = normalise_data(raw.data);
    match event.as_str() {
        "pusher:ping" => Ok(ClientFrame::Ping),
        "pusher:pong" => Ok(ClientFrame::Pong),
        "pusher:subscribe" => Ok(ClientFrame::Subscribe {
            channel: channel_field(&data)?,
            auth: string_field(&data, "auth"),
            channel_data: string_field(&data, "channel_data"),
        }),
        "pusher:unsubscribe" => Ok(ClientFrame::Unsubscribe {
            channel: channel_field(&data)?,
        }),
        "pusher:signin" => Ok(ClientFrame::Signin {
            user_data: string_field(&data, "user_data").ok_or(ParseError::Field("user_data"))?,
            auth: string_field(&data, "auth").ok_or(ParseError::Field("auth"))?,
        }),
        name if name.starts_with("client-") => {
            let channel = match raw.channel {
                Some(Value::String(c)) if valid_channel(&c) => c,
                _ => return Err(ParseError::Field("channel")),
            };
            Ok(ClientFrame::ClientEvent {
                event: event.clone(),
                channel,
                data,
            })
        }
        _ => Err(ParseError::Unknown(event.chars().take(64).collect())),
    }
}

/// `data` may arrive as an object or as a string holding JSON.
fn normalise_data(data: Option<Value>) -> Value {
    match data {
        Some(Value::String(text)) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
        Some(other) => other,
        None => Value::Null,
    }
}

fn string_field(data: &Value, name: &str) -> Option<String> {
    data.get(name).and_then(Value::as_str).map(str::to_string)
}

fn channel_field(data: &Value) -> Result<String, ParseError> {
    match string_field(data, "channel") {
        Some(channel) if valid_channel(&channel) => Ok(channel),
        _ => Err(ParseError::Field("channel")),
    }
}

/// Pusher's channel-name rule: 1 to 200 of `[A-Za-z0-9_\-=@,.;]`; `#` only
/// in Pusher's own `#server-to-user-{id}` (pusher-js subscribes to it after
/// `signin()`).
pub fn valid_channel(name: &str) -> bool {
    let rest = name.strip_prefix(SERVER_TO_USER_PREFIX).unwrap_or(name);
    !rest.is_empty()
        && name.len() <= MAX_CHANNEL_LEN
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-=@,.;".contains(&b))
}

/// The prefix of the channel a signed-in user's socket hears "send to user" on.
pub const SERVER_TO_USER_PREFIX: &str = "#server-to-user-";

/// A server frame whose `data` is `data_json` (a JSON document, sent as a string).
pub fn frame(event: &str, channel: Option<&str>, data_json: &str) -> String {
    let mut out = String::with_capacity(data_json.len() + event.len() + 64);
    out.push_str("{\"event\":");
    out.push_str(&json_string(event));
    if let Some(channel) = channel {
        out.push_str(",\"channel\":");
        out.push_str(&json_string(channel));
    }
    out.push_str(",\"data\":");
    out.push_str(&json_string(data_json));
    out.push('}');
    out
}

/// The frame of an event for one channel, from the event's data already
/// escaped as a JSON string by [`json_string`]: the costly escaping happens
/// once per event, not once per channel.
pub fn frame_with_escaped(event_json: &str, channel: &str, escaped_data: &str) -> String {
    let mut out = String::with_capacity(escaped_data.len() + event_json.len() + channel.len() + 40);
    out.push_str("{\"event\":");
    out.push_str(event_json);
    out.push_str(",\"channel\":\"");
    // Channel names are validated to need no escaping.
    out.push_str(channel);
    out.push_str("\",\"data\":");
    out.push_str(escaped_data);
    out.push('}');
    out
}

/// `text` as a JSON string literal.
pub fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_string())
}

/// A presence channel's member came or went (the data names them).
pub const MEMBER_ADDED: &str = "pusher_internal:member_added";
pub const MEMBER_REMOVED: &str = "pusher_internal:member_removed";

pub fn connection_established(socket_id: &str, activity_timeout: u64) -> String {
    let data = serde_json::json!({ "socket_id": socket_id, "activity_timeout": activity_timeout });
    frame("pusher:connection_established", None, &data.to_string())
}

pub fn pong() -> String {
    frame("pusher:pong", None, "{}")
}

pub fn ping() -> String {
    frame("pusher:ping", None, "{}")
}

/// `pusher:error`; its data is an object (as Pusher's own servers send it).
pub fn error(code: Option<u16>, message: &str) -> String {
    let data = serde_json::json!({ "code": code, "message": message });
    format!("{{\"event\":\"pusher:error\",\"data\":{data}}}")
}

pub fn subscription_succeeded(channel: &str, data_json: &str) -> String {
    frame(
        "pusher_internal:subscription_succeeded",
        Some(channel),
        data_json,
    )
}

/// Tells pusher-js (and so laravel-echo's `.error()`) that a subscription failed.
pub fn subscription_error(channel: &str, status: u16, message: &str) -> String {
    let data = serde_json::json!({ "type": "AuthError", "error": message, "status": status });
    frame(
        "pusher:subscription_error",
        Some(channel),
        &data.to_string(),
    )
}

pub fn signin_success(user_data: &str) -> String {
    let data = serde_json::json!({ "user_data": user_data });
    frame("pusher:signin_success", None, &data.to_string())
}

/// A whisper relayed as is (data stays an object, as the sender sent it).
pub fn client_event(event: &str, channel: &str, data: &Value, user_id: Option<i64>) -> String {
    let mut frame = serde_json::json!({ "event": event, "channel": channel, "data": data });
    if let Some(user_id) = user_id {
        frame["user_id"] = Value::String(user_id.to_string());
    }
    frame.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_what_pusher_js_sends() {
        assert_eq!(
            parse(r#"{"event":"pusher:ping","data":{}}"#),
            Ok(ClientFrame::Ping)
        );
        assert_eq!(
            parse(
                r#"{"event":"pusher:subscribe","data":{"auth":"k:abc","channel":"private-chat.5"}}"#
            ),
            Ok(ClientFrame::Subscribe {
                channel: "private-chat.5".into(),
                auth: Some("k:abc".into()),
                channel_data: None
            })
        );
        assert_eq!(
            parse(r#"{"event":"client-typing","channel":"private-chat.5","data":{"user":1}}"#),
            Ok(ClientFrame::ClientEvent {
                event: "client-typing".into(),
                channel: "private-chat.5".into(),
                data: serde_json::json!({"user": 1})
            })
        );
        // Data sent as a string holding JSON.
        assert!(matches!(
            parse(r#"{"event":"pusher:unsubscribe","data":"{\"channel\":\"x\"}"}"#),
            Ok(ClientFrame::Unsubscribe { .. })
        ));
    }

    #[test]
    fn refuses_garbage_without_panicking() {
        for bad in [
            "",
            "{",
            "[]",
            "null",
            "42",
            r#"{"event":5}"#,
            r#"{"event":"pusher:subscribe"}"#,
            r#"{"event":"pusher:subscribe","data":{"channel":"bad channel"}}"#,
            r#"{"event":"client-x","channel":"","data":{}}"#,
            r##"{"event":"pusher:subscribe","data":{"channel":"#server-to-user-"}}"##,
            r##"{"event":"pusher:subscribe","data":{"channel":"#other-1"}}"##,
            r#"{"event":"whatever"}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn frames_carry_data_as_a_string() {
        let frame: Value = serde_json::from_str(&frame(
            "App\\Events\\X",
            Some("private-user.1"),
            r#"{"a":1}"#,
        ))
        .unwrap();
        assert_eq!(frame["event"], "App\\Events\\X");
        assert_eq!(frame["data"], r#"{"a":1}"#);
        let escaped = json_string(r#"{"a":"\"q\""}"#);
        let fast: Value =
            serde_json::from_str(&frame_with_escaped("\"E\"", "c", &escaped)).unwrap();
        assert_eq!(fast["data"], r#"{"a":"\"q\""}"#);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn parse_never_panics(text in ".{0,300}") {
            let _ = parse(&text);
        }

        #[test]
        fn parse_never_panics_on_framelike_json(event in ".{0,40}", channel in ".{0,40}", data in ".{0,80}") {
            let text = serde_json::json!({"event": event, "channel": channel, "data": data}).to_string();
            let _ = parse(&text);
        }
    }
}
