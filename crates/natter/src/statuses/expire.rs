//! Expired statuses go, as periodic work (once per period per cluster): their
//! rows and views are deleted and their media references dropped in one
//! transaction per batch, which also queues the `media.collect` jobs that
//! delete the files nothing references any more. Reads never wait for this: every query leaves
//! out what has expired (store.rs). The period is a quarter of STATUS_TTL,
//! between one second and a minute.

use std::time::Duration;

use crate::db::Db;
use crate::error::ApiError;
use crate::jobs::{Handler, Job, JobError};
use crate::state::AppState;
use crate::synclog::LogTx;

use super::{service, store};

/// The job kind.
pub const KIND: &str = "statuses.expire";

/// Statuses removed per transaction.
const BATCH: u64 = 500;

/// How often expiry runs for a STATUS_TTL of `ttl`.
pub fn period(ttl: Duration) -> Duration {
    (ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

pub struct ExpireStatuses {
    pub app: AppState,
}

#[async_trait::async_trait]
impl Handler for ExpireStatuses {
    /// Idempotent: a batch either committed (its rows are gone and are not
    /// found again) or did not (found again on the retry).
    async fn run(&self, _job: &Job) -> Result<(), JobError> {
        let mut removed = 0;
        loop {
            let count = expire_batch(&self.app.db).await.map_err(retry)?;
            removed += count;
            if count < BATCH as usize {
                break;
            }
        }
        if removed > 0 {
            tracing::info!(removed, "expired statuses removed");
        }
        Ok(())
    }
}

/// One batch: how many statuses went (their media is collected by the jobs
/// queued with it). Under the log lock, so no view is being recorded on a
/// status it removes.
async fn expire_batch(db: &Db) -> Result<usize, ApiError> {
    let tx = LogTx::begin(db).await?;
    let rows = store::expired(tx.conn(), tx.now(), BATCH).await?;
    if rows.is_empty() {
        tx.rollback().await?;
        return Ok(0);
    }
    service::remove(&tx, &rows).await?;
    tx.commit().await?;
    Ok(rows.len())
}

fn retry(err: ApiError) -> JobError {
    JobError::Retry(format!("status expiry failed: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_four_times_per_ttl_between_a_second_and_a_minute() {
        assert_eq!(period(Duration::from_secs(2)), Duration::from_secs(1));
        assert_eq!(period(Duration::from_secs(120)), Duration::from_secs(30));
        assert_eq!(period(Duration::from_secs(86_400)), Duration::from_secs(60));
    }
}
