//! Linked devices: the caller's logins (listed; one signed out exactly as
//! logout does), and link codes, with which a signed-in device lets a new one
//! sign in as the same user without an SMS (WhatsApp's "link a device").

use std::cmp::Reverse;
use std::net::IpAddr;
use std::time::Duration;

use super::dto::{LinkCodeView, SessionList, SessionView};
use super::store;
use crate::auth;
use crate::auth::dto::VerifyOtpResponse;
use crate::clock::{Timestamp, now_ms};
use crate::error::{ApiError, ApiResult};
use crate::ratelimit::{self, Limit};
use crate::secrets::{random_token, sha256_hex};
use crate::sessions::device::DeviceInfo;
use crate::sessions::service::{live_session_on, live_sessions, open_session_on, require_live_on};
use crate::state::AppState;
use crate::users;

/// Live codes one user may hold at once (a device showing a code makes one a minute at most).
const MAX_LIVE_CODES: usize = 5;

/// Characters of a code: 22 of [A-Za-z0-9] hold about 131 random bits, too
/// many to guess within a code's minute even without the rate limit.
const CODE_LEN: usize = 22;

/// One answer for a code that is unknown, used, expired or whose maker signed
/// out: the caller learns nothing about which.
const INVALID_CODE: &str = "The code is invalid or has expired.";

/// The caller's logins that can still be used, most recently active first.
pub async fn list(state: &AppState, user_id: i64, current_session: i64) -> ApiResult<SessionList> {
    let mut rows = live_sessions(state, user_id).await?;
    rows.sort_by_key(|s| Reverse((s.last_active_at.unwrap_or(s.created_at), s.id)));
    Ok(SessionList {
        sessions: rows
            .iter()
            .map(|row| SessionView::of(row, current_session))
            .collect(),
    })
}

/// Signs one of the caller's logins out, as logout does for it (tokens, its
/// push devices, its sockets on every node). The calling one may be signed
/// out too: that is logout. 404 if it is not a live login of the caller's.
pub async fn sign_out(
    state: &AppState,
    user_id: i64,
    current_session: i64,
    session_id: i64,
) -> ApiResult<()> {
    let reason = if session_id == current_session {
        "logout"
    } else {
        "signed_out"
    };
    if auth::service::end_login(state, user_id, session_id, reason).await? {
        Ok(())
    } else {
        Err(ApiError::not_found("Session"))
    }
}

/// A new link code made by the caller's login, valid for LINK_CODE_TTL
/// seconds and once. 429 while the user already holds [`MAX_LIVE_CODES`].
pub async fn create_code(
    state: &AppState,
    user_id: i64,
    session_id: i64,
) -> ApiResult<LinkCodeView> {
    let now = now_ms();
    let expires_at = now + (state.config.settings.link_code_ttl * 1000) as i64;
    let code = random_token(CODE_LEN);
    let txn = state.db.begin().await?;
    // The user's row, locked: one user's codes are counted one at a time
    // (and in the order a ban takes its locks: user, then sessions).
    users::service::require_not_banned_on(&txn, user_id).await?;
    require_live_on(&txn, session_id).await?;
    store::delete_spent_of(&txn, user_id, now).await?;
    let live = store::live_codes_of(&txn, user_id, now).await?;
    if let Some(soonest) = live.first().filter(|_| live.len() >= MAX_LIVE_CODES) {
        let wait = Duration::from_millis((soonest.expires_at - now).max(0) as u64);
        return Err(ApiError::RateLimited {
            retry_after_secs: wait.as_secs().max(1),
        });
    }
    let new = store::NewCode {
        user_id,
        session_id,
        code_hash: sha256_hex(&code),
        expires_at,
        now,
    };
    store::insert_code(&txn, new).await?;
    txn.commit().await?;
    Ok(LinkCodeView {
        qr_payload: format!("natter://link?code={code}"),
        code,
        expires_at: Timestamp(expires_at),
    })
}

/// Signs a new device in with a link code: a new login session of the code's
/// user, with a token pair, as verify-otp answers. The code is used up in the
/// transaction that opens the session, so of two devices racing with one
/// code exactly one gets in. Unknown, used or expired codes, and codes whose
/// maker has since signed out, are all the same 422. Rate-limited per address
/// like verify-otp (OTP_VERIFY_PER_IP_PER_HOUR).
pub async fn redeem(
    state: &AppState,
    code: &str,
    ip: IpAddr,
    device: &DeviceInfo,
) -> ApiResult<VerifyOtpResponse> {
    let limit = Limit::new(
        format!("link-ip:{ip}"),
        state.config.settings.otp_verify_per_ip_per_hour,
        Duration::from_secs(3600),
    );
    ratelimit::enforce(state.limiter.as_ref(), &[limit]).await?;
    let now = now_ms();
    let txn = state.db.begin().await?;
    let Some(link) = store::live_code(&txn, &sha256_hex(code.trim()), now).await? else {
        return Err(invalid_code());
    };
    // Locks as verify-otp, a ban and create_code take them: the user's row,
    // then the code's and the session's (the code's first would deadlock with
    // create_code on MySQL). A banned account gets verify-otp's 403; a deleted
    // one has no live session left, so its code is simply invalid.
    match users::service::require_not_banned_on(&txn, link.user_id).await {
        Err(ApiError::BadRequest(_)) => return Err(invalid_code()),
        checked => checked?,
    }
    if !store::use_code(&txn, link.id, now).await? {
        return Err(invalid_code());
    }
    if live_session_on(&txn, link.session_id).await?.is_none() {
        return Err(invalid_code());
    }
    let tokens = open_session_on(state, &txn, link.user_id, device).await?;
    txn.commit().await?;
    let user = users::service::require_active(state, link.user_id).await?;
    Ok(VerifyOtpResponse {
        success: true,
        user: users::service::self_view(state, &user).await,
        tokens,
    })
}

fn invalid_code() -> ApiError {
    ApiError::field("code", INVALID_CODE)
}
