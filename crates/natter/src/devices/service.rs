//! Registering, listing and removing devices.
//!
//! A token is one device: registering it again (from any session) updates
//! that row; registered by another account, it moves to that account (the
//! phone now belongs to someone else's login). The caller's login session is
//! recorded so that logging out removes the devices it registered.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::ActiveValue::{NotSet, Set, Unchanged};
use sea_orm::ConnectionTrait;

use super::dto::{DeviceList, DeviceView, RegisterDeviceRequest};
use super::store;
use crate::clock::now_ms;
use crate::db::entities::device;
use crate::db::unique::DEVICES_TOKEN;
use crate::error::{ApiError, ApiResult};
use crate::http::auth::AuthUser;
use crate::push::guard;
use crate::push::{APNS_VOIP_PREFIX, Platform};
use crate::secrets::sha256_hex;
use crate::sessions;
use crate::state::AppState;

/// Devices kept per user; registering one more drops the least recently used.
pub const MAX_DEVICES_PER_USER: usize = 20;
/// Longest token stored (the column's width).
const MAX_TOKEN_CHARS: usize = 500;
/// How long a webhook or Web Push host may take to resolve at registration.
const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A registration, checked: what is stored.
struct Checked {
    platform: Platform,
    token: String,
    p256dh: Option<String>,
    auth: Option<String>,
    push_content: bool,
}

/// Registers (or refreshes) a device for the caller's session. True when the
/// device is new to the caller (201), false when it was already theirs (200).
pub async fn register(
    state: &AppState,
    auth: &AuthUser,
    request: RegisterDeviceRequest,
) -> ApiResult<(DeviceView, bool)> {
    let checked = check(state, request).await?;
    let token_hash = sha256_hex(&checked.token);
    // A concurrent first registration of the same token commits first: the
    // second attempt finds its row and updates it.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match register_once(state, auth, &checked, &token_hash).await {
            Err(ApiError::Db(err)) if attempt < 3 && DEVICES_TOKEN.violated_by(&err) => continue,
            other => return other,
        }
    }
}

async fn register_once(
    state: &AppState,
    auth: &AuthUser,
    checked: &Checked,
    token_hash: &str,
) -> ApiResult<(DeviceView, bool)> {
    let txn = state.db.begin().await?;
    // The session's logout removes its devices in its own transaction: checked
    // here on the locked session row, a device never outlives its login.
    sessions::service::require_live_on(&txn, auth.session_id).await?;
    let now = now_ms();
    let existing = store::find_by_token_hash(&txn, token_hash).await?;
    let is_new = existing.as_ref().is_none_or(|d| d.user_id != auth.user_id);
    let row = device::ActiveModel {
        id: existing.as_ref().map_or(NotSet, |d| Unchanged(d.id)),
        user_id: Set(auth.user_id),
        platform: Set(checked.platform.as_str().to_string()),
        token: Set(checked.token.clone()),
        push_content: Set(checked.push_content),
        created_at: if is_new { Set(now) } else { NotSet },
        session_id: Set(Some(auth.session_id)),
        token_hash: Set(token_hash.to_string()),
        p256dh: Set(checked.p256dh.clone()),
        auth: Set(checked.auth.clone()),
        last_used_at: Set(now),
        last_push: if existing.is_some() {
            NotSet
        } else {
            Set(None)
        },
    };
    let saved = match existing {
        Some(_) => store::update(&txn, row).await?,
        None => store::insert(&txn, row).await?,
    };
    if is_new {
        drop_beyond_limit(&txn, auth.user_id).await?;
    }
    txn.commit().await?;
    Ok((DeviceView::of(&saved), is_new))
}

/// Keeps the user's most recently used devices, up to the limit.
async fn drop_beyond_limit(conn: &impl ConnectionTrait, user_id: i64) -> ApiResult<()> {
    let mut devices = store::of_user(conn, user_id).await?;
    if devices.len() <= MAX_DEVICES_PER_USER {
        return Ok(());
    }
    devices.sort_by_key(|d| std::cmp::Reverse((d.last_used_at, d.id)));
    let stale: Vec<i64> = devices[MAX_DEVICES_PER_USER..]
        .iter()
        .map(|d| d.id)
        .collect();
    Ok(store::delete_ids(conn, &stale).await?)
}

pub async fn list(state: &AppState, user_id: i64) -> ApiResult<DeviceList> {
    let devices = store::of_user(&state.db.read, user_id).await?;
    Ok(DeviceList {
        devices: devices.iter().map(DeviceView::of).collect(),
    })
}

/// Removes one of the caller's devices; 404 for anyone else's.
pub async fn delete(state: &AppState, user_id: i64, device_id: i64) -> ApiResult<()> {
    if store::delete_owned(&state.db.write, device_id, user_id).await? {
        Ok(())
    } else {
        Err(ApiError::not_found("Device"))
    }
}

/// Removes the devices a login session registered (on the transaction that
/// ends the session).
pub async fn remove_for_session(conn: &impl ConnectionTrait, session_id: i64) -> ApiResult<u64> {
    Ok(store::delete_of_session(conn, session_id).await?)
}

/// Removes every device of a user (on the transaction that deletes the account).
pub async fn remove_for_user(conn: &impl ConnectionTrait, user_id: i64) -> ApiResult<u64> {
    Ok(store::delete_of_user(conn, user_id).await?)
}

/// Validates a registration per platform (422 naming the field).
async fn check(state: &AppState, request: RegisterDeviceRequest) -> ApiResult<Checked> {
    let settings = &state.config.settings;
    let token = request.token.trim().to_string();
    let mut checked = Checked {
        platform: request.platform,
        token,
        p256dh: None,
        auth: None,
        push_content: request.push_content,
    };
    match request.platform {
        Platform::Fcm => check_fcm(&checked.token)?,
        Platform::Apns => check_apns(&checked.token)?,
        Platform::Webhook => {
            let opaque_allowed = settings.push_webhook_url.is_some();
            check_webhook(&checked.token, opaque_allowed, allow_private(state)).await?;
        }
        Platform::Webpush => {
            let (endpoint, p256dh, auth) =
                split_subscription(&checked.token, request.p256dh, request.auth)?;
            check_target(&endpoint, allow_private(state))
                .await
                .map_err(|reason| ApiError::field("token", format!("The endpoint {reason}.")))?;
            checked.token = endpoint;
            checked.p256dh = Some(p256dh);
            checked.auth = Some(auth);
        }
    }
    if checked.token.chars().count() > MAX_TOKEN_CHARS {
        return Err(ApiError::field(
            "token",
            format!("The token field must not be greater than {MAX_TOKEN_CHARS} characters."),
        ));
    }
    Ok(checked)
}

fn allow_private(state: &AppState) -> bool {
    state.config.settings.push_allow_private_targets
}

fn check_fcm(token: &str) -> ApiResult<()> {
    let valid = token
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '-' | '.'));
    if valid {
        Ok(())
    } else {
        Err(ApiError::field(
            "token",
            "The token is not an FCM registration token.",
        ))
    }
}

fn check_apns(token: &str) -> ApiResult<()> {
    let hex = token.strip_prefix(APNS_VOIP_PREFIX).unwrap_or(token);
    let valid = (16..=200).contains(&hex.len())
        && hex.len().is_multiple_of(2)
        && hex.chars().all(|c| c.is_ascii_hexdigit());
    if valid {
        Ok(())
    } else {
        Err(ApiError::field(
            "token",
            "The token must be an APNs device token in hex (voip:<hex> for PushKit).",
        ))
    }
}

/// A webhook token is the URL to POST to; with PUSH_WEBHOOK_URL it may
/// instead be any identifier the gateway knows the device by.
async fn check_webhook(token: &str, opaque_allowed: bool, allow_private: bool) -> ApiResult<()> {
    let looks_like_url = token.contains("://");
    if !looks_like_url {
        let printable = token.chars().all(|c| c.is_ascii_graphic());
        return if opaque_allowed && printable {
            Ok(())
        } else {
            Err(ApiError::field("token", "The token must be an https URL."))
        };
    }
    check_target(token, allow_private)
        .await
        .map_err(|reason| ApiError::field("token", format!("The token {reason}.")))
}

/// A URL the server will POST to: https to a public host, unless
/// PUSH_ALLOW_PRIVATE_TARGETS (then plain http and any host too).
async fn check_target(text: &str, allow_private: bool) -> Result<(), String> {
    let url = reqwest::Url::parse(text).map_err(|_| "must be a URL".to_string())?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err("must be an https URL".into());
    }
    if allow_private {
        return Ok(());
    }
    if let Some(reason) = guard::refusal(&url) {
        return Err(reason);
    }
    let host = url.host_str().unwrap_or_default();
    let port = url.port_or_known_default().unwrap_or(443);
    let resolved = tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| "host does not resolve".to_string())?
        .map_err(|_| "host does not resolve".to_string())?;
    let mut any = false;
    for addr in resolved {
        any = true;
        if !guard::is_public(addr.ip()) {
            return Err("must not point at a private, loopback or link-local address".into());
        }
    }
    if any {
        Ok(())
    } else {
        Err("host does not resolve".into())
    }
}

/// A Web Push subscription: `token` is the endpoint with `p256dh` and `auth`
/// given apart, or the whole `subscription.toJSON()`.
fn split_subscription(
    token: &str,
    p256dh: Option<String>,
    auth: Option<String>,
) -> ApiResult<(String, String, String)> {
    let (endpoint, p256dh, auth) = if token.starts_with('{') {
        let json: serde_json::Value = serde_json::from_str(token)
            .map_err(|_| ApiError::field("token", "The token is not a push subscription."))?;
        let text = |v: &serde_json::Value| v.as_str().map(str::to_string);
        (
            text(&json["endpoint"]).unwrap_or_default(),
            text(&json["keys"]["p256dh"]),
            text(&json["keys"]["auth"]),
        )
    } else {
        (token.to_string(), p256dh, auth)
    };
    let p256dh = p256dh
        .ok_or_else(|| ApiError::field("p256dh", "The p256dh field is required for webpush."))?;
    let auth =
        auth.ok_or_else(|| ApiError::field("auth", "The auth field is required for webpush."))?;
    let Some(key) = decode(&p256dh).filter(|k| p256::PublicKey::from_sec1_bytes(k).is_ok()) else {
        return Err(ApiError::field(
            "p256dh",
            "The p256dh field must be a P-256 public key, base64url.",
        ));
    };
    let Some(secret) = decode(&auth).filter(|a| a.len() == 16) else {
        return Err(ApiError::field(
            "auth",
            "The auth field must be 16 bytes, base64url.",
        ));
    };
    // Stored as read, in one spelling (unpadded base64url): padding and
    // spaces around the keys are accepted, and the stored keys fit their
    // columns whatever the client sent.
    Ok((
        endpoint,
        URL_SAFE_NO_PAD.encode(key),
        URL_SAFE_NO_PAD.encode(secret),
    ))
}

fn decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_per_platform() {
        assert!(check_fcm("fcm-token:APA91b_x.y").is_ok());
        assert!(check_fcm("has space").is_err());
        assert!(check_apns(&"ab".repeat(32)).is_ok());
        assert!(check_apns(&format!("voip:{}", "ab".repeat(32))).is_ok());
        assert!(check_apns("xyz").is_err());
        assert!(check_apns("abc").is_err());
    }

    #[test]
    fn subscription_keys_are_stored_unpadded_whatever_was_sent() {
        // P-256's generator point, uncompressed: a valid public key.
        let point = "046B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C2964FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5";
        let bytes: Vec<u8> = (0..point.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&point[i..i + 2], 16).unwrap())
            .collect();
        let p256dh = URL_SAFE_NO_PAD.encode(&bytes);
        let auth = URL_SAFE_NO_PAD.encode([7u8; 16]);
        let token = serde_json::json!({
            "endpoint": "https://push.example/x",
            "keys": {"p256dh": format!("{p256dh}{}", "=".repeat(200)), "auth": format!(" {auth}{} ", "=".repeat(60))},
        })
        .to_string();
        let (endpoint, stored_key, stored_auth) = split_subscription(&token, None, None).unwrap();
        assert_eq!(endpoint, "https://push.example/x");
        assert_eq!((stored_key.len(), stored_auth.len()), (87, 22));
        assert_eq!((stored_key, stored_auth), (p256dh, auth));
    }

    #[tokio::test]
    async fn targets_must_be_public_https_unless_allowed() {
        assert!(check_target("http://127.0.0.1:9/x", true).await.is_ok());
        assert!(check_target("ftp://127.0.0.1/x", true).await.is_err());
        assert!(check_target("http://127.0.0.1:9/x", false).await.is_err());
        assert!(check_target("https://127.0.0.1:9/x", false).await.is_err());
        assert!(check_target("https://localhost/x", false).await.is_err());
        assert!(check_target("https://[fd00::1]/x", false).await.is_err());
        assert!(check_webhook("device-42", false, false).await.is_err());
        assert!(check_webhook("device-42", true, false).await.is_ok());
    }
}
