//! The search query on each backend's full-text engine (the indexes of
//! migration m0016). Visibility is part of the query, so a page is always
//! full: the caller's membership intervals are joined in, and deleted,
//! expired, view-once and `system` messages are filtered out by the database.

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, IdenStatic, Iterable, QuerySelect,
    Statement, Value,
};

use super::terms::Terms;
use crate::db::entities::message;

/// Where a page starts: results ranked below the first `offset` among the
/// messages with an id up to `newest` (the newest message when the first page
/// was asked for, so later messages do not shift the pages after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub newest: i64,
    pub offset: u64,
    pub limit: u64,
}

/// The newest message's id (0 when there is none).
pub async fn newest_id(db: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let newest: Option<Option<i64>> = message::Entity::find()
        .select_only()
        .column_as(message::Column::Id.max(), "newest")
        .into_tuple()
        .one(db)
        .await?;
    Ok(newest.flatten().unwrap_or(0))
}

/// One backend's full-text engine: the rows to match in, the match condition
/// and the rank (best first), with the values they bind, in order.
struct Engine {
    from: &'static str,
    matches: &'static str,
    rank: &'static str,
    values: Vec<Value>,
}

fn engine(backend: DbBackend, terms: &Terms) -> Engine {
    match backend {
        // bm25() is lower for better matches.
        DbBackend::Sqlite => Engine {
            from: "messages_fts JOIN messages m ON m.id = messages_fts.rowid",
            matches: "messages_fts MATCH ?",
            rank: "bm25(messages_fts)",
            values: vec![terms.fts5().into()],
        },
        // content_tsv: to_tsvector('simple', content), stored (m0016).
        DbBackend::Postgres => Engine {
            from: "messages m",
            matches: "m.content_tsv @@ to_tsquery('simple', $1)",
            rank: "ts_rank(m.content_tsv, to_tsquery('simple', $1)) DESC",
            values: vec![terms.tsquery().into()],
        },
        _ => {
            let query = terms.boolean_mode();
            Engine {
                from: "messages m",
                matches: "MATCH (m.content) AGAINST (? IN BOOLEAN MODE)",
                rank: "MATCH (m.content) AGAINST (? IN BOOLEAN MODE) DESC",
                values: vec![query.clone().into(), query.into()],
            }
        }
    }
}

/// The statement. Every number in it is one natter computed (ids, times,
/// counts), so they are inlined; the search text is always bound.
fn statement(
    backend: DbBackend,
    user_id: i64,
    terms: &Terms,
    now: i64,
    window: Window,
) -> Statement {
    let Engine {
        from,
        matches,
        rank,
        values,
    } = engine(backend, terms);
    let Window {
        newest,
        offset,
        limit,
    } = window;
    // The entity's columns by name: `m.*` would also carry PostgreSQL's
    // content_tsv, a copy of every word, for nothing.
    let columns = message::Column::iter()
        .map(|column| format!("m.{}", column.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    // A message is the caller's to find when it was sent (its log position,
    // `seq`) inside one of their membership intervals in its chat: from_seq <
    // seq <= to_seq, the interval still open when to_seq is NULL. Intervals of
    // one user in one chat never overlap, so the join yields a message once.
    let sql = format!(
        "SELECT {columns} FROM {from} \
         JOIN chat_memberships cm ON cm.chat_id = m.chat_id AND cm.user_id = {user_id} \
         AND m.seq > cm.from_seq AND (cm.to_seq IS NULL OR m.seq <= cm.to_seq) \
         WHERE {matches} AND m.id <= {newest} AND m.deleted_at IS NULL \
         AND m.message_type <> 'system' AND NOT m.view_once \
         AND (m.expires_at IS NULL OR m.expires_at > {now}) \
         ORDER BY {rank}, m.id DESC LIMIT {limit} OFFSET {offset}"
    );
    Statement::from_sql_and_values(backend, sql, values)
}

/// A page of the messages `user_id` may find that match `terms`, best first.
pub async fn search(
    db: &impl ConnectionTrait,
    user_id: i64,
    terms: &Terms,
    now: i64,
    window: Window,
) -> Result<Vec<message::Model>, DbErr> {
    let statement = statement(db.get_database_backend(), user_id, terms, now, window);
    message::Entity::find()
        .from_raw_sql(statement)
        .all(db)
        .await
}
