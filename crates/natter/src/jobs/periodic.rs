//! Periodic work, once per period per cluster.
//!
//! Time is cut into slots of `period` since the Unix epoch. At the start of
//! each slot (and once at start-up) every node that registered a kind tries to
//! move that kind's `job_periods.last_slot` forward to the current slot; the
//! one whose conditional UPDATE matches enqueues the job in the same
//! transaction, the others match nothing. A node that was down for several
//! slots catches up with one run, not one per missed slot.
//!
//! The job carries the unique key `periodic:{kind}`: while one run is still
//! queued or running (slower than its period, or retrying), the next slot adds
//! nothing, so runs never pile up.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::store;
use super::{NewJob, Periodic, Waker};
use crate::clock::now_ms;
use crate::db::Db;

/// How long to wait before trying again after a database error.
const RETRY_AFTER_ERROR: Duration = Duration::from_secs(5);

/// The slot `now_ms` falls in for `period`.
pub fn slot_of(now_ms: i64, period: Duration) -> i64 {
    now_ms.div_euclid(period_ms(period))
}

fn period_ms(period: Duration) -> i64 {
    (period.as_millis() as i64).max(1)
}

/// The job a kind's slot enqueues.
pub fn slot_job(kind: &str, period: Duration, slot: i64) -> NewJob {
    NewJob::new(
        kind,
        serde_json::json!({"slot": slot, "period_secs": period.as_secs()}),
    )
    .unique_key(format!("periodic:{kind}"))
}

/// Tries to enqueue `kind` for the slot `now_ms` falls in. True when this call
/// enqueued it (false: another node, or an earlier call, already did).
pub async fn tick(db: &Db, schedule: &Periodic, now_ms: i64) -> Result<bool, sea_orm::DbErr> {
    store::ensure_period(db, &schedule.kind).await?;
    let slot = slot_of(now_ms, schedule.period);
    store::take_slot(
        db,
        &schedule.kind,
        slot,
        slot_job(&schedule.kind, schedule.period, slot),
    )
    .await
}

/// The scheduler loop of one node.
pub async fn run(db: Db, schedule: Vec<Periodic>, waker: Waker, shutdown: CancellationToken) {
    // Each kind's next attempt, in Unix milliseconds; all are due at start-up.
    let mut next: Vec<i64> = vec![now_ms(); schedule.len()];
    loop {
        let now = now_ms();
        for (entry, due) in schedule.iter().zip(next.iter_mut()) {
            if *due > now {
                continue;
            }
            *due = match tick(&db, entry, now).await {
                Ok(enqueued) => {
                    if enqueued {
                        tracing::debug!(kind = %entry.kind, "periodic job enqueued");
                        waker.wake();
                    }
                    (slot_of(now, entry.period) + 1) * period_ms(entry.period)
                }
                Err(err) => {
                    tracing::warn!(kind = %entry.kind, error = %err, "could not schedule a periodic job");
                    now + RETRY_AFTER_ERROR.as_millis() as i64
                }
            };
        }
        let earliest = next.iter().copied().min().unwrap_or(now + 60_000);
        let wait = Duration::from_millis((earliest - now_ms()).max(1) as u64);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_cut_time_into_periods() {
        let minute = Duration::from_secs(60);
        assert_eq!(slot_of(0, minute), 0);
        assert_eq!(slot_of(59_999, minute), 0);
        assert_eq!(slot_of(60_000, minute), 1);
        assert_eq!(slot_of(1_800_000_123_456, minute), 30_000_002);
    }
}
