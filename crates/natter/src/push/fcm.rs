//! The `fcm` driver: Firebase Cloud Messaging's HTTP v1 API.
//!
//! Auth is Google's OAuth 2.0 for service accounts: an RS256 JWT signed with
//! the service account's key (`iss` = its email, `scope` = firebase.messaging,
//! `aud` = the token URL) is exchanged at the token URL for an access token,
//! kept until a minute before it expires. Each push is
//! `POST {FCM_API_URL}/v1/projects/{project_id}/messages:send` with a data
//! message (every value a string) at high Android priority, collapsed per chat
//! for messages. 404 / `UNREGISTERED` and `SENDER_ID_MISMATCH` mean the token
//! is dead; 401 drops the cached access token and retries.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::jwt::{self, Rs256};
use super::response;
use super::{Notification, PushDriver, PushError, Target};
use crate::config::{SettingError, Settings};

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const DEFAULT_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// An access token is renewed this long before Google says it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// The fields of a service-account file the driver uses.
#[derive(Deserialize)]
struct ServiceAccount {
    project_id: String,
    private_key: String,
    client_email: String,
    #[serde(default)]
    private_key_id: Option<String>,
    #[serde(default)]
    token_uri: Option<String>,
}

struct AccessToken {
    value: String,
    good_until: Instant,
}

pub struct Fcm {
    http: reqwest::Client,
    send_url: String,
    token_url: String,
    client_email: String,
    key_id: Option<String>,
    key: Rs256,
    cached: parking_lot::Mutex<Option<AccessToken>>,
    /// One token request at a time; the others wait for its result.
    refresh: tokio::sync::Mutex<()>,
}

fn setting(reason: String) -> SettingError {
    SettingError {
        name: "FCM_SERVICE_ACCOUNT_FILE",
        reason,
    }
}

impl Fcm {
    pub fn from_settings(settings: &Settings, http: reqwest::Client) -> Result<Fcm, SettingError> {
        let path = settings
            .fcm_service_account_file
            .as_ref()
            .ok_or_else(|| setting("is required when PUSH_DRIVER includes fcm".into()))?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| setting(format!("cannot read {}: {e}", path.display())))?;
        let account: ServiceAccount = serde_json::from_str(&text).map_err(|e| {
            setting(format!(
                "{} is not a service-account JSON file: {e}",
                path.display()
            ))
        })?;
        let key = Rs256::from_pem(&account.private_key)
            .map_err(|e| setting(format!("private_key in {}: {e}", path.display())))?;
        let token_url = settings
            .fcm_token_url
            .clone()
            .or(account.token_uri)
            .unwrap_or_else(|| DEFAULT_TOKEN_URL.to_string());
        Ok(Fcm {
            http,
            send_url: format!(
                "{}/v1/projects/{}/messages:send",
                settings.fcm_api_url.trim_end_matches('/'),
                account.project_id
            ),
            token_url,
            client_email: account.client_email,
            key_id: account.private_key_id,
            key,
            cached: parking_lot::Mutex::new(None),
            refresh: tokio::sync::Mutex::new(()),
        })
    }

    fn cached(&self) -> Option<String> {
        let cached = self.cached.lock();
        cached
            .as_ref()
            .filter(|t| t.good_until > Instant::now())
            .map(|t| t.value.clone())
    }

    fn forget(&self) {
        *self.cached.lock() = None;
    }

    async fn access_token(&self) -> Result<String, PushError> {
        if let Some(token) = self.cached() {
            return Ok(token);
        }
        let _one_at_a_time = self.refresh.lock().await;
        if let Some(token) = self.cached() {
            return Ok(token);
        }
        let fresh = self.request_token().await?;
        let value = fresh.value.clone();
        *self.cached.lock() = Some(fresh);
        Ok(value)
    }

    /// The JWT-bearer grant (RFC 7523) Google's token endpoint expects.
    async fn request_token(&self) -> Result<AccessToken, PushError> {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_url,
            "iat": now,
            "exp": now + 3600,
        });
        let assertion = self
            .key
            .sign(&jwt::header("RS256", self.key_id.as_deref()), &claims)
            .map_err(PushError::Failed)?;
        let response = self
            .http
            .post(&self.token_url)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| response::transport("Google's token endpoint", e))?;
        let (status, headers, text) = response::read(response).await;
        if !status.is_success() {
            return Err(
                match response::by_status("Google's token endpoint", status, &headers, &text) {
                    PushError::Failed(reason) => PushError::Failed(format!(
                        "the service account was refused a token: {reason}"
                    )),
                    other => other,
                },
            );
        }
        #[derive(Deserialize)]
        struct Granted {
            access_token: String,
            #[serde(default)]
            expires_in: Option<u64>,
        }
        let granted: Granted = serde_json::from_str(&text).map_err(|e| PushError::Retry {
            after: None,
            reason: format!("Google's token endpoint answered something else than a token: {e}"),
        })?;
        let lifetime = Duration::from_secs(granted.expires_in.unwrap_or(3600));
        Ok(AccessToken {
            value: granted.access_token,
            good_until: Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN),
        })
    }
}

/// The HTTP v1 message: a data message (FCM wants string values), high
/// priority so a dozing Android device wakes for it, collapsed per chat.
pub fn message(target: &Target, notification: &Notification) -> Value {
    let data: serde_json::Map<String, Value> = notification
        .wire(target.device_id)
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, Value::String(text))
        })
        .collect();
    let mut android = json!({
        "priority": "high",
        "ttl": format!("{}s", notification.time_to_live().as_secs()),
    });
    if let Some(key) = notification.collapse_key() {
        android["collapse_key"] = key.into();
    }
    json!({"message": {"token": target.token, "data": data, "android": android}})
}

/// FCM's error codes that mean the token will never work for this project.
fn dead_token(status: StatusCode, body: &str) -> bool {
    if status == StatusCode::NOT_FOUND {
        return true;
    }
    let Ok(error) = serde_json::from_str::<Value>(body) else {
        return false;
    };
    let details = error["error"]["details"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    details.iter().any(|d| {
        matches!(
            d["errorCode"].as_str(),
            Some("UNREGISTERED") | Some("SENDER_ID_MISMATCH")
        )
    })
}

#[async_trait::async_trait]
impl PushDriver for Fcm {
    fn name(&self) -> &'static str {
        "fcm"
    }

    async fn send(&self, target: &Target, notification: &Notification) -> Result<(), PushError> {
        let access_token = self.access_token().await?;
        let response = self
            .http
            .post(&self.send_url)
            .bearer_auth(access_token)
            .json(&message(target, notification))
            .send()
            .await
            .map_err(|e| response::transport("FCM", e))?;
        if response.status().is_success() {
            return Ok(());
        }
        let (status, headers, text) = response::read(response).await;
        if status == StatusCode::UNAUTHORIZED {
            self.forget();
            return Err(PushError::Retry {
                after: None,
                reason: "FCM refused the access token; a new one will be requested".into(),
            });
        }
        if dead_token(status, &text) {
            return Err(PushError::DeadToken);
        }
        Err(response::by_status("FCM", status, &headers, &text))
    }
}
