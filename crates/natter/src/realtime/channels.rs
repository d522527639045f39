//! Channel names, and the signatures that prove a subscription was allowed
//! (who may join which channel is the application's answer: [`super::Policy`]).
//!
//! Signatures are Pusher's: `<key>:<hex HMAC-SHA256(secret, "socket_id:channel[:channel_data]")>`,
//! and for user sign-in `HMAC(secret, "socket_id::user::user_data")`.

use super::protocol::SERVER_TO_USER_PREFIX;
use crate::secrets::{constant_time_eq, hmac_sha256_hex};

/// The channels of API.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// `private-user.{id}`: only that user.
    User(i64),
    /// `private-chat.{id}`: the chat's current participants.
    Chat(i64),
    /// `presence-chat.{id}`: who is looking at the chat (its participants).
    ChatPresence(i64),
    /// `private-call.{id}`: the call's participants.
    Call(i64),
    /// `#server-to-user-{id}`: the sockets signed in (`pusher:signin`) as that
    /// user; what the Pusher HTTP API sends to the user ("send to user").
    ServerToUser(i64),
    /// Any name without a private/presence prefix: anyone may listen; only the
    /// Pusher HTTP API publishes there.
    Public,
    /// A private or presence name natter does not serve: nobody may join.
    Unknown,
}

impl Channel {
    pub fn parse(name: &str) -> Channel {
        // Canonical ids only: `private-user.03` or `+3` is not user 3's
        // channel (it would be signed as theirs yet delivered nothing, or
        // worse, be another channel that a check took for theirs).
        let id = |prefix: &str| {
            name.strip_prefix(prefix)
                .filter(|rest| !rest.starts_with('0') && rest.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|rest| rest.parse::<i64>().ok())
                .filter(|id| *id > 0)
        };
        if let Some(id) = id("private-user.") {
            Channel::User(id)
        } else if let Some(id) = id("private-chat.") {
            Channel::Chat(id)
        } else if let Some(id) = id("presence-chat.") {
            Channel::ChatPresence(id)
        } else if let Some(id) = id("private-call.") {
            Channel::Call(id)
        } else if let Some(id) = id(SERVER_TO_USER_PREFIX) {
            Channel::ServerToUser(id)
        } else if name.starts_with("private-")
            || name.starts_with("presence-")
            || name.starts_with('#')
        {
            Channel::Unknown
        } else {
            Channel::Public
        }
    }

    pub fn needs_auth(name: &str) -> bool {
        name.starts_with("private-") || name.starts_with("presence-")
    }

    pub fn is_presence(name: &str) -> bool {
        name.starts_with("presence-")
    }
}

pub fn user_channel(user_id: i64) -> String {
    format!("private-user.{user_id}")
}

pub fn chat_channel(chat_id: i64) -> String {
    format!("private-chat.{chat_id}")
}

pub fn call_channel(call_id: i64) -> String {
    format!("private-call.{call_id}")
}

pub fn chat_presence_channel(chat_id: i64) -> String {
    format!("presence-chat.{chat_id}")
}

fn string_to_sign(socket_id: &str, channel: &str, channel_data: Option<&str>) -> String {
    match channel_data {
        Some(data) => format!("{socket_id}:{channel}:{data}"),
        None => format!("{socket_id}:{channel}"),
    }
}

/// The `auth` value for a subscription.
pub fn sign(
    key: &str,
    secret: &str,
    socket_id: &str,
    channel: &str,
    channel_data: Option<&str>,
) -> String {
    let signature = hmac_sha256_hex(
        secret.as_bytes(),
        string_to_sign(socket_id, channel, channel_data).as_bytes(),
    );
    format!("{key}:{signature}")
}

/// Checks a subscription's `auth` in constant time.
pub fn verify(
    key: &str,
    secret: &str,
    socket_id: &str,
    channel: &str,
    channel_data: Option<&str>,
    auth: &str,
) -> bool {
    constant_time_eq(auth, &sign(key, secret, socket_id, channel, channel_data))
}

/// The `auth` value for `pusher:signin`.
pub fn sign_user(key: &str, secret: &str, socket_id: &str, user_data: &str) -> String {
    let signature = hmac_sha256_hex(
        secret.as_bytes(),
        format!("{socket_id}::user::{user_data}").as_bytes(),
    );
    format!("{key}:{signature}")
}

/// Pusher socket ids are two integers joined by a dot.
pub fn valid_socket_id(socket_id: &str) -> bool {
    match socket_id.split_once('.') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.len() <= 20
                && b.len() <= 20
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_pusher() {
        // The example of Pusher's channel authorisation docs.
        let auth = sign(
            "278d425bdf160c739803",
            "7ad3773142a6692b25b8",
            "1234.1234",
            "private-foobar",
            None,
        );
        assert_eq!(
            auth,
            "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        );
        assert!(verify(
            "278d425bdf160c739803",
            "7ad3773142a6692b25b8",
            "1234.1234",
            "private-foobar",
            None,
            &auth
        ));
        assert!(!verify(
            "278d425bdf160c739803",
            "7ad3773142a6692b25b8",
            "1234.1235",
            "private-foobar",
            None,
            &auth
        ));
    }

    #[test]
    fn presence_signatures_cover_channel_data() {
        let data = r#"{"user_id":10,"user_info":{"name":"Mr. Channels"}}"#;
        let auth = sign(
            "278d425bdf160c739803",
            "7ad3773142a6692b25b8",
            "1234.1234",
            "presence-foobar",
            Some(data),
        );
        assert_eq!(
            auth,
            "278d425bdf160c739803:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80"
        );
    }

    #[test]
    fn classifies_channels() {
        assert_eq!(Channel::parse("private-user.7"), Channel::User(7));
        assert_eq!(Channel::parse("private-chat.12"), Channel::Chat(12));
        assert_eq!(
            Channel::parse("presence-chat.12"),
            Channel::ChatPresence(12)
        );
        assert_eq!(Channel::parse("private-chat.x"), Channel::Unknown);
        assert_eq!(Channel::parse("private-chat.-1"), Channel::Unknown);
        assert_eq!(Channel::parse("news"), Channel::Public);
        assert_eq!(
            Channel::parse("#server-to-user-9"),
            Channel::ServerToUser(9)
        );
        assert_eq!(Channel::parse("#server-to-user-x"), Channel::Unknown);
        assert!(valid_socket_id("123.456"));
        assert!(!valid_socket_id("123"));
        assert!(!valid_socket_id("1.2.3"));
        assert!(!valid_socket_id("a.b"));
    }
}
