//! The ring timeout: a job enqueued with the call (same transaction), due
//! CALL_RING_TIMEOUT after it started. Being a row in the jobs table, it
//! survives a restart or the death of the node that took the call; any node
//! runs it. When it runs, whoever is still being rung has missed the call, and
//! a call nobody answered is `missed`. Idempotent: a call no longer ringing
//! anyone is left alone, so a second run changes nothing and emits nothing.

use serde::Deserialize;

use super::service::{emit_updated, event_view, settle};
use super::store;
use crate::error::ApiError;
use crate::jobs::{Handler, Job, JobError};
use crate::resources::call::{CallStatus, ParticipantStatus};
use crate::state::AppState;
use crate::synclog::LogTx;

/// The job kind.
pub const KIND: &str = "calls.ring_timeout";

#[derive(Deserialize)]
struct Payload {
    call_id: i64,
}

pub struct RingTimeout {
    pub app: AppState,
}

#[async_trait::async_trait]
impl Handler for RingTimeout {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let payload: Payload = job.payload_as()?;
        time_out(&self.app, payload.call_id)
            .await
            .map_err(|err| JobError::Retry(format!("ring timeout failed: {err}")))
    }
}

/// Marks the call's ringing participants missed and settles the call.
async fn time_out(app: &AppState, call_id: i64) -> Result<(), ApiError> {
    let mut tx = LogTx::begin(&app.db).await?;
    let Some(row) = store::find(tx.conn(), call_id).await? else {
        return Ok(tx.rollback().await?);
    };
    let status = CallStatus::parse(&row.status);
    let now = tx.now();
    let missed = if status.is_live() {
        store::move_all(
            tx.conn(),
            call_id,
            ParticipantStatus::Ringing,
            ParticipantStatus::Missed,
            now,
        )
        .await?
    } else {
        0
    };
    if missed == 0 {
        return Ok(tx.rollback().await?);
    }
    settle(&tx, &row, status, false).await?;
    let view = event_view(app, &tx, call_id).await?;
    emit_updated(&mut tx, &view)?;
    app.publish(tx.commit().await?);
    tracing::debug!(call_id, missed, "ring timeout");
    Ok(())
}
