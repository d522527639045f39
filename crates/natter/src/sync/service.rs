//! `GET /api/sync` and the retention of the log.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::value::RawValue;

use super::dto::{SyncEvent, SyncPage};
use super::log::{names, positions};
use super::store;
use crate::chats;
use crate::clock::{Timestamp, now_ms};
use crate::error::{ApiError, ApiResult};
use crate::messages;
use crate::state::AppState;

/// A page of the caller's events after `since`. Messages it hands over from
/// others are marked delivered (and their senders told) before it returns.
pub async fn page(state: &AppState, user_id: i64, since: i64, limit: u64) -> ApiResult<SyncPage> {
    let db = &state.db.read;
    let (latest, pruned) = positions(db).await?;
    if since < pruned {
        return Err(resync_required(latest));
    }
    let intervals = chats::service::all_intervals(state, user_id).await?;
    let mut rows = store::page(db, user_id, &intervals, since, limit + 1).await?;
    // Retention may have run while the page was read: re-check, so a page can
    // never silently miss pruned events.
    let (latest, pruned_after) = positions(db).await?;
    if since < pruned_after {
        return Err(resync_required(latest));
    }
    let has_more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    mark_delivered(state, user_id, &rows).await?;
    let next_since = rows.last().map(|r| r.seq).unwrap_or(since);
    let events = rows
        .into_iter()
        .map(|row| {
            let data = RawValue::from_string(row.data).map_err(|e| ApiError::Internal(e.into()))?;
            Ok(SyncEvent {
                seq: row.seq,
                event: row.name,
                data,
                created_at: Timestamp(row.created_at),
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(SyncPage {
        events,
        next_since,
        has_more,
    })
}

fn resync_required(latest: i64) -> ApiError {
    ApiError::GoneResync { latest_seq: latest }
}

/// The newest message from someone else in each chat of the page: the user
/// now has them, so their delivered watermark moves there.
async fn mark_delivered(state: &AppState, user_id: i64, rows: &[store::EventRow]) -> ApiResult<()> {
    #[derive(serde::Deserialize)]
    struct Sent {
        message: SentMessage,
    }
    #[derive(serde::Deserialize)]
    struct SentMessage {
        id: i64,
        sender_id: i64,
    }
    let mut upto: HashMap<i64, i64> = HashMap::new();
    for row in rows.iter().filter(|r| r.name == names::MESSAGE_SENT) {
        let (Some(chat_id), Ok(sent)) = (row.chat_id, serde_json::from_str::<Sent>(&row.data))
        else {
            continue;
        };
        if sent.message.sender_id != user_id {
            let newest = upto.entry(chat_id).or_insert(sent.message.id);
            *newest = (*newest).max(sent.message.id);
        }
    }
    if upto.is_empty() {
        return Ok(());
    }
    messages::service::mark_delivered_many(state, user_id, upto).await
}

/// Deletes events older than SYNC_RETENTION. Positions are marked pruned before
/// the rows go, so a reader either gets 410 or a complete page.
pub async fn prune(state: &AppState, cutoff_ms: i64) -> ApiResult<u64> {
    let Some(through) = store::last_seq_before(&state.db.read, cutoff_ms).await? else {
        return Ok(0);
    };
    store::set_pruned_through(&state.db.write, through).await?;
    let mut removed = 0;
    loop {
        let batch = store::delete_through(&state.db.write, through, 5_000).await?;
        removed += batch;
        if batch == 0 {
            break;
        }
    }
    Ok(removed)
}

/// Runs retention at start and then every ten minutes, until shutdown.
pub fn spawn_retention(state: AppState, shutdown: tokio_util::sync::CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    let cutoff = now_ms() - (state.config.settings.sync_retention * 1000) as i64;
                    match prune(&state, cutoff).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(removed = n, "sync log retention"),
                        Err(err) => tracing::warn!(error = %err, "sync log retention failed"),
                    }
                }
            }
        }
    });
}
