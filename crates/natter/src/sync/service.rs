//! `GET /api/sync`: a page of the caller's events, and the deliveries it makes.

use std::collections::HashMap;
use std::fmt::Write;

use crate::clock::Timestamp;
use crate::error::{ApiError, ApiResult};
use crate::membership;
use crate::messages;
use crate::messages::writer::Writer;
use crate::state::AppState;
use crate::synclog::{self, EventName, EventRow, positions};

/// A page of the caller's events after `since`, as the JSON body of
/// `GET /api/sync`. Messages it hands over from others are marked delivered
/// (and their senders told) before it returns.
pub async fn page(
    state: &AppState,
    writer: &Writer,
    user_id: i64,
    since: i64,
    limit: u64,
) -> ApiResult<String> {
    let db = &state.db.read;
    let (latest, pruned) = positions(db).await?;
    if since < pruned {
        return Err(resync_required(latest));
    }
    let intervals = membership::all_intervals(state, user_id).await?;
    let mut rows = synclog::page(db, user_id, &intervals, since, limit + 1).await?;
    // Retention may have run while the page was read: re-check, so a page can
    // never silently miss pruned events.
    let (latest, pruned_after) = positions(db).await?;
    if since < pruned_after {
        return Err(resync_required(latest));
    }
    let has_more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    mark_delivered(writer, user_id, &rows).await?;
    let next_since = rows.last().map(|r| r.seq).unwrap_or(since);
    Ok(render_page(&rows, next_since, has_more))
}

/// The page as [`SyncPage`] serialises, written directly: each event's data
/// is JSON the server stored itself, so it is copied as is rather than parsed
/// again (a catch-up reads thousands of them; docs/benchmarks.md, W4).
fn render_page(rows: &[EventRow], next_since: i64, has_more: bool) -> String {
    let size: usize = rows.iter().map(|r| r.data.len() + 96).sum();
    let mut out = String::with_capacity(size + 64);
    out.push_str("{\"events\":[");
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let name = serde_json::to_string(&row.name).unwrap_or_else(|_| "\"\"".into());
        let created_at = serde_json::to_string(&Timestamp(row.created_at)).unwrap_or_default();
        let _ = write!(
            out,
            "{{\"seq\":{},\"event\":{name},\"data\":{},\"created_at\":{created_at}}}",
            row.seq, row.data
        );
    }
    let _ = write!(
        out,
        "],\"next_since\":{next_since},\"has_more\":{has_more}}}"
    );
    out
}

fn resync_required(latest: i64) -> ApiError {
    ApiError::GoneResync { latest_seq: latest }
}

/// The newest message from someone else in each chat of the page: the user
/// now has them, so their delivered watermark moves there.
async fn mark_delivered(writer: &Writer, user_id: i64, rows: &[EventRow]) -> ApiResult<()> {
    #[derive(serde::Deserialize)]
    struct Sent {
        message: SentMessage,
    }
    #[derive(serde::Deserialize)]
    struct SentMessage {
        id: i64,
        sender_id: i64,
    }
    // Newest first: message ids grow with `seq`, so per chat the first
    // message from someone else is the one to mark; the rest of that chat's
    // events need not be parsed (a catch-up page is mostly one chat).
    let mut upto: HashMap<i64, i64> = HashMap::new();
    for row in rows
        .iter()
        .rev()
        .filter(|r| r.name == EventName::MessageSent.as_str())
    {
        let Some(chat_id) = row.chat_id else {
            continue;
        };
        if upto.contains_key(&chat_id) {
            continue;
        }
        if let Ok(sent) = serde_json::from_str::<Sent>(&row.data)
            && sent.message.sender_id != user_id
        {
            upto.insert(chat_id, sent.message.id);
        }
    }
    if upto.is_empty() {
        return Ok(());
    }
    messages::receipts::mark_delivered_many(writer, user_id, upto).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::dto::{SyncEvent, SyncPage};
    use serde_json::value::RawValue;

    #[test]
    fn a_rendered_page_is_what_the_documented_type_serialises_to() {
        let rows = vec![
            EventRow {
                seq: 7,
                chat_id: Some(1),
                name: EventName::MessageSent.as_str().into(),
                data: r#"{"message":{"id":3,"content":"a \"quoted\" é"},"seq":7}"#.into(),
                created_at: 1_764_000_000_123,
            },
            EventRow {
                seq: 9,
                chat_id: None,
                name: EventName::ChatUpdated.as_str().into(),
                data: r#"{"chat":{},"seq":9}"#.into(),
                created_at: 1_764_000_000_456,
            },
        ];
        let documented = SyncPage {
            events: rows
                .iter()
                .map(|r| SyncEvent {
                    seq: r.seq,
                    event: r.name.clone(),
                    data: RawValue::from_string(r.data.clone()).unwrap(),
                    created_at: Timestamp(r.created_at),
                })
                .collect(),
            next_since: 9,
            has_more: true,
        };
        assert_eq!(
            render_page(&rows, 9, true),
            serde_json::to_string(&documented).unwrap()
        );
        assert_eq!(
            render_page(&[], 4, false),
            r#"{"events":[],"next_since":4,"has_more":false}"#
        );
    }
}
