//! Receipts: each member's read and delivered watermarks (moved through the
//! writer, so a receipt batches with sends), and when each recipient got and
//! read a message.

use std::collections::HashMap;

use super::dto::{Receipt, ReceiptList};
use super::service::{visible_message, within};
use super::store;
use super::writer::{ReceiptRequest, Writer};
use crate::clock::Timestamp;
use crate::error::{ApiError, ApiResult};
use crate::membership::{self, Watermark};
use crate::state::AppState;

/// When each recipient got and read a message: its sender only.
pub async fn receipts(state: &AppState, user_id: i64, message_id: i64) -> ApiResult<ReceiptList> {
    let (_, message) = visible_message(&state.db.read, user_id, message_id).await?;
    if message.sender_id != user_id {
        return Err(ApiError::forbidden("Only the sender can see receipts."));
    }
    let holders = membership::receipt_holders(&state.db.read, &[message.chat_id])
        .await?
        .remove(&message.chat_id)
        .unwrap_or_default();
    let marks =
        store::marks_for_ranges(&state.db.read, &[(message.chat_id, message.id, message.id)])
            .await?;
    let first = |user: i64, kind: i16| -> Option<i64> {
        marks
            .iter()
            .filter(|m| m.user_id == user && m.kind == kind && m.message_id >= message.id)
            .min_by_key(|m| m.message_id)
            .map(|m| m.at)
    };
    let receipts = holders
        .into_iter()
        .filter(|h| h.user_id != user_id && h.from_seq < message.seq)
        .map(|h| {
            let read_at = if h.read >= message.id {
                first(h.user_id, store::MARK_READ)
            } else {
                None
            };
            let delivered_at = if h.delivered.max(h.read) >= message.id {
                first(h.user_id, store::MARK_DELIVERED).or(read_at)
            } else {
                None
            };
            Receipt {
                user_id: h.user_id,
                delivered_at: delivered_at.map(Timestamp),
                read_at: read_at.map(Timestamp),
            }
        })
        .collect();
    Ok(ReceiptList { receipts })
}

/// Moves the caller's read or delivered watermark to `message_id`, which must be
/// a message of the chat the caller can see. Returns when it was recorded.
pub async fn mark(
    state: &AppState,
    writer: &Writer,
    user_id: i64,
    chat_id: i64,
    message_id: i64,
    which: Watermark,
) -> ApiResult<i64> {
    membership::require_member(state, chat_id, user_id).await?;
    let invalid = || ApiError::field("message_id", "The selected message id is invalid.");
    let message = store::find(&state.db.read, message_id)
        .await?
        .ok_or_else(invalid)?;
    let intervals = membership::visible_intervals(&state.db.read, chat_id, user_id).await?;
    if message.chat_id != chat_id || !within(&intervals, message.seq) {
        return Err(invalid());
    }
    let outcome = writer
        .receipt(ReceiptRequest {
            chat_id,
            user_id,
            which,
            message_id,
        })
        .await?;
    Ok(outcome.at)
}

/// Marks delivered, for one user, everything up to the given message of each
/// chat (after a sync handed those messages over).
pub async fn mark_delivered_many(
    writer: &Writer,
    user_id: i64,
    upto: HashMap<i64, i64>,
) -> ApiResult<()> {
    let marks = upto.into_iter().map(|(chat_id, message_id)| {
        writer.receipt(ReceiptRequest {
            chat_id,
            user_id,
            which: Watermark::Delivered,
            message_id,
        })
    });
    for result in futures::future::join_all(marks).await {
        result?;
    }
    Ok(())
}
