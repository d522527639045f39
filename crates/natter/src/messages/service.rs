//! Messages: sending (through the group-commit writer), history, edits,
//! deletes, reactions, forwarding and receipts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use sea_orm::ConnectionTrait;
use validator::Validate;

use super::dto::{
    ForwardRequest, HistoryPagination, HistoryQuery, MessageHistory, ReactResponse, ReactionResult,
    SendMessageRequest, SendableType,
};
use super::render::{self, reply_view, summarise_reactions};
use super::store::{self, UnreadProbe};
use super::writer::{Draft, DraftMedia, Refusal, SendOutcome, Writer};
use crate::clock::now_ms;
use crate::db::entities::message;
use crate::db::unique::MESSAGE_VIEWS_USER;
use crate::error::{ApiError, ApiResult};
use crate::http::json::from_value;
use crate::http::laravel::validation_error;
use crate::http::validate::canonical_emoji;
use crate::media::service::StoredMedia;
use crate::media::upload::KindRule;
use crate::media::{self, Media};
use crate::membership::{self, Member};
use crate::ratelimit::{self, Limit};
use crate::realtime::channels::chat_channel;
use crate::resources::chat::Typing;
use crate::resources::message::{
    LocationView, MediaView, MessageView, ReactionSummary, ReactionUpdate, ReplyView, SenderView,
};
use crate::state::AppState;
use crate::synclog::{self, Audience, Event, EventName, Interval, LogTx};
use crate::users;

const MESSAGE_NOT_FOUND: &str = "Message";

/// Sends a message; returns it and whether it is new (201) or a retry of an
/// earlier send with the same client message id (200).
pub async fn send(
    state: &AppState,
    writer: &Writer,
    user_id: i64,
    chat_id: i64,
    request: SendMessageRequest,
) -> ApiResult<(MessageView, bool)> {
    let client_id = request.client_message_id.clone();
    let sent = send_new(state, writer, user_id, chat_id, request).await;
    or_stored_already(state, user_id, client_id, sent).await
}

/// A send refused before it reaches the writer (404, 403, 422) may be the
/// retry of a message stored earlier, whose answer the client never got: it
/// must hear 200 and that message, as any retry does, not that it can no
/// longer send it (it left the group since, the quoted message expired).
/// Looked up only when refused; the writer looks up every client id itself.
async fn or_stored_already(
    state: &AppState,
    user_id: i64,
    client_id: Option<String>,
    sent: ApiResult<(MessageView, bool)>,
) -> ApiResult<(MessageView, bool)> {
    let refused = match sent {
        Err(
            err @ (ApiError::NotFound(_) | ApiError::Forbidden(_) | ApiError::Validation { .. }),
        ) => err,
        other => return other,
    };
    let Some(client_id) = client_id else {
        return Err(refused);
    };
    match store::find_by_client_ids(&state.db.read, &[(user_id, client_id)])
        .await?
        .first()
    {
        Some(stored) => Ok((own_view(state, user_id, stored.id).await?, false)),
        None => Err(refused),
    }
}

/// The caller's own message, as the retry of its send answers it: its
/// sender may have it back after leaving the chat (they wrote it), but not
/// once it has expired.
async fn own_view(state: &AppState, user_id: i64, id: i64) -> ApiResult<MessageView> {
    let message = store::find(&state.db.read, id)
        .await?
        .filter(|m| m.sender_id == user_id && unexpired(m))
        .ok_or_else(|| ApiError::not_found(MESSAGE_NOT_FOUND))?;
    view_for(state, user_id, message).await
}

async fn send_new(
    state: &AppState,
    writer: &Writer,
    user_id: i64,
    chat_id: i64,
    request: SendMessageRequest,
) -> ApiResult<(MessageView, bool)> {
    // Membership and blocks are decided by the writer, in the transaction that
    // stores the message; a reply needs the sender's membership here already.
    let reply_to = match request.reply_to_message_id {
        Some(id) => {
            let member = membership::require_member(state, chat_id, user_id).await?;
            check_shape(&request, false)?;
            Some(reply_target(state, &member, id).await?)
        }
        None => {
            check_shape(&request, false)?;
            None
        }
    };
    let draft = draft_of(state, user_id, chat_id, request, reply_to, None).await?;
    outcome_view(state, user_id, writer.send(draft).await?).await
}

/// Sends a media message from a multipart upload. Membership and blocks are
/// checked before the body is read (nobody streams a file into a chat they may
/// not write to), the fields are validated like the JSON body's, then the file
/// is stored (415, 422) and the writer stores the message with its reference.
pub async fn send_upload(
    state: &AppState,
    writer: &Writer,
    media: &Media,
    user_id: i64,
    chat_id: i64,
    body: axum::body::Body,
    content_type: Option<&str>,
) -> ApiResult<(MessageView, bool)> {
    let started = Instant::now();
    let member = membership::require_member(state, chat_id, user_id).await?;
    membership::ensure_not_blocked(state, &member).await?;
    let mut upload = media
        .receive(body, content_type, KindRule::Field("message_type"))
        .await?;
    let received = started.elapsed();
    let request: SendMessageRequest = from_value(form_json(&upload.fields))?;
    request.validate().map_err(validation_error)?;
    check_shape(&request, upload.file.is_some())?;
    let reply_to = match request.reply_to_message_id {
        Some(id) => Some(reply_target(state, &member, id).await?),
        None => None,
    };
    let file_name = upload.file.as_ref().and_then(|f| f.file_name.clone());
    let storing = Instant::now();
    let stored = media::service::store_message_file(media, &state.db, &mut upload).await?;
    let store_time = storing.elapsed();
    let timings = stored.as_ref().and_then(|s| s.timings);
    let attached = match stored {
        Some(stored) => Some(draft_media(state, media, &stored, file_name).await?),
        None => None,
    };
    let draft = draft_of(state, user_id, chat_id, request, reply_to, attached).await?;
    let committing = Instant::now();
    let outcome = writer.send(draft).await?;
    if let Some(t) = timings {
        // Where an image message's time went (docs/benchmarks.md, bench/media-image.py).
        tracing::debug!(
            receive_ms = ms(received),
            decode_ms = ms(t.decode),
            orient_ms = ms(t.orient),
            strip_or_encode_ms = ms(t.encode),
            thumbnail_ms = ms(t.thumbnail),
            store_ms = ms(store_time.saturating_sub(t.decode + t.orient + t.encode + t.thumbnail)),
            commit_ms = ms(committing.elapsed()),
            total_ms = ms(started.elapsed()),
            "image message"
        );
    }
    outcome_view(state, user_id, outcome).await
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Multipart fields are text; the JSON body's numbers and objects are parsed
/// from it so that one set of rules (and the same 422s) validates both. An empty
/// field counts as absent, as Laravel's ConvertEmptyStringsToNull has it (a form
/// with an empty caption is a photo without one).
fn form_json(fields: &std::collections::BTreeMap<String, String>) -> serde_json::Value {
    let value = |name: &str, text: &str| -> serde_json::Value {
        let parsed = match name {
            "reply_to_message_id" | "latitude" | "longitude" | "contact_data" | "mentions" => {
                serde_json::from_str(text).ok()
            }
            // As Laravel's boolean rule reads a form: true, false, 1, 0.
            "view_once" => match text {
                "true" | "1" => Some(serde_json::Value::Bool(true)),
                "false" | "0" => Some(serde_json::Value::Bool(false)),
                _ => None,
            },
            _ => None,
        };
        parsed.unwrap_or_else(|| serde_json::Value::String(text.to_string()))
    };
    serde_json::Value::Object(
        fields
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.clone(), value(k, v)))
            .collect(),
    )
}

/// What a message shows of its stored file, signed now for `MessageSent`.
async fn draft_media(
    state: &AppState,
    media: &Media,
    stored: &StoredMedia,
    file_name: Option<String>,
) -> ApiResult<DraftMedia> {
    let row = media::urls::rows(&state.db.write, vec![stored.id])
        .await?
        .remove(&stored.id)
        .ok_or_else(|| {
            ApiError::Unavailable("The file is no longer stored; send it again.".into())
        })?;
    let file_name = file_name.filter(|_| row.kind == "document");
    let view = media::urls::message_media(&state.storage, &row, file_name.as_deref())
        .await
        .ok_or_else(|| {
            ApiError::Unavailable("The file is no longer stored; send it again.".into())
        })?;
    let probe = media.ffmpeg.is_some()
        && matches!(row.kind.as_str(), "video" | "audio")
        && row.duration_ms.is_none()
        && row.thumbnail_key.is_none();
    Ok(DraftMedia {
        id: row.id,
        file_name,
        view,
        probe,
    })
}

async fn draft_of(
    state: &AppState,
    user_id: i64,
    chat_id: i64,
    request: SendMessageRequest,
    reply_to: Option<ReplyView>,
    media: Option<DraftMedia>,
) -> ApiResult<Draft> {
    Ok(Draft {
        chat_id,
        sender: sender_of(state, user_id).await?,
        client_message_id: request.client_message_id,
        reply_to,
        message_type: request.message_type.as_str(),
        content: request.content,
        location: match (request.latitude, request.longitude) {
            (Some(latitude), Some(longitude)) if request.message_type == SendableType::Location => {
                Some(LocationView {
                    latitude,
                    longitude,
                    name: request.location_name,
                })
            }
            _ => None,
        },
        contact_data: match (&request.contact_data, request.message_type) {
            (Some(card), SendableType::Contact) => {
                Some(serde_json::to_string(card).map_err(|e| ApiError::Internal(e.into()))?)
            }
            _ => None,
        },
        media,
        view_once: request.view_once == Some(true),
        mentions: request.mentions.unwrap_or_default(),
    })
}

async fn outcome_view(
    state: &AppState,
    user_id: i64,
    outcome: SendOutcome,
) -> ApiResult<(MessageView, bool)> {
    match outcome {
        SendOutcome::Created(view) => Ok((*view, true)),
        SendOutcome::Existing(id) => Ok((own_view(state, user_id, id).await?, false)),
        SendOutcome::Refused(Refusal::NotMember) => Err(ApiError::not_found("Chat")),
        SendOutcome::Refused(Refusal::BlockedByRecipient) => {
            Err(ApiError::forbidden("You cannot message this user."))
        }
        SendOutcome::Refused(Refusal::SenderBlocks) => Err(ApiError::forbidden(
            "You have blocked this user. Unblock them to send messages.",
        )),
        SendOutcome::Refused(Refusal::MentionsNonMember) => Err(ApiError::field(
            "mentions",
            "Every mentioned user must be a member of the group.",
        )),
        SendOutcome::Refused(Refusal::MentionInPrivateChat) => Err(ApiError::field(
            "mentions",
            "Mentions are only allowed in group chats.",
        )),
    }
}

/// The per-type rules of a message without a file (422 otherwise), for
/// callers that check a request before they act on it.
pub fn check_without_file(request: &SendMessageRequest) -> ApiResult<()> {
    check_shape(request, false)
}

/// The per-type rules the request type cannot express. `has_file`: a multipart
/// send carried a file.
fn check_shape(request: &SendMessageRequest, has_file: bool) -> ApiResult<()> {
    match request.message_type {
        SendableType::Text if request.content.is_none() => Err(ApiError::field(
            "content",
            "The content field is required for text messages.",
        )),
        kind if kind.is_media() && !has_file => Err(ApiError::field(
            "file",
            format!("The file field is required for {} messages.", kind.as_str()),
        )),
        kind if !kind.is_media() && has_file => Err(ApiError::field(
            "file",
            "Only image, video, audio and document messages carry a file.",
        )),
        SendableType::Location if request.latitude.is_none() => Err(ApiError::field(
            "latitude",
            "The latitude field is required for location messages.",
        )),
        SendableType::Location if request.longitude.is_none() => Err(ApiError::field(
            "longitude",
            "The longitude field is required for location messages.",
        )),
        SendableType::Contact if request.contact_data.is_none() => Err(ApiError::field(
            "contact_data",
            "The contact data field is required for contact messages.",
        )),
        SendableType::Image | SendableType::Video | SendableType::Audio => Ok(()),
        _ if request.view_once == Some(true) => Err(ApiError::field(
            "view_once",
            "Only image, video and audio messages can be view once.",
        )),
        _ => Ok(()),
    }
}

/// The quoted message: it must be in the same chat and visible to the sender.
async fn reply_target(state: &AppState, member: &Member, id: i64) -> ApiResult<ReplyView> {
    let invalid = || {
        ApiError::field(
            "reply_to_message_id",
            "The selected reply to message id is invalid.",
        )
    };
    let target = store::find(&state.db.read, id).await?.ok_or_else(invalid)?;
    // A disappearing message is gone at its expires_at, swept or not yet.
    let expired = target.expires_at.is_some_and(|at| at <= now_ms());
    if target.chat_id != member.chat.id || expired {
        return Err(invalid());
    }
    let intervals =
        membership::visible_intervals(&state.db.read, member.chat.id, member.participant.user_id)
            .await?;
    if !within(&intervals, target.seq) {
        return Err(invalid());
    }
    Ok(reply_view(&target))
}

pub(super) fn within(intervals: &[Interval], seq: i64) -> bool {
    intervals.iter().any(|i| i.contains(seq))
}

async fn sender_of(state: &AppState, user_id: i64) -> ApiResult<SenderView> {
    let summary = users::service::summaries(state, &[user_id])
        .await?
        .remove(&user_id)
        .ok_or_else(|| ApiError::not_found("User"))?;
    Ok(SenderView {
        id: summary.id,
        avatar_url: media::urls::sign(&state.storage, summary.avatar_key.as_deref()).await,
        name: summary.name,
    })
}

/// A message the caller may see (a current member, within their membership,
/// and not expired: a disappearing message is gone at its `expires_at`, before
/// the expiry job deletes it); 404 otherwise.
pub(super) async fn visible_message(
    conn: &impl ConnectionTrait,
    user_id: i64,
    id: i64,
) -> ApiResult<(Member, message::Model)> {
    let not_found = || ApiError::not_found(MESSAGE_NOT_FOUND);
    let message = store::find(conn, id)
        .await?
        .filter(unexpired)
        .ok_or_else(not_found)?;
    let member = membership::require_member_on(conn, message.chat_id, user_id)
        .await
        .map_err(|_| not_found())?;
    let intervals = membership::visible_intervals(conn, message.chat_id, user_id).await?;
    if !within(&intervals, message.seq) {
        return Err(not_found());
    }
    Ok((member, message))
}

/// A message the caller may star or pin (`what`: "starred", "pinned"):
/// visible to them and not deleted (404: nothing of it is left to keep), and
/// said by a person (a `system` notice cannot be: 403, as on WhatsApp).
pub(super) async fn markable_message(
    conn: &impl ConnectionTrait,
    user_id: i64,
    id: i64,
    what: &str,
) -> ApiResult<(Member, message::Model)> {
    let (member, message) = visible_message(conn, user_id, id).await?;
    if message.deleted_at.is_some() {
        return Err(ApiError::not_found(MESSAGE_NOT_FOUND));
    }
    if message.message_type == "system" {
        return Err(ApiError::forbidden(format!(
            "A system message cannot be {what}."
        )));
    }
    Ok((member, message))
}

/// A disappearing message is gone at its `expires_at`, before the expiry
/// job deletes it.
fn unexpired(message: &message::Model) -> bool {
    message.expires_at.is_none_or(|at| at > now_ms())
}

async fn visible_view(state: &AppState, user_id: i64, id: i64) -> ApiResult<MessageView> {
    let (_, message) = visible_message(&state.db.read, user_id, id).await?;
    view_for(state, user_id, message).await
}

/// `message` rendered as `user_id` sees it (their star, their receipts).
async fn view_for(
    state: &AppState,
    user_id: i64,
    message: message::Model,
) -> ApiResult<MessageView> {
    let mut view = one(state, &state.db.read, message).await?;
    personalise(state, user_id, std::slice::from_mut(&mut view)).await?;
    Ok(view)
}

async fn one(
    state: &AppState,
    conn: &impl ConnectionTrait,
    message: message::Model,
) -> ApiResult<MessageView> {
    render::render(state, conn, std::slice::from_ref(&message))
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found(MESSAGE_NOT_FOUND))
}

/// A page of history, oldest first; `next_before_message_id` continues it.
pub async fn history(
    state: &AppState,
    user_id: i64,
    chat_id: i64,
    query: HistoryQuery,
) -> ApiResult<MessageHistory> {
    membership::require_member(state, chat_id, user_id).await?;
    let intervals = membership::visible_intervals(&state.db.read, chat_id, user_id).await?;
    let mut rows = store::history(
        &state.db.read,
        chat_id,
        &intervals,
        query.before_message_id,
        query.limit + 1,
        now_ms(),
    )
    .await?;
    let has_more = rows.len() as u64 > query.limit;
    rows.truncate(query.limit as usize);
    rows.reverse();
    let next_before_message_id = if has_more {
        rows.first().map(|m| m.id)
    } else {
        None
    };
    let mut messages = render::render(state, &state.db.read, &rows).await?;
    personalise(state, user_id, &mut messages).await?;
    Ok(MessageHistory {
        messages,
        pagination: HistoryPagination {
            has_more,
            next_before_message_id,
        },
    })
}

/// Edits a text message: its sender, within MESSAGE_EDIT_WINDOW, unless
/// either person of a private chat has blocked the other.
///
/// Every check is made in the log transaction that writes, on the row as it
/// is then (delete and react take the log lock too), and the update itself is
/// conditional on the message not being deleted: an edit racing a delete
/// either lands before it or is refused, never resurrecting the content.
pub async fn edit(
    state: &AppState,
    user_id: i64,
    message_id: i64,
    content: String,
) -> ApiResult<MessageView> {
    let window_ms = (state.config.settings.message_edit_window * 1000) as i64;
    let mut tx = LogTx::begin(&state.db).await?;
    let (member, message) = visible_message(tx.conn(), user_id, message_id).await?;
    if message.sender_id != user_id {
        return Err(ApiError::forbidden("Only the sender can edit a message."));
    }
    // An edit reaches the other person as a message does: not once blocked.
    membership::ensure_not_blocked_on(tx.conn(), &member).await?;
    if message.message_type != SendableType::Text.as_str() || message.deleted_at.is_some() {
        return Err(ApiError::forbidden("Only text messages can be edited."));
    }
    if tx.now() - message.sent_at > window_ms {
        return Err(ApiError::forbidden("This message can no longer be edited."));
    }
    if !store::set_content(tx.conn(), message_id, &content, tx.now()).await? {
        return Err(ApiError::forbidden("Only text messages can be edited."));
    }
    let view = reload(state, &tx, message_id).await?;
    membership::emit_to_chat(
        &mut tx,
        view.chat_id,
        Event::MessageEdited(&view),
        Audience::default(),
    )
    .await?;
    state.publish(tx.commit().await?);
    // The event went out as everyone sees it; the editor's answer is theirs.
    let mut view = view;
    personalise(state, user_id, std::slice::from_mut(&mut view)).await?;
    Ok(view)
}

async fn reload(state: &AppState, tx: &LogTx, message_id: i64) -> ApiResult<MessageView> {
    let message = store::find(tx.conn(), message_id)
        .await?
        .ok_or_else(|| ApiError::not_found(MESSAGE_NOT_FOUND))?;
    one(state, tx.conn(), message).await
}

/// Deletes a message for everyone: its sender only. Deleting twice is fine
/// (one `MessageDeleted`: the second finds the row deleted and writes nothing).
/// An early return drops `tx`, which rolls it back.
pub async fn delete(state: &AppState, user_id: i64, message_id: i64) -> ApiResult<()> {
    let mut tx = LogTx::begin(&state.db).await?;
    let (_, message) = visible_message(tx.conn(), user_id, message_id).await?;
    if message.sender_id != user_id || message.message_type == "system" {
        return Err(ApiError::forbidden("Only the sender can delete a message."));
    }
    remove_for_everyone(state, &mut tx, &message).await?;
    state.publish(tx.commit().await?);
    Ok(())
}

/// Deletes a message for everyone inside `tx` (the sender's delete and the
/// disappearing-messages expiry): the content and file go (its media
/// reference dropped; the file is collected once nothing shows it), the
/// logged events that carried them are rewritten to the deleted message, so a
/// sync reader never pages through what was deleted, `MessageDeleted` goes
/// to the chat, and its stars and pin go too (a pin with a `MessagePinned`).
/// False when it was already deleted (nothing written).
pub(super) async fn remove_for_everyone(
    state: &AppState,
    tx: &mut LogTx,
    message: &message::Model,
) -> ApiResult<bool> {
    if !store::soft_delete(tx.conn(), message.id, tx.now()).await? {
        return Ok(false);
    }
    if let Some(media_id) = message.media_id {
        media::service::drop_references(tx.conn(), &BTreeMap::from([(media_id, 1)])).await?;
    }
    let view = reload(state, tx, message.id).await?;
    redact_logged(tx, &view, message.seq).await?;
    // Replies quote it: their logged events are rewritten to quote it deleted.
    for reply in store::replies_to(tx.conn(), message.chat_id, message.id).await? {
        let reply_view = reload(state, tx, reply.id).await?;
        redact_logged(tx, &reply_view, reply.seq).await?;
    }
    membership::emit_to_chat(
        tx,
        view.chat_id,
        Event::MessageDeleted(&view),
        Audience::default(),
    )
    .await?;
    super::stars::forget(tx, message.id).await?;
    super::pins::unpin_deleted(tx, message).await?;
    Ok(true)
}

/// Rewrites the logged `MessageSent` and `MessageEdited` of `view`'s message
/// (logged at `seq` and after) to `view`, as it now is.
async fn redact_logged(tx: &LogTx, view: &MessageView, seq: i64) -> ApiResult<()> {
    // The payload of a message event starts with its id (MessagePayload, MessageView).
    let prefix = format!("{{\"message\":{{\"id\":{},", view.id);
    synclog::redact(
        tx,
        view.chat_id,
        seq,
        &[EventName::MessageSent, EventName::MessageEdited],
        &prefix,
        Event::MessageSent(view),
    )
    .await?;
    Ok(())
}

/// Opens a view-once message's file for a recipient, once: the view is
/// recorded in the transaction that checks it (the unique key on (message,
/// user) makes a second open, even a concurrent one, fail), and the file's
/// URL is signed for this answer only. The sender cannot open it (as on
/// WhatsApp); a second open, or a deleted message, is 410 (an expired one is
/// not visible any more: 404).
pub async fn open_view_once(
    state: &AppState,
    user_id: i64,
    message_id: i64,
) -> ApiResult<MediaView> {
    let gone = || ApiError::Gone("This view-once message was already opened.".into());
    let unavailable = || ApiError::Gone("This message is no longer available.".into());
    // Under the log lock, as deletes (the sender's, the expiry job's) are: a
    // delete committing meanwhile is seen here, never a URL to a deleted file.
    let tx = LogTx::begin(&state.db).await?;
    let txn = tx.conn();
    let (_, message) = visible_message(txn, user_id, message_id).await?;
    if !message.view_once {
        return Err(ApiError::forbidden("This is not a view-once message."));
    }
    if message.sender_id == user_id {
        return Err(ApiError::forbidden(
            "A view-once message cannot be opened by its sender.",
        ));
    }
    let (Some(media_id), None) = (message.media_id, message.deleted_at) else {
        return Err(unavailable());
    };
    match store::insert_view(txn, message_id, user_id, tx.now()).await {
        Err(err) if MESSAGE_VIEWS_USER.violated_by(&err) => return Err(gone()),
        other => other?,
    }
    let row = media::urls::rows(txn, vec![media_id])
        .await?
        .remove(&media_id);
    let view = match &row {
        Some(row) => media::urls::message_media(&state.storage, row, None).await,
        None => None,
    };
    let view = view.ok_or_else(unavailable)?;
    // Nothing was logged: a view is the viewer's alone.
    tx.commit().await?;
    Ok(view)
}

/// Sets what a page of messages shows only its viewer: `viewed` and
/// `starred` (one query each, whatever the page's size). Rendering is the
/// same for everyone (one encoding serves every socket); this is the caller's
/// layer on top, never sent in events.
pub async fn personalise(
    state: &AppState,
    user_id: i64,
    messages: &mut [MessageView],
) -> ApiResult<()> {
    mark_viewed(state, user_id, messages).await?;
    super::stars::mark_starred(&state.db.read, user_id, messages).await
}

/// Sets `viewed` on the view-once messages of a page for the caller: opened
/// by them, or sent by them (the sender cannot open it).
async fn mark_viewed(
    state: &AppState,
    user_id: i64,
    messages: &mut [MessageView],
) -> ApiResult<()> {
    let ids: Vec<i64> = messages
        .iter()
        .filter(|m| m.view_once && m.sender_id != user_id)
        .map(|m| m.id)
        .collect();
    let opened: HashSet<i64> = if ids.is_empty() {
        HashSet::new()
    } else {
        store::viewed_among(&state.db.read, user_id, &ids)
            .await?
            .into_iter()
            .collect()
    };
    for m in messages.iter_mut().filter(|m| m.view_once) {
        m.viewed = m.sender_id == user_id || opened.contains(&m.id);
    }
    Ok(())
}

/// Sets the caller's one reaction on a message (replacing an earlier one).
/// Checked in the writing transaction: a reaction never lands on a message a
/// concurrent delete has emptied (the delete removes reactions in its own).
pub async fn react(
    state: &AppState,
    user_id: i64,
    message_id: i64,
    emoji: String,
) -> ApiResult<ReactResponse> {
    // One emoji, one spelling: "❤" and "❤️" are one reaction.
    let emoji = canonical_emoji(&emoji).map_or(emoji, str::to_string);
    let mut tx = LogTx::begin(&state.db).await?;
    let (member, message) = visible_message(tx.conn(), user_id, message_id).await?;
    if message.deleted_at.is_some() || message.message_type == "system" {
        return Err(ApiError::forbidden("You cannot react to this message."));
    }
    membership::ensure_not_blocked_on(tx.conn(), &member).await?;
    store::put_reaction(tx.conn(), message_id, user_id, &emoji, tx.now()).await?;
    let reactions = emit_reactions(&mut tx, &message).await?;
    state.publish(tx.commit().await?);
    let count = reactions
        .iter()
        .find(|r| r.emoji == emoji)
        .map(|r| r.count)
        .unwrap_or(0);
    Ok(ReactResponse {
        success: true,
        reaction: ReactionResult {
            message_id,
            emoji,
            count,
        },
    })
}

/// Removes the caller's reaction, if any.
pub async fn unreact(state: &AppState, user_id: i64, message_id: i64) -> ApiResult<()> {
    let mut tx = LogTx::begin(&state.db).await?;
    let (_, message) = visible_message(tx.conn(), user_id, message_id).await?;
    if store::delete_reaction(tx.conn(), message_id, user_id).await? {
        emit_reactions(&mut tx, &message).await?;
    }
    state.publish(tx.commit().await?);
    Ok(())
}

async fn emit_reactions(
    tx: &mut LogTx,
    message: &message::Model,
) -> ApiResult<Vec<ReactionSummary>> {
    let rows = store::reactions_of(tx.conn(), &[message.id]).await?;
    let reactions = summarise_reactions(rows)
        .remove(&message.id)
        .unwrap_or_default();
    let update = ReactionUpdate {
        message_id: message.id,
        chat_id: message.chat_id,
        reactions: &reactions,
    };
    membership::emit_to_chat(
        tx,
        message.chat_id,
        Event::ReactionUpdated(&update),
        Audience::default(),
    )
    .await?;
    Ok(reactions)
}

/// Copies a message into other chats the caller is in, as the caller's.
pub async fn forward(
    state: &AppState,
    writer: &Writer,
    user_id: i64,
    message_id: i64,
    request: ForwardRequest,
) -> ApiResult<Vec<MessageView>> {
    let (_, original) = visible_message(&state.db.read, user_id, message_id).await?;
    if original.deleted_at.is_some() || original.message_type == "system" || original.view_once {
        return Err(ApiError::forbidden("This message cannot be forwarded."));
    }
    let mut targets = request.chat_ids.clone();
    targets.sort_unstable();
    targets.dedup();
    for chat_id in &targets {
        let member = membership::require_member(state, *chat_id, user_id).await?;
        membership::ensure_not_blocked(state, &member).await?;
    }
    // One send per chat: forwarding is no way around SENDS_PER_MINUTE.
    count_sends(state, user_id, targets.len(), "chat_ids").await?;
    let sender = sender_of(state, user_id).await?;
    let attached = forwarded_media(state, &original).await?;
    let location = match (original.latitude, original.longitude) {
        (Some(latitude), Some(longitude)) => Some(LocationView {
            latitude,
            longitude,
            name: original.location_name.clone(),
        }),
        _ => None,
    };
    let message_type = SendableType::ALL
        .into_iter()
        .find(|t| t.as_str() == original.message_type)
        .ok_or_else(|| ApiError::forbidden("This message cannot be forwarded."))?;
    let sends = targets.iter().map(|chat_id| {
        writer.send(Draft {
            chat_id: *chat_id,
            sender: sender.clone(),
            client_message_id: None,
            reply_to: None,
            message_type: message_type.as_str(),
            content: original.content.clone(),
            location: location.clone(),
            contact_data: original.contact_data.clone(),
            media: attached.clone(),
            view_once: false,
            // A forwarded copy lands in another chat: its mentions do not.
            mentions: Vec::new(),
        })
    });
    let mut views = Vec::with_capacity(targets.len());
    for outcome in futures::future::join_all(sends).await {
        views.push(outcome_view(state, user_id, outcome?).await?.0);
    }
    Ok(views)
}

/// Sends the same message into each of `chat_ids` (a broadcast list's private
/// chats), each a normal message through the writer: the sends are handed
/// over together, so they commit in a batch or a few. A chat the writer
/// refuses (a block made since the caller looked) is skipped silently, as a
/// broadcast reaches whom it can; the messages stored are returned in the
/// order of `chat_ids`. Media, replies and mentions are the caller's to
/// refuse: the request is sent as it is, with no file.
pub async fn send_to_each(
    state: &AppState,
    writer: &Writer,
    user_id: i64,
    chat_ids: &[i64],
    request: SendMessageRequest,
) -> ApiResult<Vec<MessageView>> {
    check_shape(&request, false)?;
    let Some(first) = chat_ids.first() else {
        return Ok(Vec::new());
    };
    let draft = draft_of(state, user_id, *first, request, None, None).await?;
    let sends = chat_ids.iter().map(|chat_id| {
        writer.send(Draft {
            chat_id: *chat_id,
            ..draft.clone()
        })
    });
    let mut views = Vec::with_capacity(chat_ids.len());
    for outcome in futures::future::join_all(sends).await {
        match outcome? {
            SendOutcome::Created(view) => views.push(*view),
            SendOutcome::Existing(id) => views.push(visible_view(state, user_id, id).await?),
            SendOutcome::Refused(_) => {}
        }
    }
    Ok(views)
}

/// A forwarded copy shows the same stored file: no byte is copied, each copy
/// takes a reference in the writer's transaction.
async fn forwarded_media(
    state: &AppState,
    original: &message::Model,
) -> ApiResult<Option<DraftMedia>> {
    let Some(media_id) = original.media_id else {
        return Ok(None);
    };
    let row = media::urls::rows(&state.db.read, vec![media_id])
        .await?
        .remove(&media_id);
    let view = match &row {
        Some(row) => {
            media::urls::message_media(&state.storage, row, original.file_name.as_deref()).await
        }
        None => None,
    };
    let view = view.ok_or_else(|| ApiError::forbidden("This message cannot be forwarded."))?;
    Ok(Some(DraftMedia {
        id: media_id,
        file_name: original.file_name.clone(),
        view,
        probe: false,
    }))
}

/// Takes the files off every message a user sent (account deletion) and drops
/// their references; files nothing else shows are collected after the commit.
pub async fn detach_media_of(state: &AppState, user_id: i64) -> ApiResult<()> {
    let txn = state.db.begin().await?;
    let mut counts: BTreeMap<i64, i64> = BTreeMap::new();
    for media_id in store::detach_media_of_sender(&txn, user_id).await? {
        *counts.entry(media_id).or_default() += 1;
    }
    if !counts.is_empty() {
        media::service::drop_references(&txn, &counts).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// For chat listing: each chat's newest message (after the given position),
/// as its id and when it was sent.
pub async fn last_sent(
    state: &AppState,
    probes: &[(i64, i64)],
) -> ApiResult<HashMap<i64, (i64, i64)>> {
    let last = store::last_ids(&state.db.read, probes, now_ms()).await?;
    let ids: Vec<i64> = last.values().copied().collect();
    Ok(store::find_many(&state.db.read, &ids)
        .await?
        .into_iter()
        .map(|m| (m.chat_id, (m.id, m.sent_at)))
        .collect())
}

/// Each chat's newest message after the given position, rendered (for
/// `viewer`, when there is one: their `starred` and `viewed`).
pub async fn last_messages(
    state: &AppState,
    conn: &impl ConnectionTrait,
    viewer: Option<i64>,
    probes: &[(i64, i64)],
) -> ApiResult<HashMap<i64, MessageView>> {
    let last = store::last_ids(conn, probes, now_ms()).await?;
    let ids: Vec<i64> = last.values().copied().collect();
    let rows = store::find_many(conn, &ids).await?;
    let mut views = render::render(state, conn, &rows).await?;
    if let Some(viewer) = viewer {
        personalise(state, viewer, &mut views).await?;
    }
    Ok(views.into_iter().map(|m| (m.chat_id, m)).collect())
}

/// Unread messages per chat for `reader`: (chat, read watermark, interval start).
pub async fn unread_counts(
    conn: &impl ConnectionTrait,
    reader: i64,
    probes: &[(i64, i64, i64)],
) -> ApiResult<HashMap<i64, u64>> {
    let probes: Vec<UnreadProbe> = probes
        .iter()
        .map(|(chat_id, after_id, after_seq)| UnreadProbe {
            chat_id: *chat_id,
            after_id: *after_id,
            after_seq: *after_seq,
        })
        .collect();
    Ok(store::unread_counts(conn, reader, &probes).await?)
}

impl SendableType {
    pub const ALL: [SendableType; 7] = [
        SendableType::Text,
        SendableType::Image,
        SendableType::Video,
        SendableType::Audio,
        SendableType::Document,
        SendableType::Location,
        SendableType::Contact,
    ];
}

/// Tells a chat's other members that `user_id` is typing (or stopped):
/// `UserTyping` on the chat's channel, not logged, for clients that cannot
/// whisper. The same rule as a whisper: a member, and no block in a private chat.
pub async fn typing(state: &AppState, user_id: i64, chat_id: i64, typing: bool) -> ApiResult<()> {
    per_minute(
        state,
        "typing",
        user_id,
        state.config.settings.typing_per_minute,
        1,
    )
    .await?;
    let member = membership::require_member(state, chat_id, user_id).await?;
    membership::ensure_not_blocked(state, &member).await?;
    let payload = Typing {
        chat_id,
        user_id,
        typing,
    };
    state
        .realtime
        .transient(Event::UserTyping(&payload), vec![chat_channel(chat_id)])
}

/// Counts a send against SENDS_PER_MINUTE (a sliding minute: a burst of
/// quick messages passes, a flood does not).
pub async fn count_send(state: &AppState, user_id: i64) -> ApiResult<()> {
    count_sends(state, user_id, 1, "message").await
}

/// Counts a request that makes `sends` messages (a forward, a broadcast) as
/// that many sends, all or none: refused with 429, it uses no quota. More
/// than SENDS_PER_MINUTE at once could never pass: 422 on `field`, not a
/// 429 whose Retry-After would be a promise.
pub async fn count_sends(
    state: &AppState,
    user_id: i64,
    sends: usize,
    field: &str,
) -> ApiResult<()> {
    let max = state.config.settings.sends_per_minute;
    let cost = u32::try_from(sends).unwrap_or(u32::MAX);
    if max > 0 && cost > max {
        return Err(ApiError::field(
            field,
            format!("This would send {sends} messages; at most {max} may be sent in a minute."),
        ));
    }
    per_minute(state, "send", user_id, max, cost).await
}

async fn per_minute(
    state: &AppState,
    what: &str,
    user_id: i64,
    max: u32,
    cost: u32,
) -> ApiResult<()> {
    let limit = Limit::new(format!("{what}:{user_id}"), max, Duration::from_secs(60));
    ratelimit::enforce(state.limiter.as_ref(), &[limit.costing(cost)]).await
}

/// Posts a `system` message (a membership change) inside a group transaction.
/// `content` is `{"event", "actor_id", "user_ids", ...}`.
pub async fn post_system(
    state: &AppState,
    tx: &mut LogTx,
    chat_id: i64,
    actor: i64,
    content: &serde_json::Value,
    extra: Audience,
) -> ApiResult<MessageView> {
    let draft = Draft {
        chat_id,
        sender: sender_of(state, actor).await?,
        client_message_id: None,
        reply_to: None,
        message_type: "system",
        content: Some(content.to_string()),
        location: None,
        contact_data: None,
        media: None,
        view_once: false,
        mentions: Vec::new(),
    };
    let id = tx.next_message_id();
    // System messages never disappear: they say what happened to the chat.
    let view = super::writer::new_view(&draft, id, tx.now(), None);
    let seq = membership::emit_to_chat(tx, chat_id, Event::MessageSent(&view), extra).await?;
    store::insert_many(
        tx.conn(),
        &[super::writer::new_row(&draft, id, seq, tx.now(), None)],
    )
    .await?;
    Ok(view)
}

/// How many messages are stored, deleted ones aside (`natter stats`).
pub async fn count(state: &AppState) -> ApiResult<u64> {
    Ok(store::count_messages(&state.db.read).await?)
}
