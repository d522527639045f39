//! Receipt watermarks: how far each member has had (delivered) and read a
//! chat, one pair of message ids per participant, moving only forward.

use std::collections::HashMap;

use sea_orm::ConnectionTrait;

use super::store;
use crate::error::ApiResult;

pub use super::store::Watermark;

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
