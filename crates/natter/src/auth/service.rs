//! Sign-in by phone (OTP codes; each sign-in opens a login session, see
//! sessions/) and account deletion, which ends everything a user has: their
//! sessions, their groups, their number.

use std::net::IpAddr;
use std::time::Duration;

use sea_orm::DatabaseTransaction;

use super::dto::{SendOtpRequest, SendOtpResponse, VerifyOtpRequest, VerifyOtpResponse};
use super::store;
use crate::clock::{Timestamp, now_ms};
use crate::error::{ApiError, ApiResult};
use crate::phone;
use crate::ratelimit::{self, Limit};
use crate::secrets::{constant_time_eq, hmac_sha256_hex, random_digits};
use crate::sessions::device::DeviceInfo;
use crate::sessions::service::open_session_on;
use crate::sms::Sms;
use crate::state::AppState;
use crate::{broadcasts, devices, groups, messages, sessions, statuses, users};

const OTP_DIGITS: u32 = 6;
const INVALID_OTP: &str = "Invalid or expired OTP";

pub async fn send_otp(
    state: &AppState,
    request: SendOtpRequest,
    ip: IpAddr,
) -> ApiResult<SendOtpResponse> {
    let e164 = phone::to_e164(&request.phone_number, Some(&request.country_code))
        .map_err(phone::field_error)?;
    phone::ensure_textable(&e164)?;
    let settings = &state.config.settings;
    let limits = [
        // OTP_RESEND_SECONDS=0 means no wait: a limit of 0 is off (enforce).
        Limit::new(
            format!("otp-resend:{e164}"),
            u32::from(settings.otp_resend_seconds > 0),
            Duration::from_secs(settings.otp_resend_seconds),
        ),
        Limit::new(
            format!("otp-number:{e164}"),
            settings.otp_rate_per_number_per_hour,
            Duration::from_secs(3600),
        ),
        Limit::new(
            format!("otp-ip:{ip}"),
            settings.otp_rate_per_ip_per_hour,
            Duration::from_secs(3600),
        ),
    ];
    ratelimit::enforce(state.limiter.as_ref(), &limits).await?;
    let now = now_ms();
    let code = random_digits(OTP_DIGITS);
    let expires_at = now + state.config.otp_ttl().as_millis() as i64;
    let otp = store::replace_otp(
        &state.db.write,
        store::NewOtp {
            phone_number: &e164,
            code_hash: otp_hash(state, &e164, &code),
            expires_at,
            requested_ip: ip.to_string(),
            now,
        },
    )
    .await?;
    let minutes = state.config.settings.otp_ttl.div_ceil(60);
    let sms = Sms {
        to: e164.clone(),
        body: format!(
            "Your natter code is {code}. It expires in {minutes} minutes. Do not share it."
        ),
        code,
    };
    if let Err(err) = state.sms.send(&sms).await {
        // A code nobody received must not stay usable.
        store::retire_otp(&state.db.write, otp.id, now_ms()).await?;
        tracing::warn!(error = format!("{err:#}"), "SMS driver failed");
        return Err(ApiError::Unavailable(
            "The SMS could not be sent. Try again later.".into(),
        ));
    }
    Ok(SendOtpResponse {
        success: true,
        message: "OTP sent successfully".into(),
        expires_at: Timestamp(expires_at),
    })
}

/// The stored form of a code: keyed by APP_KEY and bound to the number.
fn otp_hash(state: &AppState, e164: &str, code: &str) -> String {
    hmac_sha256_hex(
        state.config.app_key.as_bytes(),
        format!("{e164}:{code}").as_bytes(),
    )
}

pub async fn verify_otp(
    state: &AppState,
    request: VerifyOtpRequest,
    ip: IpAddr,
    device: &DeviceInfo,
) -> ApiResult<VerifyOtpResponse> {
    let e164 = phone::to_e164(&request.phone_number, Some(&request.country_code))
        .map_err(phone::field_error)?;
    // Every check counts, right or wrong: guessing is bounded per address and
    // per number (OTP_MAX_ATTEMPTS bounds it per code).
    let settings = &state.config.settings;
    ratelimit::enforce(
        state.limiter.as_ref(),
        &[
            Limit::new(
                format!("otp-verify-ip:{ip}"),
                settings.otp_verify_per_ip_per_hour,
                Duration::from_secs(3600),
            ),
            Limit::new(
                format!("otp-verify-number:{e164}"),
                settings.otp_verify_per_number_per_hour,
                Duration::from_secs(3600),
            ),
        ],
    )
    .await?;
    // The number's own code, not the one sent beside it: a client that sends
    // "1" with a UK number (or "zz") would otherwise leave the user with a
    // country code that parses their contacts' national numbers wrongly.
    let country_code = phone::calling_code_of(&e164).unwrap_or_else(|| {
        request
            .country_code
            .trim()
            .trim_start_matches('+')
            .to_string()
    });
    let max_attempts = state.config.settings.otp_max_attempts as i32;
    let now = now_ms();
    let Some(otp) = store::live_otp(&state.db.write, &e164, now, max_attempts).await? else {
        return Err(ApiError::BadRequest(INVALID_OTP.into()));
    };
    if !constant_time_eq(&otp.code_hash, &otp_hash(state, &e164, &request.otp)) {
        store::count_wrong_guess(&state.db.write, otp.id, max_attempts).await?;
        return Err(ApiError::BadRequest(INVALID_OTP.into()));
    }
    if !store::consume_otp(&state.db.write, otp.id, now, max_attempts).await? {
        return Err(ApiError::BadRequest(INVALID_OTP.into()));
    }
    let user = users::service::find_or_create_by_phone(
        state,
        &e164,
        &country_code,
        request.name.as_deref(),
    )
    .await?;
    // A banned account gets no session: checked on the row, in the
    // transaction that opens it (users::require_not_banned_on).
    let txn = state.db.begin().await?;
    users::service::require_not_banned_on(&txn, user.id).await?;
    let tokens = open_session_on(state, &txn, user.id, device).await?;
    txn.commit().await?;
    Ok(VerifyOtpResponse {
        success: true,
        user: users::service::self_view(state, &user).await,
        tokens,
    })
}

/// Signs this login session out (see [`end_login`]); already ended is fine.
pub async fn logout(state: &AppState, user_id: i64, session_id: i64) -> ApiResult<()> {
    end_login(state, user_id, session_id, "logout").await?;
    Ok(())
}

/// Ends one live login session of `user_id`: its tokens and the push devices
/// it registered go together, in one transaction that holds the session's
/// row; then the sockets it authorised are closed on every node. False (and
/// nothing done) if it is not a live session of this user. Logout, and
/// signing a linked device out from another (`DELETE /api/sessions/{id}`).
pub async fn end_login(
    state: &AppState,
    user_id: i64,
    session_id: i64,
    reason: &str,
) -> ApiResult<bool> {
    let txn = state.db.begin().await?;
    let session = sessions::service::live_session_on(&txn, session_id).await?;
    if session.is_none_or(|s| s.user_id != user_id) {
        return Ok(false);
    }
    sessions::service::end_session_on(&txn, session_id, reason).await?;
    devices::service::remove_for_session(&txn, session_id).await?;
    txn.commit().await?;
    sessions::service::forget_login(state, user_id, Some(session_id));
    Ok(true)
}

/// Soft-deletes the caller's account: signs out every session and removes
/// every push device (one transaction), leaves every group, takes the files
/// off the messages it sent, drops its stars, broadcast lists, statuses and photo
/// (files nothing else shows are collected), frees the number.
pub async fn delete_account(state: &AppState, user_id: i64) -> ApiResult<()> {
    sign_out_everywhere(state, user_id, "account_deleted").await?;
    groups::service::leave_all(state, user_id).await?;
    messages::service::detach_media_of(state, user_id).await?;
    messages::stars::forget_user(state, user_id).await?;
    broadcasts::service::forget_owner(state, user_id).await?;
    statuses::service::forget_owner(state, user_id).await?;
    users::service::remove_avatar(state, user_id).await?;
    users::service::soft_delete(state, user_id).await
}

/// Ends every login session of a user and removes their push devices on
/// `txn`; after the commit, `sessions::service::forget_login` closes their
/// sockets on every node (what logout does for one session).
async fn end_all_logins_on(txn: &DatabaseTransaction, user_id: i64, reason: &str) -> ApiResult<()> {
    sessions::service::end_all_sessions_on(txn, user_id, reason).await?;
    devices::service::remove_for_user(txn, user_id).await?;
    Ok(())
}

/// Signs a user out everywhere: every session and push device in one
/// transaction, then their sockets closed on every node. Account deletion and
/// `natter sessions revoke` both end logins this way.
pub async fn sign_out_everywhere(state: &AppState, user_id: i64, reason: &str) -> ApiResult<()> {
    let txn = state.db.begin().await?;
    end_all_logins_on(&txn, user_id, reason).await?;
    txn.commit().await?;
    sessions::service::forget_login(state, user_id, None);
    Ok(())
}

/// Bans an account (`natter users ban`): it cannot sign in again (verify-otp
/// answers 403) and every login it has ends, in the transaction that bans it.
/// 404 if there is no such account.
pub async fn ban(state: &AppState, user_id: i64) -> ApiResult<()> {
    let txn = state.db.begin().await?;
    users::service::set_banned_on(&txn, user_id, Some(now_ms())).await?;
    end_all_logins_on(&txn, user_id, "banned").await?;
    txn.commit().await?;
    sessions::service::forget_login(state, user_id, None);
    Ok(())
}

/// Lifts a ban; the user signs in again as before. 404 if there is no such account.
pub async fn unban(state: &AppState, user_id: i64) -> ApiResult<()> {
    let txn = state.db.begin().await?;
    users::service::set_banned_on(&txn, user_id, None).await?;
    txn.commit().await?;
    Ok(())
}
