//! Periodic pruning of OTP codes that can never be used again: expired, used,
//! retired by a newer code, or out of tries. Once per period per cluster, on
//! the job queue.

use std::time::Duration;

use super::store;
use crate::clock::now_ms;
use crate::db::Db;
use crate::jobs::{Handler, Job, JobError};

/// The job kind.
pub const KIND: &str = "auth.prune_otp_codes";

/// How often it runs.
pub const PERIOD: Duration = Duration::from_secs(3600);

/// Rows per statement.
const BATCH: u64 = 1000;

pub struct PruneOtpCodes {
    pub db: Db,
    /// OTP_MAX_ATTEMPTS: a code with this many wrong guesses is spent.
    pub max_attempts: i32,
}

#[async_trait::async_trait]
impl Handler for PruneOtpCodes {
    /// Idempotent: it deletes what is spent as of the run.
    async fn run(&self, _job: &Job) -> Result<(), JobError> {
        let now = now_ms();
        let mut removed = 0;
        loop {
            let deleted =
                store::delete_spent_otps(&self.db.write, now, self.max_attempts, BATCH).await?;
            removed += deleted;
            if deleted < BATCH {
                break;
            }
        }
        if removed > 0 {
            tracing::info!(removed, "pruned spent OTP codes");
        }
        Ok(())
    }
}
