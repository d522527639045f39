//! Profiles, privacy and account deletion, and how one user sees another.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use sea_orm::ActiveValue::Set;
use sea_orm::ConnectionTrait;

use super::dto::{UpdatePrivacyRequest, UpdateProfileRequest};
use super::store;
use crate::clock::{Timestamp, now_ms};
use crate::db::IN_LIST_CHUNK;
use crate::db::entities::user;
use crate::error::{ApiError, ApiResult, is_unique_violation};
use crate::media::upload::Upload;
use crate::media::{self, Media};
use crate::ratelimit::{self, Limit};
use crate::resources::user::{PrivacySettings, SelfView, UserSummary, UserView, Visibility};
use crate::state::AppState;

pub const DEFAULT_NAME: &str = "User";
const DELETED_NAME: &str = "Deleted account";

/// The user with this verified number, created on first sign-in. Two concurrent
/// first sign-ins for one number meet at the unique index; the loser reads the winner.
pub async fn find_or_create_by_phone(
    state: &AppState,
    e164: &str,
    country_code: &str,
    name: Option<&str>,
) -> ApiResult<user::Model> {
    if let Some(existing) = store::find_by_phone(&state.db.read, e164).await? {
        return Ok(existing);
    }
    let new = store::NewUser {
        phone_number: e164,
        country_code,
        name: name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or(DEFAULT_NAME),
        now: now_ms(),
    };
    match store::insert(&state.db.write, new).await {
        Ok(user) => Ok(user),
        Err(err) if is_unique_violation(&err) => store::find_by_phone(&state.db.write, e164)
            .await?
            .ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!("user vanished after a unique violation"))
            }),
        Err(err) => Err(err.into()),
    }
}

/// Counts one look at another user by `caller` (their profile by id, adding
/// them as a contact by id or number), 429 past USER_LOOKUPS_PER_HOUR. Those
/// answers show a phone number or tell whether a number has an account:
/// limited, so ids and numbers cannot be walked.
pub async fn count_lookup(state: &AppState, caller: i64) -> ApiResult<()> {
    let limit = Limit::new(
        format!("user-lookup:{caller}"),
        state.config.settings.user_lookups_per_hour,
        Duration::from_secs(3600),
    );
    ratelimit::enforce(state.limiter.as_ref(), &[limit]).await
}

/// Whether an account is online now, read on `conn` (a deleted one is not).
pub async fn is_online_on(conn: &impl ConnectionTrait, id: i64) -> ApiResult<bool> {
    Ok(store::find_active(conn, id)
        .await?
        .is_some_and(|user| user.is_online))
}

pub async fn require_active(state: &AppState, id: i64) -> ApiResult<user::Model> {
    store::find_active(&state.db.read, id)
        .await?
        .ok_or_else(|| ApiError::not_found("User"))
}

/// Whether the user keeps archived chats archived when a message comes (false
/// for an account that is gone).
pub async fn keeps_chats_archived(conn: &impl ConnectionTrait, user_id: i64) -> ApiResult<bool> {
    Ok(store::find_active(conn, user_id)
        .await?
        .is_some_and(|user| user.keep_chats_archived))
}

/// The owner's own view: their photo always, its URL signed now.
pub async fn self_view(state: &AppState, user: &user::Model) -> SelfView {
    SelfView {
        id: user.id,
        name: user.name.clone(),
        phone_number: user.phone_number.clone(),
        about: user.about.clone(),
        avatar_url: media::urls::sign(&state.storage, user.avatar_key.as_deref()).await,
        is_online: user.is_online,
        last_seen_at: user.last_seen_at.map(Timestamp),
        country_code: user.country_code.clone(),
        phone_verified_at: user.phone_verified_at.map(Timestamp),
        privacy: PrivacySettings {
            last_seen: Visibility::parse(&user.privacy_last_seen),
            profile_photo: Visibility::parse(&user.privacy_profile_photo),
            about: Visibility::parse(&user.privacy_about),
        },
        keep_chats_archived: user.keep_chats_archived,
        created_at: Timestamp(user.created_at),
    }
}

/// What privacy decisions need to know about a viewer and some owners.
#[derive(Debug, Default)]
pub struct Relations {
    /// Owners who have the viewer as a contact.
    has_viewer: HashSet<i64>,
    /// Owners who blocked the viewer or whom the viewer blocked.
    blocked: HashSet<i64>,
    /// Owners who blocked the viewer.
    blocking_viewer: HashSet<i64>,
}

impl Relations {
    pub fn owner_has_viewer(&self, owner: i64) -> bool {
        self.has_viewer.contains(&owner)
    }

    pub fn blocked_either_way(&self, owner: i64) -> bool {
        self.blocked.contains(&owner)
    }

    /// The owners who blocked the viewer.
    pub fn blocking_viewer(&self) -> impl Iterator<Item = i64> + '_ {
        self.blocking_viewer.iter().copied()
    }
}

/// Two queries whatever the number of owners.
pub async fn relations(state: &AppState, viewer: i64, owners: &[i64]) -> ApiResult<Relations> {
    let mut relations = Relations::default();
    for row in store::owners_having(&state.db.read, owners, viewer).await? {
        relations.has_viewer.insert(row.user_id);
        if row.is_blocked {
            relations.blocked.insert(row.user_id);
            relations.blocking_viewer.insert(row.user_id);
        }
    }
    relations
        .blocked
        .extend(store::blocked_by(&state.db.read, viewer, owners).await?);
    Ok(relations)
}

/// How `viewer` sees each of `ids` (deleted accounts included, as "Deleted
/// account"). Three queries whatever the number of users.
pub async fn view_users(
    state: &AppState,
    viewer: i64,
    ids: &[i64],
) -> ApiResult<HashMap<i64, UserView>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let users = store::find_many(&state.db.read, &ids).await?;
    let relations = relations(state, viewer, &ids).await?;
    let mut views: HashMap<i64, UserView> = users
        .iter()
        .map(|user| (user.id, view_with(user, viewer, &relations)))
        .collect();
    sign_avatars(state, &mut views).await;
    Ok(views)
}

/// How `viewer` sees one active user; 404 when there is none.
pub async fn view_user(state: &AppState, viewer: i64, id: i64) -> ApiResult<UserView> {
    let user = require_active(state, id).await?;
    let relations = relations(state, viewer, &[id]).await?;
    let mut views = HashMap::from([(id, view_with(&user, viewer, &relations))]);
    sign_avatars(state, &mut views).await;
    views.remove(&id).ok_or_else(|| ApiError::not_found("User"))
}

/// Turns the photo keys `view_with` left in `avatar_url` into signed URLs; only
/// photos the viewer may see are there, so only those are signed.
async fn sign_avatars(state: &AppState, views: &mut HashMap<i64, UserView>) {
    let keys: Vec<String> = views
        .values()
        .filter_map(|v| v.avatar_url.clone())
        .collect();
    let signed = media::urls::sign_all(&state.storage, keys).await;
    for view in views.values_mut() {
        view.avatar_url = view
            .avatar_url
            .take()
            .and_then(|key| signed.get(&key).cloned());
    }
}

/// A user as anyone may see them (privacy applied for a stranger): what an
/// event addressed to several people carries; each fetches their own view.
/// Without the photo: a view here holds its object key, not a signed URL.
pub fn public_view(user: &user::Model) -> UserView {
    let mut view = view_with(user, 0, &Relations::default());
    view.avatar_url = None;
    view
}

/// Applies the owner's privacy settings for this viewer. `avatar_url` holds the
/// photo's object key here; [`sign_avatars`] makes it a URL.
pub fn view_with(user: &user::Model, viewer: i64, relations: &Relations) -> UserView {
    if user.deleted_at.is_some() {
        return UserView {
            id: user.id,
            name: DELETED_NAME.to_string(),
            phone_number: None,
            about: None,
            avatar_url: None,
            is_online: false,
            last_seen_at: None,
        };
    }
    let may_see = |setting: &str| -> bool {
        if viewer == user.id {
            return true;
        }
        if relations.blocked_either_way(user.id) {
            return false;
        }
        match Visibility::parse(setting) {
            Visibility::Everyone => true,
            Visibility::Contacts => relations.owner_has_viewer(user.id),
            Visibility::Nobody => false,
        }
    };
    let presence = may_see(&user.privacy_last_seen);
    UserView {
        id: user.id,
        name: user.name.clone(),
        phone_number: user.phone_number.clone(),
        about: user.about.clone().filter(|_| may_see(&user.privacy_about)),
        avatar_url: user
            .avatar_key
            .clone()
            .filter(|_| may_see(&user.privacy_profile_photo)),
        is_online: presence && user.is_online,
        last_seen_at: user.last_seen_at.filter(|_| presence).map(Timestamp),
    }
}

pub async fn update_profile(
    state: &AppState,
    user_id: i64,
    request: UpdateProfileRequest,
) -> ApiResult<SelfView> {
    let mut changes = user::ActiveModel {
        id: Set(user_id),
        updated_at: Set(now_ms()),
        ..Default::default()
    };
    if let Some(name) = request.name {
        changes.name = Set(name.trim().to_string());
    }
    if let Some(about) = request.about {
        changes.about = Set(Some(about));
    }
    let user = store::update(&state.db.write, changes).await?;
    state.caches.summaries.remove(&user_id);
    Ok(self_view(state, &user).await)
}

pub async fn update_privacy(
    state: &AppState,
    user_id: i64,
    request: UpdatePrivacyRequest,
) -> ApiResult<SelfView> {
    let mut changes = user::ActiveModel {
        id: Set(user_id),
        updated_at: Set(now_ms()),
        ..Default::default()
    };
    if let Some(v) = request.privacy_last_seen {
        changes.privacy_last_seen = Set(v.as_str().to_string());
    }
    if let Some(v) = request.privacy_profile_photo {
        changes.privacy_profile_photo = Set(v.as_str().to_string());
    }
    if let Some(v) = request.privacy_about {
        changes.privacy_about = Set(v.as_str().to_string());
    }
    if let Some(keep) = request.keep_chats_archived {
        changes.keep_chats_archived = Set(keep);
    }
    let user = store::update(&state.db.write, changes).await?;
    state.caches.summaries.remove(&user_id);
    Ok(self_view(state, &user).await)
}

/// Sets the caller's profile photo from an avatar upload; returns its URL. The
/// old photo's reference is dropped in the same transaction (its file goes once
/// nothing else shows it).
pub async fn set_avatar(
    state: &AppState,
    media: &Media,
    user_id: i64,
    upload: &mut Upload,
) -> ApiResult<String> {
    let stored = media::service::store_avatar(media, &state.db, upload).await?;
    let txn = state.db.begin().await?;
    let user = store::lock_active(&txn, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("User"))?;
    media::service::replace_avatar(&txn, user.avatar_media_id, Some(stored.id)).await?;
    store::set_avatar(
        &txn,
        user_id,
        Some((stored.key.as_str(), stored.id)),
        now_ms(),
    )
    .await?;
    txn.commit().await?;
    state.caches.summaries.remove(&user_id);
    media::urls::sign(&state.storage, Some(stored.key.as_str()))
        .await
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("cannot sign the new avatar's URL")))
}

/// Removes a user's photo (account deletion), dropping its reference.
pub async fn remove_avatar(state: &AppState, user_id: i64) -> ApiResult<()> {
    let txn = state.db.begin().await?;
    if let Some(user) = store::lock_active(&txn, user_id).await?
        && user.avatar_media_id.is_some()
    {
        media::service::replace_avatar(&txn, user.avatar_media_id, None).await?;
        store::set_avatar(&txn, user_id, None, now_ms()).await?;
    }
    txn.commit().await?;
    state.caches.summaries.remove(&user_id);
    Ok(())
}

/// Marks the account deleted and frees its number (auth::delete_account ends
/// its sessions and groups first).
pub async fn soft_delete(state: &AppState, user_id: i64) -> ApiResult<()> {
    store::soft_delete(&state.db.write, user_id, now_ms()).await?;
    state.caches.summaries.remove(&user_id);
    Ok(())
}

pub async fn find_by_phone(state: &AppState, e164: &str) -> ApiResult<Option<user::Model>> {
    Ok(store::find_by_phone(&state.db.read, e164).await?)
}

pub async fn find_by_phones(state: &AppState, e164s: &[String]) -> ApiResult<Vec<user::Model>> {
    let mut found = Vec::new();
    for chunk in e164s.chunks(IN_LIST_CHUNK) {
        found.extend(store::find_by_phones(&state.db.read, chunk).await?);
    }
    Ok(found)
}

/// Viewer-independent summaries of users (deleted ones included), from this
/// node's cache where it has them: every message send needs its sender's.
pub async fn summaries(state: &AppState, ids: &[i64]) -> ApiResult<HashMap<i64, UserSummary>> {
    let mut found = HashMap::with_capacity(ids.len());
    let mut missing = Vec::new();
    for id in ids {
        match state.caches.summaries.get(id) {
            Some(cached) => {
                found.insert(*id, cached);
            }
            None => missing.push(*id),
        }
    }
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return Ok(found);
    }
    for user in store::find_many(&state.db.read, &missing).await? {
        let brief = summary(&user);
        state.caches.summaries.insert(user.id, brief.clone());
        found.insert(user.id, brief);
    }
    Ok(found)
}

pub fn summary(user: &user::Model) -> UserSummary {
    if user.deleted_at.is_some() {
        return UserSummary {
            id: user.id,
            name: DELETED_NAME.to_string(),
            avatar_key: None,
        };
    }
    let public_photo = Visibility::parse(&user.privacy_profile_photo) == Visibility::Everyone;
    UserSummary {
        id: user.id,
        name: user.name.clone(),
        avatar_key: user.avatar_key.clone().filter(|_| public_photo),
    }
}

/// Which of `ids` are active (not deleted) users.
pub async fn active_ids(
    state: &AppState,
    ids: &[i64],
) -> ApiResult<std::collections::HashSet<i64>> {
    Ok(store::find_many(&state.db.read, ids)
        .await?
        .into_iter()
        .filter(|u| u.deleted_at.is_none())
        .map(|u| u.id)
        .collect())
}

/// Records that a user came online or went offline, now. Returns who may see
/// it (their `privacy_last_seen`) and when, or None for an account that is gone.
/// Marks everyone recorded online as offline, last seen now (at the start of
/// a lone node; see realtime::clear_stale_presence).
pub async fn reset_presence(state: &AppState) -> ApiResult<()> {
    let cleared = store::set_all_offline(&state.db.write, now_ms()).await?;
    if cleared > 0 {
        tracing::info!(users = cleared, "presence left by an unclean stop cleared");
    }
    Ok(())
}

pub async fn record_presence(
    state: &AppState,
    user_id: i64,
    online: bool,
) -> ApiResult<Option<(Visibility, i64)>> {
    let now = now_ms();
    store::set_online(&state.db.write, user_id, online, now).await?;
    Ok(store::find_active(&state.db.read, user_id)
        .await?
        .map(|user| (Visibility::parse(&user.privacy_last_seen), now)))
}

const BANNED: &str = "This account has been banned.";

/// 403 if the account is banned, checked on `conn` (the transaction that opens
/// a login session) with the user's row locked, so a ban committing meanwhile
/// either is seen here or waits and then revokes the new session too. An
/// account deleted since it was looked up gets no session either (its
/// deletion has already signed it out everywhere): 400, and trying again
/// signs up afresh.
pub async fn require_not_banned_on(conn: &impl ConnectionTrait, user_id: i64) -> ApiResult<()> {
    match store::lock_active(conn, user_id).await? {
        None => Err(ApiError::BadRequest(
            "This account was just deleted; try again.".into(),
        )),
        Some(user) if user.banned_at.is_some() => Err(ApiError::Forbidden(BANNED.into())),
        Some(_) => Ok(()),
    }
}

/// Bans (`Some(time)`) or unbans (`None`) an account on `conn`; 404 if there
/// is no such account (or it was deleted).
pub async fn set_banned_on(
    conn: &impl ConnectionTrait,
    user_id: i64,
    banned_at: Option<i64>,
) -> ApiResult<()> {
    if store::set_banned(conn, user_id, banned_at, now_ms()).await? {
        Ok(())
    } else {
        Err(ApiError::not_found("User"))
    }
}

/// Accounts not deleted, newest first (`natter users list`).
pub async fn list_newest(state: &AppState, limit: u64) -> ApiResult<Vec<user::Model>> {
    Ok(store::list_newest(&state.db.read, limit).await?)
}

/// Any account by id, deleted ones included (`natter users show`).
pub async fn find_any(state: &AppState, id: i64) -> ApiResult<Option<user::Model>> {
    Ok(store::find_any(&state.db.read, id).await?)
}

/// Accounts not deleted (`natter stats`).
pub async fn count_active(state: &AppState) -> ApiResult<u64> {
    Ok(store::count_active(&state.db.read).await?)
}
