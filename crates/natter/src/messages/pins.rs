//! Pinned messages: up to three per chat, the same for every member, as on
//! WhatsApp. Any member may pin or unpin, in a group too (WhatsApp lets
//! admins restrict it; natter keeps it simple). A fourth pin replaces the
//! oldest, as WhatsApp does, rather than being refused. Each change is
//! `MessagePinned` to the chat; a pin also posts a `system` message
//! `{"event": "message_pinned", "actor_id", "user_ids": [], "message_id"}`.
//! Deleting a message (its sender, its disappearing timer) unpins it. Pins do
//! not expire (WhatsApp's 24 h / 7 d / 30 d durations are not built).

use std::collections::HashMap;

use sea_orm::ConnectionTrait;
use serde_json::json;

use super::service::{count_send, markable_message, post_system};
use super::store;
use crate::clock::{Timestamp, now_ms};
use crate::db::entities::message;
use crate::error::{ApiError, ApiResult};
use crate::membership;
use crate::resources::chat::PinnedMessage;
use crate::resources::message::PinUpdate;
use crate::state::AppState;
use crate::synclog::{Audience, Event, LogTx};

/// The most messages a chat has pinned at once.
pub const MAX_PINS: usize = 3;

/// Pins a message of `chat_id`; pinning it again changes nothing. Returns
/// the chat's pins as the caller sees them. Every check (still a member, the
/// message in this chat, visible and not deleted, no block) and the count of
/// pins are read in the log transaction that writes: concurrent pins run one
/// after another, so a chat never holds more than [`MAX_PINS`].
pub async fn pin(
    state: &AppState,
    user_id: i64,
    chat_id: i64,
    message_id: i64,
) -> ApiResult<Vec<PinnedMessage>> {
    count_send(state, user_id).await?;
    let mut tx = LogTx::begin(&state.db).await?;
    pinnable(&tx, user_id, chat_id, message_id, "pinned").await?;
    let pins = store::pins_of(tx.conn(), chat_id, tx.now()).await?;
    if pins.iter().any(|p| p.message_id == message_id) {
        tx.rollback().await?;
        return pins_seen_by(state, user_id, chat_id).await;
    }
    let replaced = (pins.len() + 1).saturating_sub(MAX_PINS);
    for oldest in pins.iter().take(replaced) {
        store::delete_pin(tx.conn(), chat_id, oldest.message_id).await?;
        announce(&mut tx, chat_id, oldest.message_id, false, Some(user_id)).await?;
    }
    store::insert_pin(tx.conn(), chat_id, message_id, user_id, tx.now()).await?;
    announce(&mut tx, chat_id, message_id, true, Some(user_id)).await?;
    let notice = json!({
        "event": "message_pinned",
        "actor_id": user_id,
        "user_ids": [],
        "message_id": message_id,
    });
    post_system(
        state,
        &mut tx,
        chat_id,
        user_id,
        &notice,
        Audience::default(),
    )
    .await?;
    state.publish(tx.commit().await?);
    pins_seen_by(state, user_id, chat_id).await
}

/// Unpins a message of `chat_id` (any member); unpinning what is not pinned
/// changes nothing. No `system` message: WhatsApp posts none either.
pub async fn unpin(
    state: &AppState,
    user_id: i64,
    chat_id: i64,
    message_id: i64,
) -> ApiResult<Vec<PinnedMessage>> {
    let mut tx = LogTx::begin(&state.db).await?;
    pinnable(&tx, user_id, chat_id, message_id, "unpinned").await?;
    if store::delete_pin(tx.conn(), chat_id, message_id).await? {
        announce(&mut tx, chat_id, message_id, false, Some(user_id)).await?;
        state.publish(tx.commit().await?);
    } else {
        tx.rollback().await?;
    }
    pins_seen_by(state, user_id, chat_id).await
}

/// The checks of a pin or unpin, on the transaction: a message the caller
/// may see in this very chat and in their current membership (another chat's
/// message, or one from an earlier stay in the group that their own pins list
/// would hide, is 404, as a message they cannot see is), and no block between
/// the two people of a private chat.
async fn pinnable(
    tx: &LogTx,
    user_id: i64,
    chat_id: i64,
    message_id: i64,
    what: &str,
) -> ApiResult<()> {
    let (member, message) = markable_message(tx.conn(), user_id, message_id, what).await?;
    if message.chat_id != chat_id
        || message.seq <= current_membership_start(tx.conn(), chat_id, user_id).await?
    {
        return Err(ApiError::not_found("Message"));
    }
    membership::ensure_not_blocked_on(tx.conn(), &member).await
}

async fn announce(
    tx: &mut LogTx,
    chat_id: i64,
    message_id: i64,
    pinned: bool,
    actor_id: Option<i64>,
) -> ApiResult<()> {
    let update = PinUpdate {
        chat_id,
        message_id,
        pinned,
        actor_id,
    };
    membership::emit_to_chat(
        tx,
        chat_id,
        Event::MessagePinned(&update),
        Audience::default(),
    )
    .await?;
    Ok(())
}

/// Unpins a message being deleted, inside the deleting transaction, telling
/// the chat (`actor_id` null: nobody unpinned it, its deletion did).
pub(super) async fn unpin_deleted(tx: &mut LogTx, message: &message::Model) -> ApiResult<()> {
    if store::delete_pin(tx.conn(), message.chat_id, message.id).await? {
        announce(tx, message.chat_id, message.id, false, None).await?;
    }
    Ok(())
}

/// The pins of one chat as `user_id` sees them (after a change of theirs).
async fn pins_seen_by(
    state: &AppState,
    user_id: i64,
    chat_id: i64,
) -> ApiResult<Vec<PinnedMessage>> {
    let from = current_membership_start(&state.db.write, chat_id, user_id).await?;
    Ok(pinned_in(&state.db.write, &[(chat_id, from)])
        .await?
        .remove(&chat_id)
        .unwrap_or_default())
}

/// The position after which the caller's current membership of the chat
/// began (0 if it is their first): pins are shown only of messages after it.
async fn current_membership_start(
    conn: &impl ConnectionTrait,
    chat_id: i64,
    user_id: i64,
) -> ApiResult<i64> {
    let intervals = membership::visible_intervals(conn, chat_id, user_id).await?;
    Ok(intervals
        .iter()
        .find(|i| i.to.is_none())
        .map(|i| i.from)
        .unwrap_or(0))
}

/// For the Chat resource, in bulk: each chat's pins, newest first, leaving
/// out messages at or before the given position (the viewer's current
/// interval start, as for the chat's last message: a member who joined later
/// is not shown what was pinned from before) and expired ones. One query.
pub async fn pinned_in(
    conn: &impl ConnectionTrait,
    probes: &[(i64, i64)],
) -> ApiResult<HashMap<i64, Vec<PinnedMessage>>> {
    let mut out: HashMap<i64, Vec<PinnedMessage>> = HashMap::new();
    for pin in store::pins_in(conn, probes, now_ms()).await? {
        out.entry(pin.chat_id).or_default().push(PinnedMessage {
            message_id: pin.message_id,
            pinned_by: pin.pinned_by,
            pinned_at: Timestamp(pin.pinned_at),
        });
    }
    Ok(out)
}
