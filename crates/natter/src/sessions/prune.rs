//! Periodic pruning of what can never authenticate again: expired tokens and
//! dead login sessions (revoked, or whose refresh token ran out). Once per
//! period per cluster, on the job queue.

use std::time::Duration;

use super::store;
use crate::clock::now_ms;
use crate::db::Db;
use crate::jobs::{Handler, Job, JobError};

/// The job kind.
pub const KIND: &str = "sessions.prune";

/// How often it runs.
pub const PERIOD: Duration = Duration::from_secs(3600);

/// Rows per transaction: pruning a large backlog never holds locks for long.
const BATCH: u64 = 500;

pub struct PruneSessions {
    pub db: Db,
}

#[async_trait::async_trait]
impl Handler for PruneSessions {
    /// Idempotent: it deletes what is dead as of the run, in batches.
    async fn run(&self, _job: &Job) -> Result<(), JobError> {
        let now = now_ms();
        let mut tokens = 0;
        loop {
            let deleted = store::delete_expired_tokens(&self.db.write, now, BATCH).await?;
            tokens += deleted;
            if deleted < BATCH {
                break;
            }
        }
        let mut sessions = 0;
        loop {
            let txn = self.db.begin().await?;
            let dead = store::dead_sessions(&txn, now, BATCH).await?;
            store::delete_sessions(&txn, &dead).await?;
            txn.commit().await?;
            sessions += dead.len();
            if (dead.len() as u64) < BATCH {
                break;
            }
        }
        if tokens + sessions as u64 > 0 {
            tracing::info!(tokens, sessions, "pruned expired tokens and dead sessions");
        }
        Ok(())
    }
}
