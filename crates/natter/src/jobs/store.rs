//! The queries on `jobs` and `job_periods`, and only here. One code path for
//! the three databases: claims lock their rows with `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL and MySQL/MariaDB (SeaQuery leaves the clause out on SQLite,
//! where `Db::begin` takes the single write lock up front instead).
//!
//! Every change to a running job is fenced by (`locked_by`, `attempts`): a node
//! whose lease expired and whose job another claim took over (which counted a
//! new attempt) finds nothing to update, so a late finisher cannot delete or
//! reschedule a run that is not its own.

use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TryInsertResult,
};

use super::{Enqueued, NewJob};
use crate::clock::now_ms;
use crate::db::entities::{job, job_period};
use crate::db::{Db, fixed};

pub const QUEUED: &str = "queued";
pub const RUNNING: &str = "running";
pub const DEAD: &str = "dead";

/// Longest `last_error` kept, in characters.
const MAX_ERROR_CHARS: usize = 2000;

/// The row of a job queued at `now`.
fn queued_row(job: NewJob, now: i64) -> job::ActiveModel {
    job::ActiveModel {
        kind: Set(job.kind),
        payload: Set(job.payload.to_string()),
        state: Set(QUEUED.to_string()),
        attempts: Set(0),
        max_attempts: Set(i32::try_from(job.max_attempts).unwrap_or(i32::MAX)),
        run_at: Set(job.run_at.unwrap_or(now)),
        locked_by: Set(None),
        locked_until: Set(None),
        last_error: Set(None),
        unique_key: Set(job.unique_key),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

/// Inserts `job` on `conn`, which may be a transaction: the job then exists
/// only if that transaction commits. With a unique key held by a queued or
/// running job, nothing is inserted, through `ON CONFLICT DO NOTHING` (`ON
/// DUPLICATE KEY UPDATE` on MySQL), which fails no statement and so leaves a
/// PostgreSQL transaction usable.
pub async fn enqueue(conn: &impl ConnectionTrait, job: NewJob) -> Result<Enqueued, DbErr> {
    let now = now_ms();
    let has_key = job.unique_key.is_some();
    let row = queued_row(job, now);
    if !has_key {
        let inserted = job::Entity::insert(row).exec(conn).await?;
        return Ok(Enqueued::New(inserted.last_insert_id));
    }
    let attempt = job::Entity::insert(row)
        .on_conflict_do_nothing_on([job::Column::UniqueKey])
        .exec(conn)
        .await?;
    Ok(match attempt {
        TryInsertResult::Inserted(inserted) => Enqueued::New(inserted.last_insert_id),
        TryInsertResult::Conflicted | TryInsertResult::Empty => Enqueued::AlreadyQueued,
    })
}

/// Inserts `jobs` on `conn` (one statement on PostgreSQL) (a transaction, typically), each
/// with its unique key: a job whose key a queued or running job holds is
/// skipped, as with [`enqueue`]. Returns how many rows the database reports
/// inserted.
pub async fn enqueue_many(conn: &impl ConnectionTrait, jobs: Vec<NewJob>) -> Result<u64, DbErr> {
    if jobs.is_empty() {
        return Ok(0);
    }
    let now = now_ms();
    let rows: Vec<job::ActiveModel> = jobs.into_iter().map(|job| queued_row(job, now)).collect();
    // The writer enqueues a batch's pushes: a text that does not depend on
    // how many ([`fixed`]).
    fixed::insert_rows(conn, &rows, Some(job::Column::UniqueKey)).await
}

/// Frees the unique key of a running job, so that new work with that key
/// becomes a job of its own instead of joining one that has already started
/// (and may have done what the new work needs too late for it).
pub async fn free_unique_key(db: &impl ConnectionTrait, job_id: i64) -> Result<(), DbErr> {
    job::Entity::update_many()
        .col_expr(job::Column::UniqueKey, Expr::value(Option::<String>::None))
        .filter(job::Column::Id.eq(job_id))
        .filter(job::Column::State.eq(RUNNING))
        .filter(job::Column::UniqueKey.is_not_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Due work among `kinds`: queued and due, or running with an expired lease.
fn claimable(kinds: &[String], now: i64) -> Condition {
    Condition::all()
        .add(job::Column::Kind.is_in(kinds.iter().map(String::as_str)))
        .add(
            Condition::any()
                .add(
                    Condition::all()
                        .add(job::Column::State.eq(QUEUED))
                        .add(job::Column::RunAt.lte(now)),
                )
                .add(
                    Condition::all()
                        .add(job::Column::State.eq(RUNNING))
                        .add(job::Column::LockedUntil.lt(now)),
                ),
        )
}

/// A cheap look before taking locks, so an idle node's poll costs one indexed
/// read and no write transaction. On the write handle: on SQLite its one
/// connection, because the read pool hands out its least recently used
/// connection and a look every second would keep every one of its
/// connections (and their page caches) from ever sitting idle long enough to
/// close (issue 20); elsewhere it is the shared pool anyway.
pub async fn any_claimable(db: &Db, kinds: &[String]) -> Result<bool, DbErr> {
    if kinds.is_empty() {
        return Ok(false);
    }
    let found = job::Entity::find()
        .select_only()
        .column(job::Column::Id)
        .filter(claimable(kinds, now_ms()))
        .limit(1)
        .into_tuple::<i64>()
        .one(&db.write)
        .await?;
    Ok(found.is_some())
}

/// Takes up to `limit` claimable jobs for `node` until `lease_until`, counting
/// one attempt each. Returns them as they are after the claim.
pub async fn claim(
    db: &Db,
    kinds: &[String],
    limit: u64,
    node: &str,
    lease_until: i64,
) -> Result<Vec<job::Model>, DbErr> {
    if kinds.is_empty() || limit == 0 {
        return Ok(Vec::new());
    }
    let now = now_ms();
    let tx = db.begin().await?;
    let mut rows = job::Entity::find()
        .filter(claimable(kinds, now))
        .order_by_asc(job::Column::RunAt)
        .order_by_asc(job::Column::Id)
        .limit(limit)
        .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
        .all(&tx)
        .await?;
    if rows.is_empty() {
        tx.commit().await?;
        return Ok(rows);
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    job::Entity::update_many()
        .col_expr(job::Column::State, Expr::value(RUNNING))
        .col_expr(
            job::Column::Attempts,
            Expr::col(job::Column::Attempts).add(1),
        )
        .col_expr(job::Column::LockedBy, Expr::value(node))
        .col_expr(job::Column::LockedUntil, Expr::value(lease_until))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .filter(job::Column::Id.is_in(ids))
        .exec(&tx)
        .await?;
    tx.commit().await?;
    for row in &mut rows {
        row.state = RUNNING.to_string();
        row.attempts += 1;
        row.locked_by = Some(node.to_string());
        row.locked_until = Some(lease_until);
    }
    Ok(rows)
}

/// The rows of one run: this job, still held by this node for this attempt.
fn this_run(id: i64, node: &str, attempt: i32) -> Condition {
    Condition::all()
        .add(job::Column::Id.eq(id))
        .add(job::Column::State.eq(RUNNING))
        .add(job::Column::LockedBy.eq(node))
        .add(job::Column::Attempts.eq(attempt))
}

/// The run succeeded: the job is deleted. False when the run was no longer ours.
pub async fn complete(db: &Db, id: i64, node: &str, attempt: i32) -> Result<bool, DbErr> {
    let done = job::Entity::delete_many()
        .filter(this_run(id, node, attempt))
        .exec(&db.write)
        .await?;
    Ok(done.rows_affected == 1)
}

/// The run failed and will be tried again at `run_at`.
pub async fn reschedule(
    db: &Db,
    id: i64,
    node: &str,
    attempt: i32,
    run_at: i64,
    error: &str,
) -> Result<bool, DbErr> {
    let updated = job::Entity::update_many()
        .col_expr(job::Column::State, Expr::value(QUEUED))
        .col_expr(job::Column::RunAt, Expr::value(run_at))
        .col_expr(job::Column::LastError, Expr::value(truncate(error)))
        .col_expr(job::Column::LockedBy, Expr::value(Option::<String>::None))
        .col_expr(job::Column::LockedUntil, Expr::value(Option::<i64>::None))
        .col_expr(job::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(this_run(id, node, attempt))
        .exec(&db.write)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// The job is dead: kept for an operator, its unique key freed so new work
/// with that key is not blocked behind it.
pub async fn bury(db: &Db, id: i64, node: &str, attempt: i32, error: &str) -> Result<bool, DbErr> {
    let updated = job::Entity::update_many()
        .col_expr(job::Column::State, Expr::value(DEAD))
        .col_expr(job::Column::LastError, Expr::value(truncate(error)))
        .col_expr(job::Column::UniqueKey, Expr::value(Option::<String>::None))
        .col_expr(job::Column::LockedBy, Expr::value(Option::<String>::None))
        .col_expr(job::Column::LockedUntil, Expr::value(Option::<i64>::None))
        .col_expr(job::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(this_run(id, node, attempt))
        .exec(&db.write)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// The node stops before the run finished: the job is queued again at once
/// and the interrupted run is not counted as an attempt.
pub async fn release(db: &Db, id: i64, node: &str, attempt: i32) -> Result<bool, DbErr> {
    let now = now_ms();
    let updated = job::Entity::update_many()
        .col_expr(job::Column::State, Expr::value(QUEUED))
        .col_expr(
            job::Column::Attempts,
            Expr::col(job::Column::Attempts).sub(1),
        )
        .col_expr(job::Column::RunAt, Expr::value(now))
        .col_expr(job::Column::LockedBy, Expr::value(Option::<String>::None))
        .col_expr(job::Column::LockedUntil, Expr::value(Option::<i64>::None))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .filter(this_run(id, node, attempt))
        .exec(&db.write)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Extends the lease of this node's running jobs among `ids`.
pub async fn renew(db: &Db, ids: &[i64], node: &str, lease_until: i64) -> Result<u64, DbErr> {
    if ids.is_empty() {
        return Ok(0);
    }
    let updated = job::Entity::update_many()
        .col_expr(job::Column::LockedUntil, Expr::value(lease_until))
        .filter(job::Column::Id.is_in(ids.iter().copied()))
        .filter(job::Column::State.eq(RUNNING))
        .filter(job::Column::LockedBy.eq(node))
        .exec(&db.write)
        .await?;
    Ok(updated.rows_affected)
}

/// Jobs by kind and state, with the earliest `run_at` of each group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Depth {
    pub kind: String,
    pub state: String,
    pub count: i64,
    pub earliest_run_at: i64,
}

pub async fn depth(conn: &impl ConnectionTrait) -> Result<Vec<Depth>, DbErr> {
    let rows = job::Entity::find()
        .select_only()
        .column(job::Column::Kind)
        .column(job::Column::State)
        .column_as(job::Column::Id.count(), "count")
        .column_as(job::Column::RunAt.min(), "earliest")
        .group_by(job::Column::Kind)
        .group_by(job::Column::State)
        .order_by_asc(job::Column::Kind)
        .order_by_asc(job::Column::State)
        .into_tuple::<(String, String, i64, i64)>()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|(kind, state, count, earliest_run_at)| Depth {
            kind,
            state,
            count,
            earliest_run_at,
        })
        .collect())
}

/// Dead jobs, most recently failed first.
pub async fn dead(conn: &impl ConnectionTrait, limit: u64) -> Result<Vec<job::Model>, DbErr> {
    job::Entity::find()
        .filter(job::Column::State.eq(DEAD))
        .order_by_desc(job::Column::UpdatedAt)
        .order_by_desc(job::Column::Id)
        .limit(limit)
        .all(conn)
        .await
}

pub async fn find(conn: &impl ConnectionTrait, id: i64) -> Result<Option<job::Model>, DbErr> {
    job::Entity::find_by_id(id).one(conn).await
}

/// Queues a dead job again with a fresh count of attempts. False when `id` is
/// not a dead job.
pub async fn retry(conn: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    let now = now_ms();
    let updated = job::Entity::update_many()
        .col_expr(job::Column::State, Expr::value(QUEUED))
        .col_expr(job::Column::Attempts, Expr::value(0))
        .col_expr(job::Column::RunAt, Expr::value(now))
        .col_expr(job::Column::UpdatedAt, Expr::value(now))
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::State.eq(DEAD))
        .exec(conn)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Deletes a job that is not running. False when there is no such job.
pub async fn delete_idle(conn: &impl ConnectionTrait, id: i64) -> Result<bool, DbErr> {
    let deleted = job::Entity::delete_many()
        .filter(job::Column::Id.eq(id))
        .filter(job::Column::State.ne(RUNNING))
        .exec(conn)
        .await?;
    Ok(deleted.rows_affected == 1)
}

/// Makes sure `kind` has its `job_periods` row. Nodes may race to insert it;
/// `ON CONFLICT DO NOTHING` makes the losers' inserts no-ops, not errors.
pub async fn ensure_period(db: &Db, kind: &str) -> Result<(), DbErr> {
    let row = job_period::ActiveModel {
        kind: Set(kind.to_string()),
        last_slot: Set(-1),
        updated_at: Set(now_ms()),
    };
    job_period::Entity::insert(row)
        .on_conflict_do_nothing_on([job_period::Column::Kind])
        .exec(&db.write)
        .await?;
    Ok(())
}

/// Moves `kind`'s period forward to `slot` if no node has yet, and enqueues
/// `job` in the same transaction when this call did. True when it did.
///
/// The conditional UPDATE makes the nodes agree: the row lock serialises
/// them, the first moves `last_slot`, the others match no row. A node whose
/// clock or timer runs late finds the slot taken even if the job has already
/// run and been deleted (a unique key on the job alone could not tell).
pub async fn take_slot(db: &Db, kind: &str, slot: i64, job: NewJob) -> Result<bool, DbErr> {
    let tx = db.begin().await?;
    let moved = job_period::Entity::update_many()
        .col_expr(job_period::Column::LastSlot, Expr::value(slot))
        .col_expr(job_period::Column::UpdatedAt, Expr::value(now_ms()))
        .filter(job_period::Column::Kind.eq(kind))
        .filter(job_period::Column::LastSlot.lt(slot))
        .exec(&tx)
        .await?;
    let took = moved.rows_affected == 1;
    if took {
        enqueue(&tx, job).await?;
    }
    tx.commit().await?;
    Ok(took)
}

fn truncate(error: &str) -> String {
    match error.char_indices().nth(MAX_ERROR_CHARS) {
        Some((end, _)) => format!("{}...", &error[..end]),
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn errors_are_cut_at_a_character_boundary() {
        assert_eq!(truncate("short"), "short");
        let long = "é".repeat(3000);
        let cut = truncate(&long);
        assert_eq!(cut.chars().count(), 2003);
        assert!(cut.ends_with("..."));
    }
}
