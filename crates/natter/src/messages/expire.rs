//! Disappearing messages go, as periodic work (once per period per cluster):
//! each message whose `expires_at` has passed is deleted for everyone through
//! the path a sender's delete takes (`service::remove_for_everyone`: content
//! and file reference gone, the logged events that carried them rewritten,
//! `MessageDeleted` to the chat), in one log transaction per batch; the
//! `media.collect` jobs queued with it delete files nothing shows any more.
//! History and the chat list leave an expired message out at once (store.rs),
//! so the sweep's period only bounds how long its content stays stored.

use std::time::Duration;

use crate::error::ApiError;
use crate::jobs::{Handler, Job, JobError};
use crate::state::AppState;
use crate::synclog::LogTx;

use super::{service, store};

/// The job kind.
pub const KIND: &str = "messages.expire";

/// Messages removed per transaction.
const BATCH: u64 = 200;

/// The timer values a chat may have, in seconds: off, 24 hours, 7 days, 90 days.
pub const TIMERS: [i64; 4] = [0, 86_400, 604_800, 7_776_000];

/// How often the sweep runs: a quarter of the shortest timer allowed (the
/// testing one, DISAPPEARING_TEST_SECONDS, when set), between 1 and 30 seconds.
pub fn period(test_seconds: Option<u64>) -> Duration {
    let shortest = test_seconds.unwrap_or(TIMERS[1] as u64);
    (Duration::from_secs(shortest) / 4).clamp(Duration::from_secs(1), Duration::from_secs(30))
}

pub struct ExpireMessages {
    pub app: AppState,
}

#[async_trait::async_trait]
impl Handler for ExpireMessages {
    /// Idempotent: a batch either committed (its messages are deleted and not
    /// found again) or did not (found again on the retry).
    async fn run(&self, _job: &Job) -> Result<(), JobError> {
        let mut removed = 0;
        loop {
            let count = expire_batch(&self.app).await.map_err(retry)?;
            removed += count;
            if count < BATCH as usize {
                break;
            }
        }
        if removed > 0 {
            tracing::info!(removed, "expired messages deleted");
        }
        Ok(())
    }
}

/// One batch: how many messages went. Under the log lock, so no edit,
/// reaction or delete is changing them meanwhile.
async fn expire_batch(app: &AppState) -> Result<usize, ApiError> {
    let mut tx = LogTx::begin(&app.db).await?;
    let rows = store::expired(tx.conn(), tx.now(), BATCH).await?;
    if rows.is_empty() {
        tx.rollback().await?;
        return Ok(0);
    }
    for message in &rows {
        service::remove_for_everyone(app, &mut tx, message).await?;
    }
    app.publish(tx.commit().await?);
    Ok(rows.len())
}

fn retry(err: ApiError) -> JobError {
    JobError::Retry(format!("message expiry failed: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_every_quarter_of_the_shortest_timer_between_a_second_and_thirty() {
        assert_eq!(period(None), Duration::from_secs(30));
        assert_eq!(period(Some(2)), Duration::from_secs(1));
        assert_eq!(period(Some(60)), Duration::from_secs(15));
    }
}
