//! The `apns` driver: Apple Push Notification service over HTTP/2 with
//! token-based auth.
//!
//! The provider token is an ES256 JWT (`kid` = APNS_KEY_ID, `iss` =
//! APNS_TEAM_ID, `iat`) signed with the .p8 key; Apple refuses tokens older
//! than an hour and throttles new ones made more often than every 20 minutes,
//! so one is kept for 50 minutes. Each push is `POST /3/device/{token}`.
//!
//! - A message is an `alert` push (priority 10) with generic text and
//!   `mutable-content`, so a Notification Service Extension can fetch the
//!   message and show it; collapsed per chat (`apns-collapse-id`), grouped per
//!   chat (`thread-id`), kept by Apple for a day.
//! - A call to a PushKit token (`voip:<hex>`) is a `voip` push on topic
//!   `<APNS_TOPIC>.voip`, which iOS delivers at once to the app, which must
//!   report it to CallKit (so the phone rings). A call to a regular token is a
//!   time-sensitive alert. Calls expire after a minute.
//! - 410, `BadDeviceToken`, `Unregistered` and `DeviceTokenNotForTopic` mean
//!   the token is dead; `ExpiredProviderToken` renews the provider token and
//!   retries.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::jwt::{self, Es256};
use super::response;
use super::{APNS_VOIP_PREFIX, Notification, PushDriver, PushError, PushEvent, Target};
use crate::config::{SettingError, Settings};

/// How long a provider token is used (Apple: between 20 and 60 minutes).
const PROVIDER_TOKEN_LIFETIME: Duration = Duration::from_secs(50 * 60);

pub struct Apns {
    http: reqwest::Client,
    api_url: String,
    topic: String,
    key_id: String,
    team_id: String,
    key: Es256,
    provider_token: parking_lot::Mutex<Option<(String, Instant)>>,
}

fn required(value: &Option<String>, name: &'static str) -> Result<String, SettingError> {
    value.clone().filter(|v| !v.is_empty()).ok_or(SettingError {
        name,
        reason: "is required when PUSH_DRIVER includes apns".into(),
    })
}

impl Apns {
    pub fn from_settings(settings: &Settings, http: reqwest::Client) -> Result<Apns, SettingError> {
        let key_error = |reason: String| SettingError {
            name: "APNS_KEY_FILE",
            reason,
        };
        let path = settings
            .apns_key_file
            .as_ref()
            .ok_or_else(|| key_error("is required when PUSH_DRIVER includes apns".into()))?;
        let pem = std::fs::read_to_string(path)
            .map_err(|e| key_error(format!("cannot read {}: {e}", path.display())))?;
        let key =
            Es256::from_pem(&pem).map_err(|e| key_error(format!("{}: {e}", path.display())))?;
        Ok(Apns {
            http,
            api_url: settings.apns_api_url.trim_end_matches('/').to_string(),
            topic: required(&settings.apns_topic, "APNS_TOPIC")?,
            key_id: required(&settings.apns_key_id, "APNS_KEY_ID")?,
            team_id: required(&settings.apns_team_id, "APNS_TEAM_ID")?,
            key,
            provider_token: parking_lot::Mutex::new(None),
        })
    }

    fn provider_token(&self) -> Result<String, PushError> {
        if let Some((token, made)) = self.provider_token.lock().as_ref()
            && made.elapsed() < PROVIDER_TOKEN_LIFETIME
        {
            return Ok(token.clone());
        }
        let claims = json!({"iss": self.team_id, "iat": chrono::Utc::now().timestamp()});
        let token = self
            .key
            .sign(&jwt::header("ES256", Some(&self.key_id)), &claims)
            .map_err(PushError::Failed)?;
        *self.provider_token.lock() = Some((token.clone(), Instant::now()));
        Ok(token)
    }

    fn forget_provider_token(&self) {
        *self.provider_token.lock() = None;
    }
}

/// The request one push becomes: the headers Apple reads, and the payload.
pub struct Request {
    pub device_token: String,
    pub headers: Vec<(&'static str, String)>,
    pub payload: Value,
}

/// Builds the push for `target`, or says why it cannot be sent.
pub fn request(
    topic: &str,
    target: &Target,
    notification: &Notification,
) -> Result<Request, PushError> {
    let (voip, token) = match target.token.strip_prefix(APNS_VOIP_PREFIX) {
        Some(token) => (true, token),
        None => (false, target.token.as_str()),
    };
    // Apple's tokens are hex; anything else would also change the request path.
    if token.is_empty() || !token.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(PushError::DeadToken);
    }
    let call = notification.is_call();
    if voip && !call {
        return Err(PushError::Failed(
            "an APNs VoIP token takes call pushes only".into(),
        ));
    }
    let expires = chrono::Utc::now().timestamp() + notification.time_to_live().as_secs() as i64;
    let mut headers = vec![
        ("apns-priority", "10".to_string()),
        ("apns-expiration", expires.to_string()),
    ];
    let natter = Value::Object(notification.wire(target.device_id));
    let payload = if voip {
        headers.push(("apns-push-type", "voip".into()));
        headers.push(("apns-topic", format!("{topic}.voip")));
        json!({"aps": {}, "natter": natter})
    } else {
        headers.push(("apns-push-type", "alert".into()));
        headers.push(("apns-topic", topic.to_string()));
        if let Some(key) = notification.collapse_key() {
            headers.push(("apns-collapse-id", key));
        }
        json!({"aps": alert(notification), "natter": natter})
    };
    Ok(Request {
        device_token: token.to_string(),
        headers,
        payload,
    })
}

/// The `aps` of an alert: generic text (the sender's name only when the
/// recipient opted in), sound, and `mutable-content` for the app's extension.
fn alert(notification: &Notification) -> Value {
    let body = match notification.event {
        PushEvent::Message { .. } if notification.mention => "Mentioned you",
        PushEvent::Message { .. } => "New message",
        PushEvent::Call { .. } => "Incoming call",
    };
    let mut alert = json!({"body": body});
    if let Some(name) = &notification.sender_name {
        alert["title"] = name.clone().into();
    }
    let mut aps = json!({
        "alert": alert,
        "sound": "default",
        "mutable-content": 1,
        "thread-id": format!("chat-{}", notification.chat_id),
    });
    if notification.is_call() {
        aps["interruption-level"] = "time-sensitive".into();
    }
    aps
}

/// Apple's reasons that mean the token will never work for this app.
fn dead_token(status: StatusCode, reason: &str) -> bool {
    status == StatusCode::GONE
        || matches!(
            reason,
            "BadDeviceToken" | "Unregistered" | "DeviceTokenNotForTopic"
        )
}

#[async_trait::async_trait]
impl PushDriver for Apns {
    fn name(&self) -> &'static str {
        "apns"
    }

    async fn send(&self, target: &Target, notification: &Notification) -> Result<(), PushError> {
        let push = request(&self.topic, target, notification)?;
        let mut builder = self
            .http
            .post(format!("{}/3/device/{}", self.api_url, push.device_token))
            .bearer_auth(self.provider_token()?)
            .json(&push.payload);
        for (name, value) in &push.headers {
            builder = builder.header(*name, value);
        }
        let response = builder
            .send()
            .await
            .map_err(|e| response::transport("APNs", e))?;
        if response.status().is_success() {
            return Ok(());
        }
        let (status, headers, text) = response::read(response).await;
        let reason = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["reason"].as_str().map(str::to_string))
            .unwrap_or_default();
        if dead_token(status, &reason) {
            return Err(PushError::DeadToken);
        }
        if reason == "ExpiredProviderToken" {
            self.forget_provider_token();
            return Err(PushError::Retry {
                after: None,
                reason: "APNs found the provider token expired; a new one will be made".into(),
            });
        }
        Err(response::by_status("APNs", status, &headers, &text))
    }
}
