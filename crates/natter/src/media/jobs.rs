//! Media's jobs: collecting a row after its last reference went (`media.collect`,
//! enqueued in the transaction that dropped the reference, so it exists if and
//! only if the drop committed) and the periodic sweep of leftovers
//! (`media.sweep`: uploads never referenced, collections that died, rows of a
//! crashed upload). Both are idempotent: collection is a chain of conditional
//! statements (docs/media.md, "Stored once").

use std::time::Duration;

use sea_orm::ConnectionTrait;
use serde::Deserialize;
use serde_json::json;

use crate::clock::now_ms;
use crate::db::Db;
use crate::jobs::{Handler, Job, JobError, NewJob, enqueue};
use crate::media::store::{self, ACTIVE};
use crate::media::{Media, service};

pub const COLLECT: &str = "media.collect";
pub const SWEEP: &str = "media.sweep";
/// ffprobe/ffmpeg on a stored video or audio file after the message is sent;
/// the handler is messages' (it tells the chats through `MessageEdited`).
pub const PROBE: &str = "media.probe";
/// How often the sweep runs.
pub const SWEEP_PERIOD: Duration = Duration::from_secs(3600);
/// Rows one sweep looks at; the next period takes the rest.
const SWEEP_LIMIT: u64 = 1000;

/// Asks for the collection of rows whose references the caller's transaction
/// dropped; `conn` is that transaction. One queued job per row at a time.
pub async fn enqueue_collect(
    conn: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = i64>,
) -> Result<(), sea_orm::DbErr> {
    for id in ids {
        let job =
            NewJob::new(COLLECT, json!({ "media_id": id })).unique_key(format!("{COLLECT}:{id}"));
        enqueue(conn, job).await?;
    }
    Ok(())
}

/// Asks for a probe of a new video or audio row, in the transaction that stores
/// the first message showing it.
pub async fn enqueue_probe(conn: &impl ConnectionTrait, id: i64) -> Result<(), sea_orm::DbErr> {
    let job = NewJob::new(PROBE, json!({ "media_id": id }))
        .max_attempts(3)
        .unique_key(format!("{PROBE}:{id}"));
    enqueue(conn, job).await?;
    Ok(())
}

/// The payload of `media.collect` and `media.probe`.
#[derive(Deserialize)]
pub struct MediaPayload {
    pub media_id: i64,
}

/// `media.collect`: removes a row nothing references, once its grace is over.
pub struct Collect {
    pub media: Media,
    pub db: Db,
}

#[async_trait::async_trait]
impl Handler for Collect {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let MediaPayload { media_id } = job.payload_as()?;
        let Some(row) = store::find(&self.db.write, media_id).await? else {
            return Ok(());
        };
        if row.state == ACTIVE && row.ref_count > 0 {
            return Ok(());
        }
        // Handed to a request moments ago (the same bytes uploaded again): come
        // back when the grace is over rather than leave it to the sweep.
        let grace_left = row.updated_at + self.media.collect_grace_ms - now_ms();
        if row.state == ACTIVE && grace_left > 0 {
            return Err(JobError::RetryAfter {
                after: Duration::from_millis(u64::try_from(grace_left).unwrap_or(0) + 100),
                reason: "recently handed to a request".into(),
            });
        }
        service::collect(&self.media, &self.db, media_id)
            .await
            .map(|_| ())
            .map_err(|e| JobError::Retry(format!("collecting media {media_id}: {e:#}")))
    }
}

/// `media.sweep`: collects what no job asked for.
pub struct Sweep {
    pub media: Media,
    pub db: Db,
}

#[async_trait::async_trait]
impl Handler for Sweep {
    async fn run(&self, _job: &Job) -> Result<(), JobError> {
        let collected = service::sweep(&self.media, &self.db, SWEEP_LIMIT)
            .await
            .map_err(|e| JobError::Retry(format!("media sweep: {e:#}")))?;
        if collected > 0 {
            tracing::info!(collected, "media sweep removed unreferenced files");
        }
        Ok(())
    }
}
