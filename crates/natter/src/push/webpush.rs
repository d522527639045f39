//! The `webpush` driver: the Web Push protocol (RFC 8030) as browsers' push
//! services speak it.
//!
//! The device token is the browser's `PushSubscription` as JSON
//! (`{"endpoint", "keys": {"p256dh", "auth"}}`, what `subscription.toJSON()`
//! gives). The push's JSON is encrypted for that subscription with
//! `aes128gcm` (RFC 8291) by the `web-push-native` crate, and the request
//! carries a VAPID JWT (RFC 8292: `aud` = the endpoint's origin, `exp` within
//! 24 hours, `sub` = VAPID_SUBJECT) signed with VAPID_PRIVATE_KEY, plus `TTL`,
//! `Urgency` (high for calls, normal for messages) and, for messages, `Topic`
//! so a newer push for the same chat replaces an undelivered one.
//! 404 and 410 mean the subscription is gone.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use serde::Deserialize;
use serde_json::json;
use web_push_native::{Auth, WebPushBuilder};

use super::jwt::{self, Es256};
use super::{Notification, PushDriver, PushError, Target};
use super::{guard, response};
use crate::config::{SettingError, Settings};

/// How long a VAPID token is valid (RFC 8292 allows at most 24 hours).
const VAPID_LIFETIME: Duration = Duration::from_secs(12 * 3600);

pub struct WebPush {
    /// Public addresses only, unless PUSH_ALLOW_PRIVATE_TARGETS (`guard.rs`).
    http: reqwest::Client,
    allow_private: bool,
    key: Es256,
    /// The public key, base64url: the `k` of the Authorization header.
    public_key: String,
    subject: String,
}

/// A browser's PushSubscription, as JSON.
#[derive(Deserialize)]
struct Subscription {
    endpoint: String,
    keys: Keys,
}

#[derive(Deserialize)]
struct Keys {
    p256dh: String,
    auth: String,
}

impl WebPush {
    pub fn from_settings(
        settings: &Settings,
        http: reqwest::Client,
    ) -> Result<WebPush, SettingError> {
        let key_error = |reason: String| SettingError {
            name: "VAPID_PRIVATE_KEY",
            reason,
        };
        let value = settings
            .vapid_private_key
            .as_deref()
            .ok_or_else(|| key_error("is required when PUSH_DRIVER includes webpush".into()))?;
        let key = vapid_key(value).map_err(key_error)?;
        let subject = settings.vapid_subject.clone().ok_or(SettingError {
            name: "VAPID_SUBJECT",
            reason: "is required when PUSH_DRIVER includes webpush".into(),
        })?;
        Ok(WebPush {
            http,
            allow_private: settings.push_allow_private_targets,
            public_key: URL_SAFE_NO_PAD.encode(key.public_key()),
            key,
            subject,
        })
    }

    /// `vapid t=<JWT>, k=<public key>` for `endpoint`.
    fn authorization(&self, endpoint: &reqwest::Url) -> Result<String, PushError> {
        let claims = json!({
            "aud": endpoint.origin().ascii_serialization(),
            "exp": chrono::Utc::now().timestamp() + VAPID_LIFETIME.as_secs() as i64,
            "sub": self.subject,
        });
        let token = self
            .key
            .sign(&jwt::header("ES256", None), &claims)
            .map_err(PushError::Failed)?;
        Ok(format!("vapid t={token}, k={}", self.public_key))
    }
}

/// VAPID_PRIVATE_KEY: a file holding a PEM or the base64url key, or the
/// base64url key itself.
fn vapid_key(value: &str) -> Result<Es256, String> {
    let path = std::path::Path::new(value);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        return if text.contains("-----BEGIN") {
            Es256::from_pem(&text)
        } else {
            Es256::from_base64url(&text)
        }
        .map_err(|e| format!("{}: {e}", path.display()));
    }
    Es256::from_base64url(value).map_err(|e| format!("neither a readable file nor a key: {e}"))
}

fn decode_key(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .ok()
}

/// The subscription's endpoint and encryption keys, or None when the token
/// cannot be a subscription (such a device can never get a push).
fn parse_subscription(token: &str) -> Option<(reqwest::Url, p256::PublicKey, Auth)> {
    let subscription: Subscription = serde_json::from_str(token).ok()?;
    let endpoint = reqwest::Url::parse(&subscription.endpoint).ok()?;
    if !matches!(endpoint.scheme(), "https" | "http") {
        return None;
    }
    let p256dh = p256::PublicKey::from_sec1_bytes(&decode_key(&subscription.keys.p256dh)?).ok()?;
    let auth = decode_key(&subscription.keys.auth)?;
    if auth.len() != 16 {
        return None;
    }
    Some((endpoint, p256dh, Auth::clone_from_slice(&auth)))
}

#[async_trait::async_trait]
impl PushDriver for WebPush {
    fn name(&self) -> &'static str {
        "webpush"
    }

    async fn send(&self, target: &Target, notification: &Notification) -> Result<(), PushError> {
        let Some((endpoint, p256dh, auth)) = parse_subscription(&target.token) else {
            return Err(PushError::DeadToken);
        };
        if !self.allow_private
            && let Some(reason) = guard::refusal(&endpoint)
        {
            return Err(PushError::Failed(format!("the endpoint {reason}")));
        }
        let uri = endpoint
            .as_str()
            .parse()
            .map_err(|_| PushError::DeadToken)?;
        let body = serde_json::Value::Object(notification.wire(target.device_id)).to_string();
        let encrypted = WebPushBuilder::new(uri, p256dh, auth)
            .with_valid_duration(notification.time_to_live())
            .build(body)
            .map_err(|e| PushError::Failed(format!("cannot encrypt the push: {e}")))?;
        let (parts, payload) = encrypted.into_parts();
        let mut request = self
            .http
            .post(endpoint.clone())
            .headers(parts.headers)
            .header(AUTHORIZATION, self.authorization(&endpoint)?)
            .header(
                "urgency",
                HeaderValue::from_static(if notification.is_call() {
                    "high"
                } else {
                    "normal"
                }),
            );
        if let Some(topic) = notification.collapse_key() {
            request = request.header("topic", topic);
        }
        let response = request
            .body(payload)
            .send()
            .await
            .map_err(|e| response::transport("the push service", e))?;
        if response.status().is_success() {
            return Ok(());
        }
        let (status, headers, text) = response::read(response).await;
        if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
            return Err(PushError::DeadToken);
        }
        Err(response::by_status(
            "the push service",
            status,
            &headers,
            &text,
        ))
    }
}
