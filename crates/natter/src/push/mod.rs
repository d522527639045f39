//! Push notifications: one trait, five drivers chosen by PUSH_DRIVER
//! (docs/push.md).
//!
//! - `log`: one INFO line per push (no token, no content). The default.
//! - `webhook`: a signed JSON POST to the device's URL or PUSH_WEBHOOK_URL.
//! - `fcm`: Firebase Cloud Messaging, HTTP v1 API, service-account OAuth.
//! - `apns`: Apple Push Notification service, token-based auth, HTTP/2.
//! - `webpush`: the Web Push protocol (RFC 8030) with VAPID (RFC 8292) and
//!   aes128gcm payload encryption (RFC 8291).
//!
//! A push carries no message content: what happened (a message or a call),
//! where (chat id), the ids to fetch, and the sender's name only when the
//! recipient opted in. The app fetches the rest over the API.
//!
//! This module only sends. Who gets a push, when, and collapsing them is the
//! caller's (a job handler's) business; a [`PushError`] tells it what to do
//! next: drop the device, retry later, or give up.

mod apns;
mod fcm;
pub mod guard;
mod jwt;
mod log;
mod response;
mod webhook;
mod webpush;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::clock::format_ms;
use crate::config::{Config, PushDriverKind, SettingError};
use crate::telemetry::PUSHES;

/// Where a device's pushes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Fcm,
    Apns,
    Webpush,
    Webhook,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Fcm => "fcm",
            Platform::Apns => "apns",
            Platform::Webpush => "webpush",
            Platform::Webhook => "webhook",
        }
    }

    pub fn parse(text: &str) -> Option<Platform> {
        match text {
            "fcm" => Some(Platform::Fcm),
            "apns" => Some(Platform::Apns),
            "webpush" => Some(Platform::Webpush),
            "webhook" => Some(Platform::Webhook),
            _ => None,
        }
    }
}

/// One device to push to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub platform: Platform,
    /// FCM registration token; APNs device token in hex (`voip:<hex>` for a
    /// PushKit VoIP token); Web Push subscription JSON; webhook URL (or any
    /// string, with PUSH_WEBHOOK_URL).
    pub token: String,
    pub device_id: i64,
}

/// Prefix of an APNs token that came from PushKit (VoIP) rather than from
/// the regular registration.
pub const APNS_VOIP_PREFIX: &str = "voip:";

impl Target {
    /// Whether this device may be sent `notification`: Apple lets a VoIP
    /// token carry calls only (an app must ring for every VoIP push).
    pub fn accepts(&self, notification: &Notification) -> bool {
        let voip = self.platform == Platform::Apns && self.token.starts_with(APNS_VOIP_PREFIX);
        !voip || notification.is_call()
    }
}

/// What a push is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PushEvent {
    Message { message_id: i64 },
    Call { call_id: i64 },
}

/// A push, before it is addressed to a device. Serialisable so a job can carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    #[serde(flatten)]
    pub event: PushEvent,
    pub chat_id: i64,
    /// Unix milliseconds: when the message was sent or the call started.
    pub sent_at: i64,
    /// Only when the recipient opted in to content in pushes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_name: Option<String>,
    /// The message mentions the recipient; said only with content (as the
    /// sender's name is), so it is never true without `sender_name`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mention: bool,
}

impl Notification {
    pub fn is_call(&self) -> bool {
        matches!(self.event, PushEvent::Call { .. })
    }

    /// The JSON every driver delivers (API.md, "Push"): `type`, `chat_id`,
    /// `message_id` or `call_id`, `device_id`, `sent_at`, and `sender_name`
    /// when set (with `mention: true` when the message mentions the recipient).
    pub fn wire(&self, device_id: i64) -> serde_json::Map<String, serde_json::Value> {
        let mut body = serde_json::Map::new();
        let (kind, id_field, id) = match self.event {
            PushEvent::Message { message_id } => ("message", "message_id", message_id),
            PushEvent::Call { call_id } => ("call", "call_id", call_id),
        };
        body.insert("type".into(), kind.into());
        body.insert("chat_id".into(), self.chat_id.into());
        body.insert(id_field.into(), id.into());
        body.insert("device_id".into(), device_id.into());
        body.insert("sent_at".into(), format_ms(self.sent_at).into());
        if let Some(name) = &self.sender_name {
            body.insert("sender_name".into(), name.clone().into());
        }
        if self.mention {
            body.insert("mention".into(), true.into());
        }
        body
    }

    /// Pushes with the same key replace each other on the device or at the
    /// provider while undelivered: one per chat for messages; calls never
    /// collapse.
    pub fn collapse_key(&self) -> Option<String> {
        match self.event {
            PushEvent::Message { .. } => Some(format!("chat-{}", self.chat_id)),
            PushEvent::Call { .. } => None,
        }
    }

    /// How long a provider should keep trying to deliver: a day for a message,
    /// a minute for a call (a call nobody saw ringing is missed anyway).
    pub fn time_to_live(&self) -> Duration {
        match self.event {
            PushEvent::Message { .. } => Duration::from_secs(86_400),
            PushEvent::Call { .. } => Duration::from_secs(60),
        }
    }
}

/// Why a push was not delivered, and so what to do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The provider says the token will never work again: remove the device.
    #[error("the device token is no longer valid")]
    DeadToken,
    /// Worth trying again: a rate limit, a provider outage, a network error.
    /// `after` is the provider's Retry-After when it gave one.
    #[error("temporary failure: {reason}")]
    Retry {
        after: Option<Duration>,
        reason: String,
    },
    /// Trying again will not help (a refused request, a bad setting).
    #[error("push failed: {0}")]
    Failed(String),
}

impl PushError {
    fn outcome(&self) -> &'static str {
        match self {
            PushError::DeadToken => "dead_token",
            PushError::Retry { .. } => "retry",
            PushError::Failed(_) => "failed",
        }
    }
}

#[async_trait::async_trait]
pub trait PushDriver: Send + Sync {
    /// The driver's name in metrics and logs.
    fn name(&self) -> &'static str;

    async fn send(&self, target: &Target, notification: &Notification) -> Result<(), PushError>;
}

/// The configured drivers, routed by platform, with metrics.
pub struct Push {
    by_platform: HashMap<Platform, Arc<dyn PushDriver>>,
    /// `webhook` or `log`: takes the platforms no driver is named after.
    fallback: Option<Arc<dyn PushDriver>>,
}

impl Push {
    /// A router over explicit drivers (tests, or a server that builds its own).
    pub fn new(
        by_platform: HashMap<Platform, Arc<dyn PushDriver>>,
        fallback: Option<Arc<dyn PushDriver>>,
    ) -> Push {
        Push {
            by_platform,
            fallback,
        }
    }

    /// The driver that takes `platform`'s devices, if any.
    pub fn driver_for(&self, platform: Platform) -> Option<&Arc<dyn PushDriver>> {
        self.by_platform.get(&platform).or(self.fallback.as_ref())
    }

    /// Whether some driver takes `platform`'s devices.
    pub fn supports(&self, platform: Platform) -> bool {
        self.driver_for(platform).is_some()
    }

    /// Sends through the driver for `target.platform`, counting the outcome.
    pub async fn send(
        &self,
        target: &Target,
        notification: &Notification,
    ) -> Result<(), PushError> {
        let Some(driver) = self.driver_for(target.platform) else {
            let err = PushError::Failed(format!(
                "no push driver takes {} devices (PUSH_DRIVER)",
                target.platform.as_str()
            ));
            metrics::counter!(PUSHES, "driver" => "none", "outcome" => err.outcome()).increment(1);
            return Err(err);
        };
        if !target.accepts(notification) {
            return Err(PushError::Failed(
                "an APNs VoIP token takes call pushes only".into(),
            ));
        }
        let result = driver.send(target, notification).await;
        let outcome = match &result {
            Ok(()) => "sent",
            Err(err) => err.outcome(),
        };
        metrics::counter!(PUSHES, "driver" => driver.name(), "outcome" => outcome).increment(1);
        result
    }
}

/// Builds the drivers PUSH_DRIVER lists, reading their key files. A missing
/// or unreadable key stops the server at start with the setting's name.
pub fn from_config(config: &Config) -> Result<Push, SettingError> {
    let settings = &config.settings;
    let http = response::client(false, false)?;
    // Webhook URLs and Web Push endpoints are the clients' choice (guard.rs).
    let allow_private = settings.push_allow_private_targets;
    let guarded = response::client(false, !allow_private)?;
    let mut by_platform: HashMap<Platform, Arc<dyn PushDriver>> = HashMap::new();
    let mut fallback: Option<Arc<dyn PushDriver>> = None;
    for kind in &settings.push_driver {
        match kind {
            PushDriverKind::Log => {
                fallback.get_or_insert_with(|| Arc::new(log::LogPush));
            }
            PushDriverKind::Webhook => {
                let driver: Arc<dyn PushDriver> = Arc::new(webhook::Webhook::from_settings(
                    settings,
                    http.clone(),
                    guarded.clone(),
                )?);
                by_platform.insert(Platform::Webhook, driver.clone());
                // The webhook takes every platform no other driver takes.
                fallback = Some(driver);
            }
            PushDriverKind::Fcm => {
                let driver = fcm::Fcm::from_settings(settings, http.clone())?;
                by_platform.insert(Platform::Fcm, Arc::new(driver));
            }
            PushDriverKind::Apns => {
                let driver = apns::Apns::from_settings(settings, response::client(true, false)?)?;
                by_platform.insert(Platform::Apns, Arc::new(driver));
            }
            PushDriverKind::Webpush => {
                let driver = webpush::WebPush::from_settings(settings, guarded.clone())?;
                by_platform.insert(Platform::Webpush, Arc::new(driver));
            }
        }
    }
    Ok(Push::new(by_platform, fallback))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> Notification {
        Notification {
            event: PushEvent::Message { message_id: 7 },
            chat_id: 3,
            sent_at: 1_795_982_462_345,
            sender_name: None,
            mention: false,
        }
    }

    #[test]
    fn the_wire_body_is_content_free_unless_opted_in() {
        let body = serde_json::Value::Object(message().wire(9));
        assert_eq!(
            body,
            serde_json::json!({"type": "message", "chat_id": 3, "message_id": 7, "device_id": 9,
                "sent_at": "2026-11-29T20:01:02.345Z"})
        );
        let mut named = message();
        named.sender_name = Some("Ann".into());
        named.event = PushEvent::Call { call_id: 5 };
        let body = serde_json::Value::Object(named.wire(9));
        assert_eq!(body["type"], "call");
        assert_eq!(body["call_id"], 5);
        assert_eq!(body["sender_name"], "Ann");
        assert!(body.get("message_id").is_none());
    }

    #[test]
    fn notifications_round_trip_through_a_job_payload() {
        let n = message();
        let json = serde_json::to_value(&n).unwrap_or_default();
        assert_eq!(json["type"], "message");
        let back: Notification = serde_json::from_value(json).unwrap_or_else(|_| message());
        assert_eq!(back, n);
    }

    #[test]
    fn voip_tokens_take_calls_only() {
        let voip = Target {
            platform: Platform::Apns,
            token: "voip:abcd".into(),
            device_id: 1,
        };
        let mut call = message();
        call.event = PushEvent::Call { call_id: 1 };
        assert!(!voip.accepts(&message()));
        assert!(voip.accepts(&call));
        let plain = Target {
            token: "abcd".into(),
            ..voip
        };
        assert!(plain.accepts(&message()));
    }
}
