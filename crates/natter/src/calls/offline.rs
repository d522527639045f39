//! A call does not outlive its people's connections. When a user's last
//! socket closes while they are in a call, a job due CALL_OFFLINE_GRACE later
//! takes them out of every call they are still joined to, unless they came
//! back online meanwhile (a page reload, a phone changing networks). Without
//! it, a call whose people vanished without hanging up (a crash, a lost
//! network) stayed `ongoing` for ever, and both stayed busy to every caller.
//! Someone still being rung is left ringing: the ring reaches their phone by
//! push, and the ring timeout ends it.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::service::{emit_updated, event_view, leave_call};
use super::store;
use crate::clock::now_ms;
use crate::error::ApiResult;
use crate::jobs::{self, Handler, Job, JobError, NewJob};
use crate::resources::call::ParticipantStatus;
use crate::state::AppState;
use crate::synclog::LogTx;
use crate::users;

/// The job kind.
pub const KIND: &str = "calls.offline";

#[derive(Serialize, Deserialize)]
struct Payload {
    user_id: i64,
}

pub struct OfflineLeave {
    pub app: AppState,
}

#[async_trait::async_trait]
impl Handler for OfflineLeave {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let payload: Payload = job.payload_as()?;
        leave_if_offline(&self.app, payload.user_id)
            .await
            .map_err(|err| JobError::Retry(format!("leaving calls failed: {err}")))
    }
}

/// `user` went offline (their last socket closed): if they are in a call,
/// queues the job that takes them out of it after the grace period.
pub async fn went_offline(app: &AppState, user: i64) -> ApiResult<()> {
    if store::busy_among(&app.db.read, &[user]).await?.is_empty() {
        return Ok(());
    }
    queue(app, &app.db.write, user).await
}

/// `user` is joining a call (starting or answering it) through the API, in
/// the transaction on `conn`: if no socket of theirs is open, queues the
/// same job with the join, so a call joined from a client that never
/// connects (or whose socket closed just before) still ends when nobody
/// comes online. Online, their last socket's close queues it.
pub async fn joined_by_api(
    app: &AppState,
    conn: &impl sea_orm::ConnectionTrait,
    user: i64,
) -> ApiResult<()> {
    if users::service::is_online_on(conn, user).await? {
        return Ok(());
    }
    queue(app, conn, user).await
}

/// At the start of a lone node (its presence flags all cleared: nobody is
/// online), queues the job for everyone still joined to a live call: people
/// whose sockets died with the process and who do not come back within the
/// grace period leave their calls, as if their sockets had closed.
pub async fn at_lone_start(app: &AppState) -> ApiResult<()> {
    let users = store::users_joined_to_live_calls(&app.db.read).await?;
    for user in &users {
        queue(app, &app.db.write, *user).await?;
    }
    if !users.is_empty() {
        tracing::info!(
            users = users.len(),
            "calls of an unclean stop: their people leave unless they come back"
        );
    }
    Ok(())
}

/// The job for `user`, due CALL_OFFLINE_GRACE from now (once per user: a
/// pending one is kept).
async fn queue(app: &AppState, conn: &impl sea_orm::ConnectionTrait, user: i64) -> ApiResult<()> {
    let grace = i64::try_from(app.config.settings.calls.call_offline_grace).unwrap_or(60);
    let job = NewJob::new(KIND, json!(Payload { user_id: user }))
        .run_at(now_ms() + grace * 1000)
        .unique_key(format!("{KIND}:{user}"));
    jobs::enqueue(conn, job).await?;
    Ok(())
}

/// Takes `user` out of the calls they are joined to, unless they are online.
/// Whether they are is read on the transaction that writes (presence itself
/// is not under the log lock: a user coming back in the same instant may
/// still be taken out, and rejoins as anyone who hung up would).
async fn leave_if_offline(app: &AppState, user: i64) -> ApiResult<()> {
    let mut tx = LogTx::begin(&app.db).await?;
    if users::service::is_online_on(tx.conn(), user).await? {
        return Ok(tx.rollback().await?);
    }
    let mut left = 0;
    for row in store::live_calls_joined_by(tx.conn(), user).await? {
        if !leave_call(&tx, &row, user, ParticipantStatus::Joined).await? {
            continue;
        }
        let view = event_view(app, &tx, row.id).await?;
        emit_updated(&mut tx, &view)?;
        left += 1;
    }
    if left == 0 {
        return Ok(tx.rollback().await?);
    }
    app.publish(tx.commit().await?);
    tracing::debug!(user, calls = left, "left calls after going offline");
    Ok(())
}
