//! Queries on `events` and `sync_log_counters` (the sync log and its lock row).

use sea_orm::sea_query::{Expr, LikeExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityName, EntityTrait, IdenStatic,
    QueryFilter, QuerySelect, Statement,
};

use super::Interval;
use crate::db::entities::{event, sync_log_counter as counter};
use crate::db::fixed;

/// The one row of `sync_log_counters`.
const COUNTER_ROW: i32 = 1;

/// Takes the log lock (a no-op update locks the row on every backend;
/// SQLite's BEGIN IMMEDIATE already holds the database's write lock) and
/// reads the last position and message id handed out. Where the backend can
/// return the row it updated (SQLite, PostgreSQL) that is one statement: one
/// round trip less per log transaction on PostgreSQL, one hop less to
/// SQLite's connection thread (docs/benchmarks.md, issue 20, fourth part).
pub(super) async fn lock_counters(db: &impl ConnectionTrait) -> Result<(i64, i64), DbErr> {
    let touch = counter::Entity::update_many()
        .col_expr(
            counter::Column::LastSeq,
            Expr::col(counter::Column::LastSeq),
        )
        .filter(counter::Column::Id.eq(COUNTER_ROW));
    let missing = || DbErr::RecordNotFound("sync_log_counters row".into());
    if db.support_returning() {
        let rows = touch.exec_with_returning(db).await?;
        let row = rows.first().ok_or_else(missing)?;
        return Ok((row.last_seq, row.last_message_id));
    }
    touch.exec(db).await?;
    counter::Entity::find()
        .select_only()
        .column(counter::Column::LastSeq)
        .column(counter::Column::LastMessageId)
        .filter(counter::Column::Id.eq(COUNTER_ROW))
        .into_tuple()
        .one(db)
        .await?
        .ok_or_else(missing)
}

/// Appends a log transaction's events and records the last position and
/// message id it handed out. On PostgreSQL that is one statement, the
/// events' INSERT run as a data-modifying `WITH` ahead of the counters'
/// UPDATE: one round trip less for every log transaction (docs/benchmarks.md,
/// issue 20, fifth part). `riders` (PostgreSQL only: [`fixed::json_insert`]s,
/// the n-th with `$n` as its one parameter) join that statement the same
/// way, each a `WITH` of its own; a constraint they break fails it. Elsewhere (no
/// data-modifying `WITH`) it is two statements and `riders` is empty.
pub(super) async fn append(
    db: &impl ConnectionTrait,
    rows: &[event::ActiveModel],
    riders: Vec<Statement>,
    last_seq: i64,
    last_message_id: i64,
) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres || (rows.is_empty() && riders.is_empty()) {
        debug_assert!(riders.is_empty(), "riders are PostgreSQL's");
        insert_events(db, rows).await?;
        return write_counters(db, last_seq, last_message_id).await;
    }
    let mut inserts = riders;
    if !rows.is_empty() {
        inserts.push(fixed::json_insert(rows, None, inserts.len() + 1));
    }
    let mut with = Vec::with_capacity(inserts.len());
    let mut values = Vec::with_capacity(inserts.len() + 3);
    for (n, insert) in inserts.into_iter().enumerate() {
        with.push(format!("w{n} AS ({})", insert.sql));
        values.extend(insert.values.into_iter().flat_map(|v| v.0));
    }
    let n = values.len();
    let sql = format!(
        "WITH {} UPDATE \"{}\" SET \"{}\" = ${}, \"{}\" = ${} WHERE \"{}\" = ${}",
        with.join(", "),
        counter::Entity.table_name(),
        counter::Column::LastSeq.as_str(),
        n + 1,
        counter::Column::LastMessageId.as_str(),
        n + 2,
        counter::Column::Id.as_str(),
        n + 3,
    );
    values.extend([last_seq.into(), last_message_id.into(), COUNTER_ROW.into()]);
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
    .await?;
    Ok(())
}

/// Records the last position and message id handed out.
async fn write_counters(
    db: &impl ConnectionTrait,
    last_seq: i64,
    last_message_id: i64,
) -> Result<(), DbErr> {
    counter::Entity::update_many()
        .col_expr(counter::Column::LastSeq, Expr::value(last_seq))
        .col_expr(counter::Column::LastMessageId, Expr::value(last_message_id))
        .filter(counter::Column::Id.eq(COUNTER_ROW))
        .exec(db)
        .await?;
    Ok(())
}

async fn insert_events(
    db: &impl ConnectionTrait,
    rows: &[event::ActiveModel],
) -> Result<(), DbErr> {
    fixed::insert_rows(db, rows, None).await?;
    Ok(())
}

/// The latest committed position and the highest pruned one.
pub async fn positions(db: &impl ConnectionTrait) -> Result<(i64, i64), DbErr> {
    counter::Entity::find()
        .select_only()
        .column(counter::Column::LastSeq)
        .column(counter::Column::PrunedThroughSeq)
        .filter(counter::Column::Id.eq(COUNTER_ROW))
        .into_tuple()
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("sync_log_counters row".into()))
}

/// One row of the log, as read for a page.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub seq: i64,
    pub chat_id: Option<i64>,
    pub name: String,
    pub data: String,
    pub created_at: i64,
}

/// The events of `user_id` after `since`: those of their chats within their
/// membership intervals plus those addressed to them, in order, at most
/// `limit`. One probe per interval, each reading at most `limit` rows from the
/// (chat_id, seq) index; all integers are natter's, so they are inlined.
pub async fn page(
    db: &impl ConnectionTrait,
    user_id: i64,
    intervals: &[(i64, Interval)],
    since: i64,
    limit: u64,
) -> Result<Vec<EventRow>, DbErr> {
    let columns = "seq, chat_id, name, data, created_at";
    let mut parts = vec![format!(
        "SELECT {columns} FROM events WHERE user_id = {user_id} AND seq > {since} ORDER BY seq LIMIT {limit}"
    )];
    for (chat_id, interval) in intervals {
        if interval.to.is_some_and(|to| to <= since) {
            continue;
        }
        let after = since.max(interval.from);
        let upto = interval
            .to
            .map(|to| format!(" AND seq <= {to}"))
            .unwrap_or_default();
        parts.push(format!(
            "SELECT {columns} FROM events WHERE chat_id = {chat_id} AND seq > {after}{upto} ORDER BY seq LIMIT {limit}"
        ));
    }
    let mut rows = Vec::new();
    // SQLite caps compound SELECTs at 500 terms; 200 keeps statements modest everywhere.
    for chunk in parts.chunks(200) {
        let sql = chunk
            .iter()
            .enumerate()
            .map(|(i, select)| format!("SELECT * FROM ({select}) AS p{i}"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let sql = format!("{sql} ORDER BY seq LIMIT {limit}");
        for row in db
            .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
            .await?
        {
            rows.push(EventRow {
                seq: row.try_get("", "seq")?,
                chat_id: row.try_get("", "chat_id")?,
                name: row.try_get("", "name")?,
                data: row.try_get("", "data")?,
                created_at: row.try_get("", "created_at")?,
            });
        }
    }
    rows.sort_by_key(|r| r.seq);
    rows.truncate(limit as usize);
    Ok(rows)
}

/// The highest position older than `cutoff` (ms), if any.
pub(super) async fn last_seq_before(
    db: &impl ConnectionTrait,
    cutoff: i64,
) -> Result<Option<i64>, DbErr> {
    event::Entity::find()
        .select_only()
        .column_as(event::Column::Seq.max(), "seq")
        .filter(event::Column::CreatedAt.lt(cutoff))
        .into_tuple::<Option<i64>>()
        .one(db)
        .await
        .map(Option::flatten)
}

/// Deletes up to `batch` events at or below `through`; returns how many went.
pub(super) async fn delete_through(
    db: &impl ConnectionTrait,
    through: i64,
    batch: u64,
) -> Result<u64, DbErr> {
    let seqs: Vec<i64> = event::Entity::find()
        .select_only()
        .column(event::Column::Seq)
        .filter(event::Column::Seq.lte(through))
        .limit(batch)
        .into_tuple()
        .all(db)
        .await?;
    if seqs.is_empty() {
        return Ok(0);
    }
    let result = event::Entity::delete_many()
        .filter(event::Column::Seq.is_in(seqs))
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

/// Records that positions up to `through` are gone.
pub(super) async fn set_pruned_through(
    db: &impl ConnectionTrait,
    through: i64,
) -> Result<(), DbErr> {
    counter::Entity::update_many()
        .col_expr(counter::Column::PrunedThroughSeq, Expr::value(through))
        .filter(counter::Column::Id.eq(COUNTER_ROW))
        .filter(counter::Column::PrunedThroughSeq.lt(through))
        .exec(db)
        .await?;
    Ok(())
}

/// Positions of the events of a chat at or after `from_seq`, named one of
/// `names`, whose data starts with `prefix` (read through the (chat_id, seq)
/// index; the prefix is matched on those rows only).
pub(super) async fn seqs_starting_with(
    db: &impl ConnectionTrait,
    chat_id: i64,
    from_seq: i64,
    names: &[&str],
    prefix: &str,
) -> Result<Vec<i64>, DbErr> {
    // Here only: in the whole module it would shadow `Ord::max` on integers.
    use sea_orm::sea_query::ExprTrait;
    let pattern = format!("{}%", escape_like(prefix));
    event::Entity::find()
        .select_only()
        .column(event::Column::Seq)
        .filter(event::Column::ChatId.eq(chat_id))
        .filter(event::Column::Seq.gte(from_seq))
        .filter(event::Column::Name.is_in(names.iter().copied()))
        .filter(Expr::col(event::Column::Data).like(LikeExpr::new(pattern).escape('!')))
        .into_tuple()
        .all(db)
        .await
}

/// `%`, `_` and the escape character itself, escaped with `!` for LIKE.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '!') {
            out.push('!');
        }
        out.push(c);
    }
    out
}

pub(super) async fn set_data(
    db: &impl ConnectionTrait,
    seq: i64,
    data: String,
) -> Result<(), DbErr> {
    event::Entity::update_many()
        .col_expr(event::Column::Data, Expr::value(data))
        .filter(event::Column::Seq.eq(seq))
        .exec(db)
        .await?;
    Ok(())
}
