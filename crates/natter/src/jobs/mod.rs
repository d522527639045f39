//! The durable job queue: everything natter defers (pushes, pruning, retention)
//! is a row in the `jobs` table, enqueued in the same transaction as the change
//! that needs it and run by any node. docs/jobs.md is the operator's and the
//! handler author's guide; in short:
//!
//! - [`enqueue`] inserts a job on any connection or transaction. A `unique_key`
//!   collapses work: while a job with that key is queued or running, enqueueing
//!   another is a no-op ([`Enqueued::AlreadyQueued`]).
//! - A [`Runner`] (one per node) claims due jobs of the kinds it has a
//!   [`Handler`] for, runs them under a lease it renews, and deletes a job when
//!   its handler succeeds. A failed run is retried with exponential backoff and
//!   full jitter; after `max_attempts` runs, or at once on
//!   [`JobError::Permanent`], the job is `dead` and waits for an operator
//!   (`natter jobs dead|retry|drop`).
//! - A node that dies mid-run leaves its jobs `running`; once their lease
//!   expires any node claims them again. Execution is therefore at least once:
//!   handlers must be idempotent, which makes the effect exactly once.
//! - [`Registry::every`] registers periodic work that runs once per period per
//!   cluster (see `periodic.rs`).

pub mod admin;
pub mod periodic;
pub mod probe;
mod runner;
mod store;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectionTrait, DbErr};
use serde::de::DeserializeOwned;

pub use runner::{Backoff, Runner, RunnerOptions, Waker};
pub use store::{enqueue, enqueue_many, free_unique_key};

/// Runs a job gets unless [`NewJob::max_attempts`] says otherwise.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;
/// Longest job kind (the column's width).
pub const MAX_KIND_LEN: usize = 64;
/// Longest unique key (the column's width).
pub const MAX_UNIQUE_KEY_LEN: usize = 191;

/// A job to enqueue. `kind` names the handler; `payload` is its input.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    pub payload: serde_json::Value,
    /// Unix milliseconds before which it does not run; `None` is now.
    pub run_at: Option<i64>,
    pub max_attempts: u32,
    /// While a queued or running job holds this key, enqueueing another job
    /// with it does nothing. A finished or dead job frees its key.
    pub unique_key: Option<String>,
}

impl NewJob {
    pub fn new(kind: impl Into<String>, payload: serde_json::Value) -> NewJob {
        NewJob {
            kind: kind.into(),
            payload,
            run_at: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            unique_key: None,
        }
    }

    /// Runs no earlier than `ms` (Unix milliseconds).
    pub fn run_at(mut self, ms: i64) -> NewJob {
        self.run_at = Some(ms);
        self
    }

    pub fn max_attempts(mut self, attempts: u32) -> NewJob {
        self.max_attempts = attempts.max(1);
        self
    }

    pub fn unique_key(mut self, key: impl Into<String>) -> NewJob {
        self.unique_key = Some(key.into());
        self
    }
}

/// What [`enqueue`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// A new job with this id.
    New(i64),
    /// A queued or running job already holds the unique key; nothing was added.
    AlreadyQueued,
}

/// A claimed job, as a handler sees it.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub kind: String,
    pub payload: serde_json::Value,
    /// This run's number, from 1. Above 1, an earlier run failed or its node
    /// died, possibly after doing part (or all) of the work.
    pub attempt: u32,
    pub max_attempts: u32,
    pub created_at: i64,
}

impl Job {
    /// The payload as `T`; a payload that does not fit is a permanent failure
    /// (running it again cannot help).
    pub fn payload_as<T: DeserializeOwned>(&self) -> Result<T, JobError> {
        T::deserialize(&self.payload)
            .map_err(|e| JobError::Permanent(format!("payload does not fit {}: {e}", self.kind)))
    }
}

/// How a run failed, as the handler judges it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth trying again after the usual backoff.
    #[error("{0}")]
    Retry(String),
    /// Try again no earlier than `after` (a provider's Retry-After).
    #[error("{reason} (retry after {after:?})")]
    RetryAfter { after: Duration, reason: String },
    /// Trying again cannot help: the job is dead at once.
    #[error("{0}")]
    Permanent(String),
}

impl From<DbErr> for JobError {
    /// A database error in a handler is taken as passing (a lost connection, a
    /// deadlock); a bug that fails every time still ends dead after max_attempts.
    fn from(err: DbErr) -> Self {
        JobError::Retry(format!("database error: {err}"))
    }
}

/// Runs one kind of job. At least once: see docs/jobs.md, "Writing a handler".
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    async fn run(&self, job: &Job) -> Result<(), JobError>;
}

/// A kind enqueued once per `period` per cluster.
#[derive(Debug, Clone)]
pub struct Periodic {
    pub kind: String,
    pub period: Duration,
}

/// What one node runs: handlers by kind, and the periodic work it schedules.
#[derive(Default, Clone)]
pub struct Registry {
    handlers: HashMap<String, Arc<dyn Handler>>,
    periodic: Vec<Periodic>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    /// This node runs jobs of `kind` with `handler`. Kinds no node registers
    /// stay queued (visible in `natter jobs`).
    pub fn register(&mut self, kind: &str, handler: Arc<dyn Handler>) -> &mut Registry {
        self.handlers.insert(kind.to_string(), handler);
        self
    }

    /// Enqueues `kind` once per `period` per cluster (every node that
    /// registers it tries; one succeeds per period). The payload is
    /// `{"slot": n, "period_secs": p}`, `n` being the period's number since
    /// the Unix epoch. Register the kind's handler too (on this or another node).
    pub fn every(&mut self, kind: &str, period: Duration) -> &mut Registry {
        self.periodic.push(Periodic {
            kind: kind.to_string(),
            period: period.max(Duration::from_secs(1)),
        });
        self
    }

    pub fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self.handlers.keys().cloned().collect();
        kinds.sort();
        kinds
    }

    fn handler(&self, kind: &str) -> Option<Arc<dyn Handler>> {
        self.handlers.get(kind).cloned()
    }
}

/// Enqueues on `db`'s write connection outside any transaction, then wakes the
/// local runner: for work that is not tied to another change.
pub async fn enqueue_now(
    conn: &impl ConnectionTrait,
    waker: &Waker,
    job: NewJob,
) -> Result<Enqueued, DbErr> {
    let enqueued = enqueue(conn, job).await?;
    if matches!(enqueued, Enqueued::New(_)) {
        waker.wake();
    }
    Ok(enqueued)
}
