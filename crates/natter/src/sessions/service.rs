//! Login sessions and their tokens.
//!
//! Tokens have Sanctum's form `<id>|<secret>`; only SHA-256 of the secret is
//! stored and checks are constant-time. Every sign-in opens a login session
//! (one per device) holding one access and one refresh token. A refresh token
//! works once: refreshing revokes the pair and issues a new one in the same
//! session; presenting a rotated refresh token again means it was stolen, so the
//! whole session is revoked.

use sea_orm::ConnectionTrait;

use super::device::DeviceInfo;
use super::dto::TokenPair;
use super::store;
use crate::clock::{Timestamp, now_ms};
use crate::db::entities::login_session;
use crate::error::{ApiError, ApiResult};
use crate::outage::{REMIND_EVERY, Throttle};
use crate::realtime::bus::Body;
use crate::secrets::{constant_time_eq, random_token, sha256_hex};
use crate::state::{AppState, forget_login_tokens};

const SECRET_LEN: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Access,
    Refresh,
}

impl TokenKind {
    fn as_str(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Refresh => "refresh",
        }
    }
}

/// A token that checked out.
#[derive(Debug, Clone, Copy)]
pub struct Authenticated {
    pub user_id: i64,
    pub session_id: i64,
    pub token_id: i64,
}

/// A new login session (a device signing in) with a fresh token pair, on
/// `conn`: the caller's transaction, which checks the account may sign in
/// (not banned) first.
pub async fn open_session_on(
    state: &AppState,
    conn: &impl ConnectionTrait,
    user_id: i64,
    device: &DeviceInfo,
) -> ApiResult<TokenPair> {
    let session_id = store::insert_session(conn, user_id, device, now_ms()).await?;
    issue_pair(state, conn, user_id, session_id).await
}

async fn issue_pair(
    state: &AppState,
    db: &impl sea_orm::ConnectionTrait,
    user_id: i64,
    session_id: i64,
) -> ApiResult<TokenPair> {
    let now = now_ms();
    let settings = &state.config.settings;
    let access_expires = now + (settings.access_token_ttl * 1000) as i64;
    let refresh_expires = now + (settings.refresh_token_ttl * 1000) as i64;
    let access_token = issue_token(
        db,
        user_id,
        session_id,
        TokenKind::Access,
        access_expires,
        now,
    )
    .await?;
    let refresh_token = issue_token(
        db,
        user_id,
        session_id,
        TokenKind::Refresh,
        refresh_expires,
        now,
    )
    .await?;
    Ok(TokenPair {
        access_token,
        refresh_token,
        expires_at: Timestamp(access_expires),
    })
}

async fn issue_token(
    db: &impl sea_orm::ConnectionTrait,
    user_id: i64,
    session_id: i64,
    kind: TokenKind,
    expires_at: i64,
    now: i64,
) -> ApiResult<String> {
    let secret = random_token(SECRET_LEN);
    let id = store::insert_token(
        db,
        store::NewToken {
            user_id,
            session_id,
            kind: kind.as_str(),
            token_hash: sha256_hex(&secret),
            expires_at,
            now,
        },
    )
    .await?;
    Ok(format!("{id}|{secret}"))
}

/// Checks a bearer token of the expected kind: known, matching, live, unexpired.
pub async fn authenticate(
    state: &AppState,
    bearer: &str,
    kind: TokenKind,
) -> ApiResult<Authenticated> {
    let (id, secret) = split_token(bearer).ok_or(ApiError::Unauthenticated)?;
    let token = match state.caches.tokens.get(&id) {
        Some(token) => token,
        None => {
            let token = store::find_token(&state.db.read, id)
                .await?
                .ok_or(ApiError::Unauthenticated)?;
            state.caches.tokens.insert(id, token.clone());
            token
        }
    };
    let valid = constant_time_eq(&token.token_hash, &sha256_hex(secret))
        && token.kind == kind.as_str()
        && token.revoked_at.is_none()
        && token.expires_at > now_ms();
    if !valid {
        return Err(ApiError::Unauthenticated);
    }
    note_activity(state, token.session_id);
    Ok(Authenticated {
        user_id: token.user_id,
        session_id: token.session_id,
        token_id: token.id,
    })
}

/// Moves the session's `last_active_at` to now, at most once a minute per
/// node (`Caches::session_activity`): authenticating is the hot path of every
/// request and socket, and must not write each time. The write runs on its
/// own task: the request never waits for it (with the database slow or down,
/// that would be every session's first request of the minute). A failed
/// write costs nothing but a stale time.
fn note_activity(state: &AppState, session_id: i64) {
    if !state.caches.session_activity.due(&session_id) {
        return;
    }
    let db = state.db.write.clone();
    tokio::spawn(async move {
        // One line per 30 s at most: with the database down every session's
        // first request of the minute would fail here.
        static FAILURES: Throttle = Throttle::new(REMIND_EVERY);
        if let Err(err) = store::touch_session(&db, session_id, now_ms()).await
            && let Some(held_back) = FAILURES.allow()
        {
            tracing::warn!(error = %err, also_failed = held_back, "could not record session activity");
        }
    });
}

/// The caller's login sessions that can still be used (not revoked, a token
/// unexpired), in no particular order.
pub async fn live_sessions(state: &AppState, user_id: i64) -> ApiResult<Vec<login_session::Model>> {
    Ok(store::live_sessions_of(&state.db.read, user_id, now_ms()).await?)
}

fn split_token(bearer: &str) -> Option<(i64, &str)> {
    let (id, secret) = bearer.split_once('|')?;
    let id: i64 = id.parse().ok()?;
    (id > 0 && secret.len() == SECRET_LEN).then_some((id, secret))
}

/// Exchanges a refresh token for a new pair, detecting reuse.
pub async fn refresh(state: &AppState, bearer: &str) -> ApiResult<TokenPair> {
    let (id, secret) = split_token(bearer).ok_or(ApiError::Unauthenticated)?;
    let token = store::find_token(&state.db.write, id)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    let genuine = constant_time_eq(&token.token_hash, &sha256_hex(secret));
    if !genuine || token.kind != TokenKind::Refresh.as_str() {
        return Err(ApiError::Unauthenticated);
    }
    let now = now_ms();
    if token.revoked_at.is_some() {
        revoke_if_reused(state, token.session_id).await?;
        return Err(ApiError::Unauthenticated);
    }
    if token.expires_at <= now {
        return Err(ApiError::Unauthenticated);
    }
    let txn = state.db.begin().await?;
    // Conditional: of two concurrent refreshes with one token, one wins and the
    // other is treated as reuse.
    if !store::revoke_token_if_live(&txn, token.id, now).await? {
        txn.rollback().await?;
        revoke_if_reused(state, token.session_id).await?;
        return Err(ApiError::Unauthenticated);
    }
    store::revoke_session_tokens(&txn, token.session_id, now).await?;
    let pair = issue_pair(state, &txn, token.user_id, token.session_id).await?;
    txn.commit().await?;
    // The session goes on: only this node's cache forgets its old tokens at
    // once; other nodes let the old access token expire from theirs within
    // CACHE_TTL.
    forget_login_tokens(&state.caches.tokens, token.user_id, Some(token.session_id));
    Ok(pair)
}

/// A rotated refresh token came back: unless the session was ended on purpose,
/// someone holds a stolen copy, so the session ends.
async fn revoke_if_reused(state: &AppState, session_id: i64) -> ApiResult<()> {
    let session = store::find_session(&state.db.write, session_id).await?;
    if let Some(session) = session.filter(|s| s.revoked_at.is_none()) {
        tracing::warn!(
            session_id,
            "refresh token reused; revoking the login session"
        );
        store::revoke_session(&state.db.write, session_id, "refresh_reuse", now_ms()).await?;
        forget_login(state, session.user_id, Some(session_id));
    }
    Ok(())
}

/// Ends a login session (its access and refresh tokens) on `conn`, the
/// transaction of whoever ends it (logout also removes the session's push
/// devices there). After the commit, [`forget_login`].
pub async fn end_session_on(
    conn: &impl ConnectionTrait,
    session_id: i64,
    reason: &str,
) -> ApiResult<()> {
    Ok(store::revoke_session(conn, session_id, reason, now_ms()).await?)
}

/// Ends every session of a user on `conn`. After the commit, [`forget_login`].
pub async fn end_all_sessions_on(
    conn: &impl ConnectionTrait,
    user_id: i64,
    reason: &str,
) -> ApiResult<()> {
    Ok(store::revoke_user_sessions(conn, user_id, reason, now_ms()).await?)
}

/// A login ended (`session` None: every login of the user); called after
/// the commit that revoked it. Its tokens leave this node's cache now, before
/// the answer, and every other node's through the bus, whose `EndLogin` also
/// closes the sockets they authorised, on every node: neither a token nor a
/// socket outlives the login.
pub fn forget_login(state: &AppState, user_id: i64, session: Option<i64>) {
    forget_login_tokens(&state.caches.tokens, user_id, session);
    state.realtime.broadcast(Body::EndLogin {
        user: user_id,
        session,
    });
}

/// 401 unless the login session is still live, checked on `conn` (the
/// transaction about to write something that belongs to the session) with its
/// row locked: a logout racing the write either ends the session first (and
/// the write is refused) or waits for the write and then removes what it made.
pub async fn require_live_on(conn: &impl ConnectionTrait, session_id: i64) -> ApiResult<()> {
    match live_session_on(conn, session_id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::Unauthenticated),
    }
}

/// The login session if it is not revoked, its row locked on `conn` until
/// the transaction ends (see [`require_live_on`]); None otherwise.
pub async fn live_session_on(
    conn: &impl ConnectionTrait,
    session_id: i64,
) -> ApiResult<Option<login_session::Model>> {
    Ok(store::lock_live_session(conn, session_id).await?)
}
