//! Sync-log retention as periodic work: once per period per cluster (not once
//! per node), pruning what is older than SYNC_RETENTION. The period is a
//! quarter of the retention, at most a minute, so a `since` that falls out of
//! the window answers 410 within that long of doing so (15 s with the
//! shortest retention, a minute with the default of 30 days).

use std::time::Duration;

use crate::clock::now_ms;
use crate::db::Db;
use crate::jobs::{Handler, Job, JobError};
use crate::synclog;

/// The job kind.
pub const KIND: &str = "sync.retention";

/// How often retention runs for a retention of `retention`.
pub fn period(retention: Duration) -> Duration {
    (retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

pub struct Retention {
    pub db: Db,
    pub retention: Duration,
}

#[async_trait::async_trait]
impl Handler for Retention {
    /// Idempotent: the cutoff is computed at run time and pruning an already
    /// pruned stretch removes nothing.
    async fn run(&self, _job: &Job) -> Result<(), JobError> {
        let cutoff = now_ms() - self.retention.as_millis() as i64;
        let removed = synclog::prune(&self.db, cutoff).await?;
        if removed > 0 {
            tracing::info!(removed, "sync log retention");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_four_times_per_retention_and_at_least_every_minute() {
        assert_eq!(period(Duration::from_secs(60)), Duration::from_secs(15));
        assert_eq!(period(Duration::from_secs(200)), Duration::from_secs(50));
        assert_eq!(
            period(Duration::from_secs(2_592_000)),
            Duration::from_secs(60)
        );
    }
}
