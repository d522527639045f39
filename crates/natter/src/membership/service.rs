//! Who is in which chat, and the checks built on it. Each read takes a
//! connection: a read pool, or the caller's transaction when the answer must
//! hold until its commit (under the log lock, membership cannot change).

use std::collections::HashSet;

use sea_orm::{ConnectionTrait, DbErr};

use super::store;
use crate::contacts;
use crate::db::entities::{chat, chat_participant};
use crate::error::{ApiError, ApiResult};
use crate::resources::chat::{ChatType, Role};
use crate::state::AppState;
use crate::synclog::{Audience, Event, Interval, LogTx, Scope};

/// The caller's membership of a chat, checked.
pub struct Member {
    pub chat: chat::Model,
    pub participant: chat_participant::Model,
}

impl Member {
    pub fn is_private(&self) -> bool {
        self.chat.chat_type == ChatType::Private.as_str()
    }

    pub fn is_admin(&self) -> bool {
        Role::parse(&self.participant.role) == Role::Admin
    }
}

/// The chat, if `user_id` is a current participant; otherwise 404, whether or
/// not it exists.
pub async fn require_member(state: &AppState, chat_id: i64, user_id: i64) -> ApiResult<Member> {
    require_member_on(&state.db.read, chat_id, user_id).await
}

pub async fn require_member_on(
    conn: &impl ConnectionTrait,
    chat_id: i64,
    user_id: i64,
) -> ApiResult<Member> {
    let not_found = || ApiError::not_found("Chat");
    let chat = store::find(conn, chat_id).await?.ok_or_else(not_found)?;
    let participant = store::participant(conn, chat_id, user_id)
        .await?
        .filter(|p| p.left_at.is_none())
        .ok_or_else(not_found)?;
    Ok(Member { chat, participant })
}

/// The stretches of a chat's history a user may see.
pub async fn visible_intervals(
    conn: &impl ConnectionTrait,
    chat_id: i64,
    user_id: i64,
) -> ApiResult<Vec<Interval>> {
    Ok(store::memberships(conn, user_id, Some(chat_id))
        .await?
        .into_iter()
        .map(|m| Interval {
            from: m.from_seq,
            to: m.to_seq,
        })
        .collect())
}

/// Every membership interval of a user, chat by chat (for sync).
pub async fn all_intervals(state: &AppState, user_id: i64) -> ApiResult<Vec<(i64, Interval)>> {
    Ok(store::memberships(&state.db.read, user_id, None)
        .await?
        .into_iter()
        .map(|m| {
            (
                m.chat_id,
                Interval {
                    from: m.from_seq,
                    to: m.to_seq,
                },
            )
        })
        .collect())
}

/// Current members of a chat.
async fn member_ids(conn: &impl ConnectionTrait, chat_id: i64) -> ApiResult<Vec<i64>> {
    Ok(store::current_participants(conn, &[chat_id])
        .await?
        .into_iter()
        .map(|p| p.user_id)
        .collect())
}

/// Whether `user` is a former member of `chat_id` an admin removed (and no
/// admin has added back since).
pub async fn removed_by_admin(
    conn: &impl ConnectionTrait,
    chat_id: i64,
    user: i64,
) -> ApiResult<bool> {
    Ok(store::participant(conn, chat_id, user)
        .await?
        .is_some_and(|p| p.left_at.is_some() && p.removed_by.is_some()))
}

/// 403 when either person of a private chat has blocked the other.
pub async fn ensure_not_blocked(state: &AppState, member: &Member) -> ApiResult<()> {
    ensure_not_blocked_on(&state.db.read, member).await
}

/// [`ensure_not_blocked`] read on `conn` (the caller's transaction, when the
/// answer must hold until its commit).
pub async fn ensure_not_blocked_on(conn: &impl ConnectionTrait, member: &Member) -> ApiResult<()> {
    if !member.is_private() {
        return Ok(());
    }
    let me = member.participant.user_id;
    let Some(other) = member_ids(conn, member.chat.id)
        .await?
        .into_iter()
        .find(|id| *id != me)
    else {
        return Ok(());
    };
    let blocks = contacts::service::blocks_among(conn, &[(other, me), (me, other)]).await?;
    if blocks.contains(&(other, me)) {
        return Err(ApiError::forbidden("You cannot message this user."));
    }
    if blocks.contains(&(me, other)) {
        return Err(ApiError::forbidden(
            "You have blocked this user. Unblock them to send messages.",
        ));
    }
    Ok(())
}

/// Emits a chat's event, heard live by the chat's current members read on
/// the transaction (so exactly those as of its commit: membership changes
/// take the log lock too), by `extra.users`, and ending `extra.revoke`'s
/// subscriptions to the chat.
pub async fn emit_to_chat(
    tx: &mut LogTx,
    chat_id: i64,
    event: Event<'_>,
    extra: Audience,
) -> ApiResult<i64> {
    let mut users = member_ids(tx.conn(), chat_id).await?;
    users.extend(extra.users);
    let audience = Audience {
        users,
        revoke: extra.revoke,
        channels: extra.channels,
    };
    tx.emit(Scope::Chat(chat_id), audience, event)
}

/// Whether `user_id` may whisper (typing) in a chat: a current member, and in
/// a private chat neither person has blocked the other.
pub async fn may_whisper(state: &AppState, chat_id: i64, user_id: i64) -> bool {
    match require_member(state, chat_id, user_id).await {
        Ok(member) => ensure_not_blocked(state, &member).await.is_ok(),
        Err(_) => false,
    }
}

/// Current participants of one chat, longest-standing first.
pub async fn participants(
    conn: &impl ConnectionTrait,
    chat_id: i64,
) -> ApiResult<Vec<chat_participant::Model>> {
    Ok(store::current_participants(conn, &[chat_id]).await?)
}

pub async fn reload(conn: &impl ConnectionTrait, chat_id: i64) -> ApiResult<chat::Model> {
    store::find(conn, chat_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Group"))
}

pub async fn groups_of(state: &AppState, user_id: i64) -> ApiResult<Vec<i64>> {
    Ok(store::current_groups_of(&state.db.read, user_id).await?)
}

pub async fn find_by_invite(state: &AppState, code: &str) -> ApiResult<Option<chat::Model>> {
    Ok(store::find_by_invite(&state.db.read, code).await?)
}

/// The private chat of a pair ("low:high" user ids), if it exists.
pub async fn find_private(
    conn: &impl ConnectionTrait,
    pair: &str,
) -> ApiResult<Option<chat::Model>> {
    Ok(store::find_private(conn, pair).await?)
}

/// Open chats by id, in any order.
pub async fn find_chats(conn: &impl ConnectionTrait, ids: &[i64]) -> ApiResult<Vec<chat::Model>> {
    Ok(store::find_many(conn, ids).await?)
}

/// The chats a user is in now, each with the chat row's `updated_at`.
pub async fn current_chats_of(
    conn: &impl ConnectionTrait,
    user_id: i64,
) -> ApiResult<Vec<(i64, i64)>> {
    Ok(store::current_chats_of(conn, user_id).await?)
}

/// A user's participant rows (their mute, pin and archive) in the chats they
/// are in now.
pub async fn current_rows_of(
    conn: &impl ConnectionTrait,
    user_id: i64,
) -> ApiResult<Vec<chat_participant::Model>> {
    Ok(store::current_rows_of(conn, user_id).await?)
}

/// Current participants of several chats, longest-standing first.
pub async fn participants_of(
    conn: &impl ConnectionTrait,
    chat_ids: &[i64],
) -> ApiResult<Vec<chat_participant::Model>> {
    Ok(store::current_participants(conn, chat_ids).await?)
}

/// (chat, user) pairs among these chats and users whose chat is muted at `now`:
/// one query for a whole batch of messages (the writer asks it before
/// enqueueing pushes).
pub async fn muted_among(
    conn: &impl ConnectionTrait,
    chat_ids: &[i64],
    user_ids: &[i64],
    now: i64,
) -> Result<HashSet<(i64, i64)>, DbErr> {
    Ok(store::muted_among(conn, chat_ids, user_ids, now)
        .await?
        .into_iter()
        .collect())
}

/// A user's participant row in a chat while they are a member (None after
/// leaving or if never one): its mute and receipt watermarks.
pub async fn current_participant(
    conn: &impl ConnectionTrait,
    chat_id: i64,
    user_id: i64,
) -> Result<Option<chat_participant::Model>, DbErr> {
    Ok(store::participant(conn, chat_id, user_id)
        .await?
        .filter(|p| p.left_at.is_none()))
}

/// How many chats exist (`natter stats`).
pub async fn count_chats(state: &AppState) -> ApiResult<u64> {
    Ok(store::count_chats(&state.db.read).await?)
}
