//! The `webhook` driver: POSTs the push's JSON to the device's token when it
//! is an http(s) URL, else to PUSH_WEBHOOK_URL, signed so the receiver can
//! tell it came from this server and is fresh (docs/push.md):
//!
//! - `X-Natter-Timestamp: <unix seconds>`
//! - `X-Natter-Signature: sha256=<hex HMAC-SHA256(PUSH_WEBHOOK_SECRET, "<timestamp>.<raw body>")>`
//!
//! Any 2xx is delivered; 410 Gone means the device is gone; 429 and 5xx are
//! retried; anything else is a refusal.

use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;

use super::{Notification, PushDriver, PushError, Target};
use super::{guard, response};
use crate::config::{SettingError, Settings};
use crate::secrets::hmac_sha256_hex;

pub const TIMESTAMP_HEADER: &str = "x-natter-timestamp";
pub const SIGNATURE_HEADER: &str = "x-natter-signature";

pub struct Webhook {
    /// For PUSH_WEBHOOK_URL, the operator's own gateway (which may be private).
    http: reqwest::Client,
    /// For URLs devices registered: public addresses only, unless
    /// PUSH_ALLOW_PRIVATE_TARGETS (`guard.rs`).
    guarded: reqwest::Client,
    allow_private: bool,
    default_url: Option<String>,
    secret: String,
}

impl Webhook {
    pub fn from_settings(
        settings: &Settings,
        http: reqwest::Client,
        guarded: reqwest::Client,
    ) -> Result<Webhook, SettingError> {
        let secret = settings.push_webhook_secret.clone().ok_or(SettingError {
            name: "PUSH_WEBHOOK_SECRET",
            reason: "is required when PUSH_DRIVER includes webhook".into(),
        })?;
        Ok(Webhook {
            http,
            guarded,
            allow_private: settings.push_allow_private_targets,
            default_url: settings.push_webhook_url.clone(),
            secret,
        })
    }

    /// The URL and the client to post with: the device's own URL (checked
    /// again here, as settings may have changed since it registered), or
    /// PUSH_WEBHOOK_URL.
    fn url_for<'a>(
        &'a self,
        target: &'a Target,
    ) -> Result<(&'a str, &'a reqwest::Client), PushError> {
        let token = target.token.as_str();
        if token.starts_with("https://") || token.starts_with("http://") {
            if !self.allow_private {
                let url = reqwest::Url::parse(token)
                    .map_err(|_| PushError::Failed("the device URL does not parse".into()))?;
                if let Some(reason) = guard::refusal(&url) {
                    return Err(PushError::Failed(format!("the device URL {reason}")));
                }
            }
            return Ok((token, &self.guarded));
        }
        match self.default_url.as_deref() {
            Some(url) => Ok((url, &self.http)),
            None => Err(PushError::Failed(
                "the device token is not a URL and PUSH_WEBHOOK_URL is not set".into(),
            )),
        }
    }
}

/// The signature header's value for `body` sent at `timestamp`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    format!("sha256={}", hmac_sha256_hex(secret.as_bytes(), &signed))
}

#[async_trait::async_trait]
impl PushDriver for Webhook {
    fn name(&self) -> &'static str {
        "webhook"
    }

    async fn send(&self, target: &Target, notification: &Notification) -> Result<(), PushError> {
        let (url, http) = self.url_for(target)?;
        let body = serde_json::Value::Object(notification.wire(target.device_id)).to_string();
        let timestamp = chrono::Utc::now().timestamp();
        let response = http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(
                SIGNATURE_HEADER,
                signature(&self.secret, timestamp, body.as_bytes()),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| response::transport("the webhook", e))?;
        if response.status().is_success() {
            return Ok(());
        }
        let (status, headers, text) = response::read(response).await;
        if status == StatusCode::GONE {
            return Err(PushError::DeadToken);
        }
        Err(response::by_status("the webhook", status, &headers, &text))
    }
}
