//! Chats as a member sees them (the Chat resource, built in bulk), the list of
//! a user's chats (pinned first), private-chat creation. A member's own
//! settings (mute, pin, archive) are prefs.rs'; who is in a chat is
//! membership/'s.

use std::collections::HashMap;

use sea_orm::ActiveValue::Set;
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::dto::{ChatFilter, ChatList};
use super::prefs::is_archived;
use crate::clock::Timestamp;
use crate::contacts;
use crate::db::entities::{chat, chat_participant};
use crate::error::{ApiError, ApiResult};
use crate::http::pagination::PageQuery;
use crate::media;
use crate::membership::{self, emit_to_chat, require_member};
use crate::messages;
use crate::messages::expire::TIMERS;
use crate::resources::chat::{ChatType, ChatView, ParticipantView, Role};
use crate::state::AppState;
use crate::synclog::{Audience, Event, LogTx};
use crate::users;

/// The private chat of two users, created on first call (201) and returned
/// after (200). The database's unique pair key makes concurrent calls meet on
/// one chat.
pub async fn get_or_create_private(
    state: &AppState,
    user_id: i64,
    other_id: i64,
) -> ApiResult<(ChatView, bool)> {
    if other_id == user_id {
        return Err(ApiError::field(
            "contact_id",
            "You cannot start a chat with yourself.",
        ));
    }
    users::service::require_active(state, other_id).await?;
    if contacts::service::has_blocked(state, other_id, user_id).await?
        || contacts::service::has_blocked(state, user_id, other_id).await?
    {
        return Err(ApiError::forbidden(
            "You cannot start a chat with this user.",
        ));
    }
    let (chat, created) = find_or_create_private(state, user_id, other_id).await?;
    Ok((view(state, &state.db.read, user_id, chat).await?, created))
}

/// The private chat of two users, and whether this call created it. No
/// check of who they are: the caller's (blocks, deleted accounts) before,
/// and the writer's (blocks) when a message is sent in it.
pub async fn find_or_create_private(
    state: &AppState,
    user_id: i64,
    other_id: i64,
) -> ApiResult<(chat::Model, bool)> {
    let pair = format!("{}:{}", user_id.min(other_id), user_id.max(other_id));
    if let Some(existing) = membership::find_private(&state.db.read, &pair).await? {
        return Ok((existing, false));
    }
    match create_private(state, user_id, other_id, pair.clone()).await {
        Ok(chat) => Ok((chat, true)),
        Err(err) if err.is_unique_violation() => {
            let chat = membership::find_private(&state.db.write, &pair)
                .await?
                .ok_or_else(|| {
                    ApiError::Internal(anyhow::anyhow!(
                        "private chat vanished after a unique violation"
                    ))
                })?;
            Ok((chat, false))
        }
        Err(other) => Err(other),
    }
}

async fn create_private(
    state: &AppState,
    user_id: i64,
    other_id: i64,
    pair: String,
) -> ApiResult<chat::Model> {
    let mut tx = LogTx::begin(&state.db).await?;
    let chat = membership::insert_private(&mut tx, user_id, other_id, pair).await?;
    emit_chat_updated(state, &mut tx, &chat, Audience::default()).await?;
    state.publish(tx.commit().await?);
    Ok(chat)
}

/// Emits `ChatUpdated` with the chat as anyone may see it (no viewer's unread
/// count, mute or pinned messages), to its members and `extra`; clients fetch the chat for
/// their own view.
pub async fn emit_chat_updated(
    state: &AppState,
    tx: &mut LogTx,
    chat: &chat::Model,
    extra: Audience,
) -> ApiResult<()> {
    let mut views = build_views(state, tx.conn(), None, vec![chat.clone()]).await?;
    if let Some(mut view) = views.pop() {
        // The log keeps this event for SYNC_RETENTION: a disappearing message
        // must not outlive its timer in it.
        view.last_message.take_if(|m| m.expires_at.is_some());
        // Pins depend on the viewer (none from before their membership) and
        // `MessagePinned` carries every change, so events show none.
        view.pinned_messages.clear();
        emit_to_chat(tx, chat.id, Event::ChatUpdated(&view), extra).await?;
    }
    Ok(())
}

pub async fn show(state: &AppState, user_id: i64, chat_id: i64) -> ApiResult<ChatView> {
    let member = require_member(state, chat_id, user_id).await?;
    view(state, &state.db.read, user_id, member.chat).await
}

pub async fn view(
    state: &AppState,
    conn: &impl ConnectionTrait,
    viewer: i64,
    chat: chat::Model,
) -> ApiResult<ChatView> {
    build_views(state, conn, Some(viewer), vec![chat])
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found("Chat"))
}

/// The caller's chats: pinned ones first (most recently pinned first), then
/// the rest by latest activity; with `filter.archived`, only the archived ones
/// or only the others.
pub async fn list(
    state: &AppState,
    user_id: i64,
    page: PageQuery,
    filter: ChatFilter,
) -> ApiResult<ChatList> {
    let ordered = ordered_chat_ids(state, user_id, filter.archived).await?;
    let total = ordered.len() as u64;
    let page_ids: Vec<i64> = ordered
        .into_iter()
        .skip(page.offset() as usize)
        .take(page.limit as usize)
        .collect();
    let mut models: HashMap<i64, chat::Model> = membership::find_chats(&state.db.read, &page_ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let page_chats: Vec<chat::Model> = page_ids.iter().filter_map(|id| models.remove(id)).collect();
    let chats = build_views(state, &state.db.read, Some(user_id), page_chats).await?;
    Ok(ChatList {
        chats,
        pagination: page.pagination(total),
    })
}

/// A chat's place in the list.
struct ListEntry {
    chat_id: i64,
    pinned_at: Option<i64>,
    /// The latest of the chat row's change and its newest message.
    activity: i64,
}

/// The ids of the user's chats in list order, archived or not as `archived`
/// asks (None: all of them).
async fn ordered_chat_ids(
    state: &AppState,
    user_id: i64,
    archived: Option<bool>,
) -> ApiResult<Vec<i64>> {
    let chats = membership::current_chats_of(&state.db.read, user_id).await?;
    let rows: HashMap<i64, chat_participant::Model> =
        membership::current_rows_of(&state.db.read, user_id)
            .await?
            .into_iter()
            .map(|row| (row.chat_id, row))
            .collect();
    let keep_archived = users::service::keeps_chats_archived(&state.db.read, user_id).await?;
    let from_seq: HashMap<i64, i64> = membership::all_intervals(state, user_id)
        .await?
        .into_iter()
        .filter(|(_, interval)| interval.to.is_none())
        .map(|(chat_id, interval)| (chat_id, interval.from))
        .collect();
    let probes: Vec<(i64, i64)> = chats
        .iter()
        .map(|(chat_id, _)| (*chat_id, from_seq.get(chat_id).copied().unwrap_or(0)))
        .collect();
    let last_sent = messages::service::last_sent(state, &probes).await?;
    let mut entries: Vec<ListEntry> = chats
        .into_iter()
        .filter_map(|(chat_id, updated)| {
            // Read apart from the chats: one joined in between waits for the next list.
            let row = rows.get(&chat_id)?;
            let last = last_sent.get(&chat_id);
            let in_archive = is_archived(row, last.map(|(id, _)| *id), keep_archived);
            if archived.is_some_and(|wanted| wanted != in_archive) {
                return None;
            }
            Some(ListEntry {
                chat_id,
                pinned_at: row.pinned_at,
                activity: updated.max(last.map_or(0, |(_, sent_at)| *sent_at)),
            })
        })
        .collect();
    // None sorts before Some: descending puts the pinned first.
    entries.sort_by(|a, b| {
        (b.pinned_at, b.activity, b.chat_id).cmp(&(a.pinned_at, a.activity, a.chat_id))
    });
    Ok(entries.into_iter().map(|entry| entry.chat_id).collect())
}

/// Sets a chat's disappearing-messages timer. Who may is checked on the log
/// transaction that writes it (membership and roles change only under the log
/// lock): any member of a private chat neither of whose people blocked the
/// other, an admin of a group. A change posts a
/// `system` message `{"event": "disappearing_set", "actor_id", "user_ids": [],
/// "seconds"}` (in private chats too) and emits `ChatUpdated`; setting the
/// timer it already has changes nothing and announces nothing.
pub async fn set_disappearing(
    state: &AppState,
    user_id: i64,
    chat_id: i64,
    seconds: i64,
) -> ApiResult<ChatView> {
    check_timer(state, seconds)?;
    messages::service::count_send(state, user_id).await?;
    let mut tx = LogTx::begin(&state.db).await?;
    let member = membership::require_member_on(tx.conn(), chat_id, user_id).await?;
    if !member.is_private() && !member.is_admin() {
        return Err(ApiError::forbidden("Only group admins can do that."));
    }
    // A timer change posts into the chat: in a private chat, as a message
    // does, not between people one of whom blocked the other.
    membership::ensure_not_blocked_on(tx.conn(), &member).await?;
    if member.chat.disappearing_seconds == seconds {
        tx.rollback().await?;
        return view(state, &state.db.read, user_id, member.chat).await;
    }
    let changes = chat::ActiveModel {
        id: Set(chat_id),
        disappearing_seconds: Set(seconds),
        updated_at: Set(tx.now()),
        ..Default::default()
    };
    let chat = membership::save(&tx, changes).await?;
    let content = json!({
        "event": "disappearing_set",
        "actor_id": user_id,
        "user_ids": [],
        "seconds": seconds,
    });
    messages::service::post_system(
        state,
        &mut tx,
        chat_id,
        user_id,
        &content,
        Audience::default(),
    )
    .await?;
    emit_chat_updated(state, &mut tx, &chat, Audience::default()).await?;
    state.publish(tx.commit().await?);
    view(state, &state.db.write, user_id, chat).await
}

/// One of the four timers, or the testing value DISAPPEARING_TEST_SECONDS.
fn check_timer(state: &AppState, seconds: i64) -> ApiResult<()> {
    let test = state.config.settings.disappearing_test_seconds;
    if TIMERS.contains(&seconds) || test.is_some_and(|t| t as i64 == seconds) {
        return Ok(());
    }
    Err(ApiError::field(
        "seconds",
        "The seconds field must be one of 0, 86400, 604800, 7776000.",
    ))
}

/// Builds Chat resources as `viewer` sees them (None: as anyone may). A fixed
/// number of queries whatever the number of chats: no query per chat.
pub async fn build_views(
    state: &AppState,
    conn: &impl ConnectionTrait,
    viewer: Option<i64>,
    chats: Vec<chat::Model>,
) -> ApiResult<Vec<ChatView>> {
    if chats.is_empty() {
        return Ok(Vec::new());
    }
    let chat_ids: Vec<i64> = chats.iter().map(|c| c.id).collect();
    let participants = membership::participants_of(conn, &chat_ids).await?;
    let holders = membership::receipt_holders(conn, &chat_ids).await?;
    let user_ids: Vec<i64> = participants.iter().map(|p| p.user_id).collect();
    let people = users::service::view_users(state, viewer.unwrap_or(0), &user_ids).await?;
    let mine: HashMap<i64, &chat_participant::Model> = participants
        .iter()
        .filter(|p| Some(p.user_id) == viewer)
        .map(|p| (p.chat_id, p))
        .collect();
    let my_from = |chat_id: i64| -> i64 {
        holders
            .get(&chat_id)
            .and_then(|list| list.iter().find(|h| Some(h.user_id) == viewer))
            .map(|h| h.from_seq)
            .unwrap_or(0)
    };
    let probes: Vec<(i64, i64)> = chat_ids.iter().map(|id| (*id, my_from(*id))).collect();
    let last_messages = messages::service::last_messages(state, conn, viewer, &probes).await?;
    let mut pins = messages::pins::pinned_in(conn, &probes).await?;
    let keep_archived = match viewer {
        Some(viewer) => users::service::keeps_chats_archived(conn, viewer).await?,
        None => false,
    };
    let unread = match viewer {
        Some(viewer) => {
            let probes: Vec<(i64, i64, i64)> = chat_ids
                .iter()
                .map(|id| {
                    let after = mine
                        .get(id)
                        .and_then(|p| p.last_read_message_id)
                        .unwrap_or(0);
                    (*id, after, my_from(*id))
                })
                .collect();
            messages::service::unread_counts(conn, viewer, &probes).await?
        }
        None => HashMap::new(),
    };
    let mut by_chat: HashMap<i64, Vec<ParticipantView>> = HashMap::new();
    for p in &participants {
        if let Some(user) = people.get(&p.user_id) {
            by_chat.entry(p.chat_id).or_default().push(ParticipantView {
                user: user.clone(),
                role: Role::parse(&p.role),
                joined_at: Timestamp(p.joined_at),
            });
        }
    }
    let mut last_messages = last_messages;
    let group_keys: Vec<String> = chats.iter().filter_map(|c| c.avatar_key.clone()).collect();
    let group_avatars = media::urls::sign_all(&state.storage, group_keys).await;
    Ok(chats
        .into_iter()
        .map(|chat| {
            let participants = by_chat.remove(&chat.id).unwrap_or_default();
            let chat_type = if chat.chat_type == ChatType::Group.as_str() {
                ChatType::Group
            } else {
                ChatType::Private
            };
            let (name, avatar_url) = match chat_type {
                ChatType::Group => (
                    chat.name.clone(),
                    chat.avatar_key
                        .as_ref()
                        .and_then(|key| group_avatars.get(key).cloned()),
                ),
                ChatType::Private => participants
                    .iter()
                    .find(|p| Some(p.user.id) != viewer && viewer.is_some())
                    .map(|p| (Some(p.user.name.clone()), p.user.avatar_url.clone()))
                    .unwrap_or((None, None)),
            };
            let last_message = last_messages.remove(&chat.id);
            let my_row = mine.get(&chat.id);
            let archived = my_row.is_some_and(|row| {
                is_archived(row, last_message.as_ref().map(|m| m.id), keep_archived)
            });
            let pinned_at = my_row.and_then(|row| row.pinned_at).map(Timestamp);
            let updated_at = chat
                .updated_at
                .max(last_message.as_ref().map(|m| m.sent_at.0).unwrap_or(0));
            ChatView {
                id: chat.id,
                chat_type,
                name,
                description: chat.description.clone(),
                avatar_url,
                created_by: chat.created_by,
                participants,
                last_message,
                unread_count: unread.get(&chat.id).copied().unwrap_or(0),
                muted_until: my_row.and_then(|p| p.muted_until).map(Timestamp),
                pinned: pinned_at.is_some(),
                pinned_at,
                archived,
                disappearing_seconds: chat.disappearing_seconds,
                pinned_messages: pins.remove(&chat.id).unwrap_or_default(),
                created_at: Timestamp(chat.created_at),
                updated_at: Timestamp(updated_at),
            }
        })
        .collect())
}
