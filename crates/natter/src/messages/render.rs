//! Turning stored messages into the Message resource of API.md, in bulk: a
//! fixed number of queries for any number of messages (senders, quoted
//! messages, reactions, mentions, receipt state), never one per message or
//! recipient.
//!
//! The rendering is the same for every viewer, so one encoding of an event
//! serves every socket: `status` is the lowest state over the message's
//! recipients (the chat's current members other than its sender who were
//! members when it was sent), as its sender sees it.

use std::collections::HashMap;

use sea_orm::ConnectionTrait;

use super::store::{self, MARK_DELIVERED, MARK_READ};
use crate::clock::Timestamp;
use crate::db::entities::{message, message_reaction, receipt_mark};
use crate::error::ApiResult;
use crate::media;
use crate::membership::{self, ReceiptHolder};
use crate::resources::message::{
    DeliveryStatus, LocationView, MediaView, MessageView, ReactionSummary, ReplyView, SenderView,
};
use crate::state::AppState;
use crate::users;

/// Renders messages (in the order given). `conn` must see the messages' current
/// state: pass the transaction when rendering inside one.
pub async fn render(
    state: &AppState,
    conn: &impl ConnectionTrait,
    messages: &[message::Model],
) -> ApiResult<Vec<MessageView>> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = messages.iter().map(|m| m.id).collect();
    let reply_ids: Vec<i64> = messages
        .iter()
        .filter_map(|m| m.reply_to_message_id)
        .collect();
    let replies: HashMap<i64, ReplyView> = store::find_many(conn, &reply_ids)
        .await?
        .iter()
        .map(|m| (m.id, reply_view(m)))
        .collect();
    let sender_ids: Vec<i64> = messages.iter().map(|m| m.sender_id).collect();
    let senders = users::service::summaries(state, &sender_ids).await?;
    let reactions = summarise_reactions(store::reactions_of(conn, &ids).await?);
    let mut mentions = store::mentions_of(conn, &ids).await?;
    let receipts = Receipts::load(conn, messages).await?;
    let mut media = media_views(state, conn, messages).await?;
    let avatar_keys: Vec<String> = senders
        .values()
        .filter_map(|s| s.avatar_key.clone())
        .collect();
    let avatars = media::urls::sign_all(&state.storage, avatar_keys).await;
    Ok(messages
        .iter()
        .map(|m| {
            let sender = senders
                .get(&m.sender_id)
                .map(|s| SenderView {
                    id: s.id,
                    name: s.name.clone(),
                    avatar_url: s.avatar_key.as_ref().and_then(|k| avatars.get(k).cloned()),
                })
                .unwrap_or_else(|| SenderView {
                    id: m.sender_id,
                    name: String::new(),
                    avatar_url: None,
                });
            let (status, delivered_at, read_at) = receipts.state_of(m);
            MessageView {
                id: m.id,
                chat_id: m.chat_id,
                sender_id: m.sender_id,
                sender,
                client_message_id: m.client_message_id.clone(),
                reply_to: m
                    .reply_to_message_id
                    .and_then(|id| replies.get(&id).cloned()),
                message_type: m.message_type.clone(),
                content: content_value(m),
                media: media.remove(&m.id),
                location: location_view(m),
                contact_data: m
                    .contact_data
                    .as_deref()
                    .and_then(|t| serde_json::from_str(t).ok()),
                status,
                reactions: reactions.get(&m.id).cloned().unwrap_or_default(),
                sent_at: Timestamp(m.sent_at),
                delivered_at: delivered_at.map(Timestamp),
                read_at: read_at.map(Timestamp),
                edited_at: m.edited_at.map(Timestamp),
                deleted: m.deleted_at.is_some(),
                expires_at: m.expires_at.map(Timestamp),
                view_once: m.view_once,
                // Per caller: set for the caller of a route (service::personalise).
                viewed: false,
                starred: false,
                // A deleted message says nothing more, not even whom it named.
                mentions: match m.deleted_at {
                    None => mentions.remove(&m.id).unwrap_or_default(),
                    Some(_) => Vec::new(),
                },
            }
        })
        .collect())
}

/// `content` on the wire: text for people's messages, the structured object
/// for `system` ones.
pub fn content_value(m: &message::Model) -> Option<serde_json::Value> {
    let text = m.content.as_deref()?;
    if m.message_type == "system" {
        serde_json::from_str(text).ok()
    } else {
        Some(serde_json::Value::String(text.to_string()))
    }
}

pub fn reply_view(m: &message::Model) -> ReplyView {
    ReplyView {
        id: m.id,
        sender_id: m.sender_id,
        message_type: m.message_type.clone(),
        content: content_value(m),
    }
}

/// Each message's `media`, its URLs signed now: one query for the whole page.
/// A view-once message shows none: its file opens only through
/// `POST /api/messages/{id}/view`, once per recipient.
async fn media_views(
    state: &AppState,
    conn: &impl ConnectionTrait,
    messages: &[message::Model],
) -> ApiResult<HashMap<i64, MediaView>> {
    let shown: Vec<(&message::Model, i64)> = messages
        .iter()
        .filter(|m| m.deleted_at.is_none() && !m.view_once)
        .filter_map(|m| m.media_id.map(|id| (m, id)))
        .collect();
    if shown.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<i64> = shown.iter().map(|(_, id)| *id).collect();
    let rows = media::urls::rows(conn, ids).await?;
    let mut views = HashMap::with_capacity(shown.len());
    for (m, media_id) in shown {
        let Some(row) = rows.get(&media_id) else {
            continue;
        };
        if let Some(view) =
            media::urls::message_media(&state.storage, row, m.file_name.as_deref()).await
        {
            views.insert(m.id, view);
        }
    }
    Ok(views)
}

fn location_view(m: &message::Model) -> Option<LocationView> {
    Some(LocationView {
        latitude: m.latitude?,
        longitude: m.longitude?,
        name: m.location_name.clone(),
    })
}

/// Reactions grouped per message and emoji, in the order they were first made.
pub fn summarise_reactions(
    rows: Vec<message_reaction::Model>,
) -> HashMap<i64, Vec<ReactionSummary>> {
    let mut out: HashMap<i64, Vec<ReactionSummary>> = HashMap::new();
    for row in rows {
        let list = out.entry(row.message_id).or_default();
        match list.iter_mut().find(|r| r.emoji == row.emoji) {
            Some(summary) => {
                summary.count += 1;
                summary.user_ids.push(row.user_id);
            }
            None => list.push(ReactionSummary {
                emoji: row.emoji,
                count: 1,
                user_ids: vec![row.user_id],
            }),
        }
    }
    out
}

/// Watermarks and receipt marks of the chats some messages belong to.
struct Receipts {
    recipients: HashMap<i64, Vec<ReceiptHolder>>,
    /// (chat, user, kind) -> marks sorted by message id: (message id, time).
    marks: HashMap<(i64, i64, i16), Vec<(i64, i64)>>,
}

impl Receipts {
    async fn load(conn: &impl ConnectionTrait, messages: &[message::Model]) -> ApiResult<Receipts> {
        let mut ranges: HashMap<i64, (i64, i64)> = HashMap::new();
        for m in messages {
            let range = ranges.entry(m.chat_id).or_insert((m.id, m.id));
            range.0 = range.0.min(m.id);
            range.1 = range.1.max(m.id);
        }
        let chat_ids: Vec<i64> = ranges.keys().copied().collect();
        let recipients = membership::receipt_holders(conn, &chat_ids).await?;
        let ranges: Vec<(i64, i64, i64)> = ranges
            .into_iter()
            .map(|(c, (lo, hi))| (c, lo, hi))
            .collect();
        let mut marks: HashMap<(i64, i64, i16), Vec<(i64, i64)>> = HashMap::new();
        for receipt_mark::Model {
            chat_id,
            user_id,
            kind,
            message_id,
            at,
            ..
        } in store::marks_for_ranges(conn, &ranges).await?
        {
            marks
                .entry((chat_id, user_id, kind))
                .or_default()
                .push((message_id, at));
        }
        for list in marks.values_mut() {
            list.sort_unstable();
        }
        Ok(Receipts { recipients, marks })
    }

    /// When `user` first had `kind` at or past `message_id`.
    fn reached_at(&self, chat_id: i64, user_id: i64, kind: i16, message_id: i64) -> Option<i64> {
        let list = self.marks.get(&(chat_id, user_id, kind))?;
        let index = list.partition_point(|(id, _)| *id < message_id);
        list.get(index).map(|(_, at)| *at)
    }

    fn state_of(&self, m: &message::Model) -> (DeliveryStatus, Option<i64>, Option<i64>) {
        let recipients: Vec<&ReceiptHolder> = self
            .recipients
            .get(&m.chat_id)
            .map(|list| {
                list.iter()
                    .filter(|r| r.user_id != m.sender_id && r.from_seq < m.seq)
                    .collect()
            })
            .unwrap_or_default();
        if recipients.is_empty() || m.message_type == "system" {
            return (DeliveryStatus::Sent, None, None);
        }
        let all_read = recipients.iter().all(|r| r.read >= m.id);
        let all_delivered = recipients.iter().all(|r| r.delivered.max(r.read) >= m.id);
        let latest = |kind: i16| -> Option<i64> {
            recipients
                .iter()
                .map(|r| {
                    self.reached_at(m.chat_id, r.user_id, kind, m.id)
                        .or_else(|| self.reached_at(m.chat_id, r.user_id, MARK_READ, m.id))
                })
                .collect::<Option<Vec<i64>>>()
                .and_then(|times| times.into_iter().max())
        };
        let delivered_at = if all_delivered {
            latest(MARK_DELIVERED)
        } else {
            None
        };
        let read_at = if all_read { latest(MARK_READ) } else { None };
        let status = if all_read {
            DeliveryStatus::Read
        } else if all_delivered {
            DeliveryStatus::Delivered
        } else {
            DeliveryStatus::Sent
        };
        (status, delivered_at, read_at)
    }
}
