//! Chats: who is in them, what a member sees of them, private-chat creation,
//! muting, and the membership checks every chat or message route relies on.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::ConnectionTrait;

use super::dto::ChatList;
use super::store::{self, NewChat, NewParticipant};
use crate::clock::Timestamp;
use crate::contacts;
use crate::db::entities::{chat, chat_participant};
use crate::error::{ApiError, ApiResult};
use crate::http::pagination::PageQuery;
use crate::messages;
use crate::resources::chat::{ChatType, ChatView, ParticipantView, Role};
use crate::state::AppState;
use crate::synclog::{Audience, Event, Interval, LogTx, Scope};
use crate::users;

pub use store::Watermark;

/// A current member's receipt state in a chat.
#[derive(Debug, Clone, Copy)]
pub struct ReceiptHolder {
    pub user_id: i64,
    /// Watermarks, 0 when unset.
    pub delivered: i64,
    pub read: i64,
    /// Start of their current membership interval.
    pub from_seq: i64,
}

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
pub async fn member_ids(conn: &impl ConnectionTrait, chat_id: i64) -> ApiResult<Vec<i64>> {
    Ok(store::current_participants(conn, &[chat_id])
        .await?
        .into_iter()
        .map(|p| p.user_id)
        .collect())
}

/// The other person of a private chat.
pub async fn other_member(state: &AppState, member: &Member) -> ApiResult<Option<i64>> {
    let me = member.participant.user_id;
    Ok(member_ids(&state.db.read, member.chat.id)
        .await?
        .into_iter()
        .find(|id| *id != me))
}

/// 403 when either person of a private chat has blocked the other.
pub async fn ensure_not_blocked(state: &AppState, member: &Member) -> ApiResult<()> {
    if !member.is_private() {
        return Ok(());
    }
    let me = member.participant.user_id;
    if let Some(other) = other_member(state, member).await? {
        if contacts::service::has_blocked(state, other, me).await? {
            return Err(ApiError::forbidden("You cannot message this user."));
        }
        if contacts::service::has_blocked(state, me, other).await? {
            return Err(ApiError::forbidden(
                "You have blocked this user. Unblock them to send messages.",
            ));
        }
    }
    Ok(())
}

/// Current members' receipt state, per chat. Two queries.
pub async fn receipt_holders(
    conn: &impl ConnectionTrait,
    chat_ids: &[i64],
) -> ApiResult<HashMap<i64, Vec<ReceiptHolder>>> {
    let participants = store::current_participants(conn, chat_ids).await?;
    let from: HashMap<(i64, i64), i64> = store::open_memberships(conn, chat_ids)
        .await?
        .into_iter()
        .map(|m| ((m.chat_id, m.user_id), m.from_seq))
        .collect();
    let mut out: HashMap<i64, Vec<ReceiptHolder>> = HashMap::new();
    for p in participants {
        out.entry(p.chat_id).or_default().push(ReceiptHolder {
            user_id: p.user_id,
            delivered: p.last_delivered_message_id.unwrap_or(0),
            read: p.last_read_message_id.unwrap_or(0),
            from_seq: from.get(&(p.chat_id, p.user_id)).copied().unwrap_or(0),
        });
    }
    Ok(out)
}

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
    let pair = format!("{}:{}", user_id.min(other_id), user_id.max(other_id));
    if let Some(existing) = store::find_private(&state.db.read, &pair).await? {
        return Ok((view(state, &state.db.read, user_id, existing).await?, false));
    }
    match create_private(state, user_id, other_id, pair.clone()).await {
        Ok(chat) => Ok((view(state, &state.db.read, user_id, chat).await?, true)),
        Err(err) if err.is_unique_violation() => {
            let chat = store::find_private(&state.db.write, &pair)
                .await?
                .ok_or_else(|| {
                    ApiError::Internal(anyhow::anyhow!(
                        "private chat vanished after a unique violation"
                    ))
                })?;
            Ok((view(state, &state.db.read, user_id, chat).await?, false))
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
    let now = tx.now();
    let chat = store::insert_chat(
        tx.conn(),
        NewChat {
            chat_type: ChatType::Private.as_str(),
            name: None,
            description: None,
            created_by: user_id,
            private_pair: Some(pair),
            now,
        },
    )
    .await?;
    let from_seq = tx.peek_seq() - 1;
    for member in [user_id, other_id] {
        store::upsert_participant(
            tx.conn(),
            NewParticipant {
                chat_id: chat.id,
                user_id: member,
                role: "member",
                now,
            },
        )
        .await?;
        store::open_membership(tx.conn(), chat.id, member, from_seq).await?;
    }
    emit_chat_updated(state, &mut tx, &chat, Audience::default()).await?;
    let events = tx.commit().await?;
    state.publish(events);
    Ok(chat)
}

/// Emits `ChatUpdated` with the chat as anyone may see it (no viewer's unread
/// count or mute), to its members and `extra`; clients fetch the chat for
/// their own view.
pub async fn emit_chat_updated(
    state: &AppState,
    tx: &mut LogTx,
    chat: &chat::Model,
    extra: Audience,
) -> ApiResult<()> {
    let mut views = build_views(state, tx.conn(), None, vec![chat.clone()]).await?;
    if let Some(view) = views.pop() {
        emit_to_chat(tx, chat.id, Event::ChatUpdated(&view), extra).await?;
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
    };
    tx.emit(Scope::Chat(chat_id), audience, event)
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

/// The caller's chats, most recent activity first.
pub async fn list(state: &AppState, user_id: i64, page: PageQuery) -> ApiResult<ChatList> {
    let chats = store::current_chats_of(&state.db.read, user_id).await?;
    let from_seq: HashMap<i64, i64> = store::memberships(&state.db.read, user_id, None)
        .await?
        .into_iter()
        .filter(|m| m.to_seq.is_none())
        .map(|m| (m.chat_id, m.from_seq))
        .collect();
    let probes: Vec<(i64, i64)> = chats
        .iter()
        .map(|(chat_id, _)| (*chat_id, from_seq.get(chat_id).copied().unwrap_or(0)))
        .collect();
    let last_sent = messages::service::last_sent_at(state, &probes).await?;
    let mut ordered: Vec<(i64, i64)> = chats
        .into_iter()
        .map(|(chat_id, updated)| {
            (
                chat_id,
                updated.max(last_sent.get(&chat_id).copied().unwrap_or(0)),
            )
        })
        .collect();
    ordered.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
    let total = ordered.len() as u64;
    let page_ids: Vec<i64> = ordered
        .iter()
        .skip(page.offset() as usize)
        .take(page.limit as usize)
        .map(|(id, _)| *id)
        .collect();
    let mut models: HashMap<i64, chat::Model> = store::find_many(&state.db.read, &page_ids)
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

pub async fn mute(
    state: &AppState,
    user_id: i64,
    chat_id: i64,
    until: Option<i64>,
) -> ApiResult<ChatView> {
    let member = require_member(state, chat_id, user_id).await?;
    store::set_muted_until(&state.db.write, chat_id, user_id, until).await?;
    view(state, &state.db.write, user_id, member.chat).await
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
    let participants = store::current_participants(conn, &chat_ids).await?;
    let holders = receipt_holders(conn, &chat_ids).await?;
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
    let last_messages = messages::service::last_messages(state, conn, &probes).await?;
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
                ChatType::Group => (chat.name.clone(), chat.avatar_url.clone()),
                ChatType::Private => participants
                    .iter()
                    .find(|p| Some(p.user.id) != viewer && viewer.is_some())
                    .map(|p| (Some(p.user.name.clone()), p.user.avatar_url.clone()))
                    .unwrap_or((None, None)),
            };
            let last_message = last_messages.remove(&chat.id);
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
                muted_until: mine
                    .get(&chat.id)
                    .and_then(|p| p.muted_until)
                    .map(Timestamp),
                created_at: Timestamp(chat.created_at),
                updated_at: Timestamp(updated_at),
            }
        })
        .collect())
}

/// Moves a member's watermark forward. True if it moved.
pub async fn advance_watermark(
    conn: &impl ConnectionTrait,
    chat_id: i64,
    user_id: i64,
    which: Watermark,
    message_id: i64,
) -> ApiResult<bool> {
    Ok(store::advance_watermark(conn, chat_id, user_id, which, message_id).await?)
}

/// A member's current watermarks (delivered, read), 0 when unset.
pub async fn watermarks(
    conn: &impl ConnectionTrait,
    chat_id: i64,
    user_id: i64,
) -> ApiResult<(i64, i64)> {
    Ok(store::participant(conn, chat_id, user_id)
        .await?
        .map(|p| {
            (
                p.last_delivered_message_id.unwrap_or(0),
                p.last_read_message_id.unwrap_or(0),
            )
        })
        .unwrap_or((0, 0)))
}

/// Whether `user_id` may whisper (typing) in a chat: a current member, and in
/// a private chat neither person has blocked the other.
pub async fn may_whisper(state: &AppState, chat_id: i64, user_id: i64) -> bool {
    match require_member(state, chat_id, user_id).await {
        Ok(member) => ensure_not_blocked(state, &member).await.is_ok(),
        Err(_) => false,
    }
}

// ---- membership changes, inside an event transaction (used by groups) ----

/// A new group with its creator as its first admin.
pub async fn insert_group(
    tx: &mut LogTx,
    creator: i64,
    name: String,
    description: Option<String>,
) -> ApiResult<chat::Model> {
    let chat = store::insert_chat(
        tx.conn(),
        NewChat {
            chat_type: ChatType::Group.as_str(),
            name: Some(name),
            description,
            created_by: creator,
            private_pair: None,
            now: tx.now(),
        },
    )
    .await?;
    join(tx, chat.id, creator, Role::Admin).await?;
    Ok(chat)
}

/// Makes `user_id` a current member from the next event on: they see the
/// events of this transaction (the system message announcing them) and what
/// follows, nothing earlier.
pub async fn join(tx: &mut LogTx, chat_id: i64, user_id: i64, role: Role) -> ApiResult<()> {
    let now = tx.now();
    store::upsert_participant(
        tx.conn(),
        NewParticipant {
            chat_id,
            user_id,
            role: role.as_str(),
            now,
        },
    )
    .await?;
    store::open_membership(tx.conn(), chat_id, user_id, tx.peek_seq() - 1).await?;
    Ok(())
}

/// Takes a member out of the current participants (their interval stays open
/// until [`close_interval`], so they still see the events announcing it).
pub async fn mark_left(tx: &LogTx, chat_id: i64, user_id: i64) -> ApiResult<()> {
    Ok(store::set_left(tx.conn(), chat_id, user_id, tx.now()).await?)
}

/// Ends a former member's interval after the events emitted so far in this
/// transaction: they see their own removal, and nothing after.
pub async fn close_interval(tx: &LogTx, chat_id: i64, user_id: i64) -> ApiResult<()> {
    Ok(store::close_membership(tx.conn(), chat_id, user_id, tx.last_seq()).await?)
}

pub async fn set_role(tx: &LogTx, chat_id: i64, user_id: i64, role: Role) -> ApiResult<()> {
    Ok(store::set_role(tx.conn(), chat_id, user_id, role.as_str()).await?)
}

/// Current participants of one chat, longest-standing first.
pub async fn participants(
    conn: &impl ConnectionTrait,
    chat_id: i64,
) -> ApiResult<Vec<chat_participant::Model>> {
    Ok(store::current_participants(conn, &[chat_id]).await?)
}

/// Saves changed chat fields (name, description, invite code, deletion).
pub async fn save(tx: &LogTx, changes: chat::ActiveModel) -> ApiResult<chat::Model> {
    Ok(store::update_chat(tx.conn(), changes).await?)
}

pub async fn reload(conn: &impl ConnectionTrait, chat_id: i64) -> ApiResult<chat::Model> {
    store::find(conn, chat_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Group"))
}

pub async fn set_invite_code(tx: &LogTx, chat_id: i64, code: &str) -> ApiResult<()> {
    let changes = chat::ActiveModel {
        id: sea_orm::ActiveValue::Set(chat_id),
        invite_code: sea_orm::ActiveValue::Set(Some(code.to_string())),
        ..Default::default()
    };
    store::update_chat(tx.conn(), changes).await?;
    Ok(())
}

pub async fn groups_of(state: &AppState, user_id: i64) -> ApiResult<Vec<i64>> {
    Ok(store::current_groups_of(&state.db.read, user_id).await?)
}

pub async fn find_by_invite(state: &AppState, code: &str) -> ApiResult<Option<chat::Model>> {
    Ok(store::find_by_invite(&state.db.read, code).await?)
}

/// Who is in a chat as of a transaction, and whether it is private.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    pub private: bool,
    pub members: Vec<i64>,
}

/// Rosters kept between transactions by their one user, the group-commit
/// writer, each with the chat's roster version it was read at. Every change
/// of participants bumps the version in the same event transaction (which
/// holds the stream lock, as the writer's does), so a roster whose version
/// still matches inside the writer's transaction is exactly the current one,
/// whichever node changed it. A message to a 1,024-member group then reads one
/// row, not 1,024.
#[derive(Default)]
pub struct RosterCache {
    entries: HashMap<i64, (i64, Arc<Roster>)>,
}

/// Rosters kept at most; beyond it the cache starts over.
const ROSTER_CACHE_CHATS: usize = 50_000;

impl RosterCache {
    /// Rosters of several open chats, as of the caller's transaction: one
    /// small query for the versions, and the members only of chats whose
    /// roster changed since they were last read. Shared, not copied: a
    /// 1,024-member roster is handed to every batch that sends there.
    pub async fn rosters(
        &mut self,
        conn: &impl ConnectionTrait,
        chat_ids: &[i64],
    ) -> ApiResult<HashMap<i64, Arc<Roster>>> {
        let versions = store::roster_versions(conn, chat_ids).await?;
        let stale: Vec<&(i64, String, i64)> = versions
            .iter()
            .filter(|(id, _, version)| self.entries.get(id).map(|(v, _)| v) != Some(version))
            .collect();
        if !stale.is_empty() {
            if self.entries.len() + stale.len() > ROSTER_CACHE_CHATS {
                self.entries.clear();
            }
            let stale_ids: Vec<i64> = stale.iter().map(|(id, _, _)| *id).collect();
            let mut members: HashMap<i64, Vec<i64>> = HashMap::new();
            for (chat_id, user_id) in store::current_members_of(conn, &stale_ids).await? {
                members.entry(chat_id).or_default().push(user_id);
            }
            for (id, chat_type, version) in stale {
                let roster = Roster {
                    private: chat_type == ChatType::Private.as_str(),
                    members: members.remove(id).unwrap_or_default(),
                };
                self.entries.insert(*id, (*version, Arc::new(roster)));
            }
        }
        Ok(versions
            .iter()
            .filter_map(|(id, _, _)| Some((*id, self.entries.get(id)?.1.clone())))
            .collect())
    }
}
