//! Statements whose text does not depend on how many rows or values they
//! carry, for the group-commit writer's batches (docs/architecture.md, "A
//! writer batch costs a fixed number of round trips").
//!
//! Why: sqlx prepares each statement text once per connection and keeps it
//! in a small cache. A multi-row INSERT or an `IN (?, ?, …)` list has a new
//! text for every batch size, so a writer whose batches wander from 1 to 200
//! messages re-prepares most of its statements every batch: on PostgreSQL one
//! more round trip each (Parse and Describe, and a new plan), on SQLite a new
//! parse of a statement with thousands of parameters.
//!
//! - PostgreSQL passes each list as one parameter: `= ANY(CAST($1 AS
//!   bigint[]))` for ids, and rows as one JSON array read by
//!   `json_populate_recordset` (typed by the table's own row type, so no
//!   column type is spelled out here). One text per statement, whatever N.
//! - SQLite and MySQL have no array parameters: an `IN` list is padded to the
//!   next power of two by repeating its last value (a repeated value selects
//!   nothing more), and rows are inserted in chunks of power-of-two sizes,
//!   largest first, so a statement kind has at most [`LADDER`]'s nine texts.

use sea_orm::sea_query::value::sea_value_to_json_value;
use sea_orm::sea_query::{Expr, OnConflict, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityName, EntityTrait,
    IdenStatic, Iterable, QueryTrait, Statement,
};

/// Chunk sizes of a multi-row INSERT on SQLite and MySQL, largest first:
/// 255 rows are 8 statements at most, and each size is one text.
const LADDER: [usize; 9] = [256, 128, 64, 32, 16, 8, 4, 2, 1];

/// `column IN (values)` with a text that does not depend on how many values
/// there are (padded on SQLite and MySQL: keep `values` within
/// [`super::IN_LIST_CHUNK`], as [`super::in_chunks`] does).
pub fn one_of<C: ColumnTrait>(backend: DbBackend, column: C, values: &[i64]) -> SimpleExpr {
    if backend == DbBackend::Postgres {
        return Expr::cust_with_exprs(
            "$1 = ANY(CAST($2 AS bigint[]))",
            [
                Expr::col((column.entity_name(), column)),
                Expr::val(pg_bigint_array(values)),
            ],
        );
    }
    column.is_in(padded(values))
}

/// `values` repeated at the end up to the next power of two (empty stays
/// empty), for an `IN` list or an `OR` of conditions whose text then
/// depends only on that power.
pub fn padded<T: Clone>(values: &[T]) -> Vec<T> {
    let mut out = values.to_vec();
    if let Some(last) = values.last() {
        out.resize(values.len().next_power_of_two(), last.clone());
    }
    out
}

/// A PostgreSQL array literal of integers, `{1,2,3}`.
pub fn pg_bigint_array(values: &[i64]) -> String {
    let items: Vec<String> = values.iter().map(i64::to_string).collect();
    format!("{{{}}}", items.join(","))
}

/// A PostgreSQL array literal of texts, each quoted, with `"` and `\`
/// escaped (any other character is taken as is inside quotes).
pub fn pg_text_array<S: AsRef<str>>(values: &[S]) -> String {
    let items: Vec<String> = values
        .iter()
        .map(|v| {
            let escaped = v.as_ref().replace('\\', "\\\\").replace('"', "\\\"");
            format!("\"{escaped}\"")
        })
        .collect();
    format!("{{{}}}", items.join(","))
}

/// Inserts `rows` (each with the same columns set) and returns how many were
/// inserted. With `skip_conflicts_on`, a row whose value in that unique
/// column is taken is skipped, failing no statement (so a PostgreSQL
/// transaction stays usable).
pub async fn insert_rows<A>(
    conn: &impl ConnectionTrait,
    rows: &[A],
    skip_conflicts_on: Option<<A::Entity as EntityTrait>::Column>,
) -> Result<u64, DbErr>
where
    A: ActiveModelTrait + Clone,
{
    if rows.is_empty() {
        return Ok(0);
    }
    if conn.get_database_backend() == DbBackend::Postgres {
        return insert_from_json(conn, rows, skip_conflicts_on).await;
    }
    let mut inserted = 0;
    let mut rest = rows;
    for size in LADDER {
        while rest.len() >= size {
            let (chunk, tail) = rest.split_at(size);
            inserted += insert_values(conn, chunk, skip_conflicts_on).await?;
            rest = tail;
        }
    }
    Ok(inserted)
}

/// One multi-row `INSERT … VALUES` (SQLite, MySQL).
async fn insert_values<A>(
    conn: &impl ConnectionTrait,
    rows: &[A],
    skip_conflicts_on: Option<<A::Entity as EntityTrait>::Column>,
) -> Result<u64, DbErr>
where
    A: ActiveModelTrait + Clone,
{
    let mut insert = A::Entity::insert_many(rows.iter().cloned());
    if let Some(column) = skip_conflicts_on {
        let mut on_conflict = OnConflict::column(column);
        // MySQL has no DO NOTHING: this renders `ON DUPLICATE KEY UPDATE id = id`.
        on_conflict.do_nothing_on(<A::Entity as EntityTrait>::PrimaryKey::iter());
        insert.query().on_conflict(on_conflict);
    }
    let statement = insert.build(conn.get_database_backend());
    Ok(conn.execute_raw(statement).await?.rows_affected())
}

/// One `INSERT … SELECT … FROM json_populate_recordset(NULL::table, ?)`
/// (PostgreSQL): the rows travel as one JSON parameter.
async fn insert_from_json<A>(
    conn: &impl ConnectionTrait,
    rows: &[A],
    skip_conflicts_on: Option<<A::Entity as EntityTrait>::Column>,
) -> Result<u64, DbErr>
where
    A: ActiveModelTrait,
{
    let statement = json_insert(rows, skip_conflicts_on, 1);
    Ok(conn.execute_raw(statement).await?.rows_affected())
}

/// The statement [`insert_rows`] sends on PostgreSQL, for a caller that puts
/// it in a larger one: its only parameter is `$placeholder` (`$1` alone),
/// the rows as JSON, so its text depends on the columns set, never on the
/// number of rows. `rows` must not be empty.
pub fn json_insert<A>(
    rows: &[A],
    skip_conflicts_on: Option<<A::Entity as EntityTrait>::Column>,
    placeholder: usize,
) -> Statement
where
    A: ActiveModelTrait,
{
    let columns: Vec<<A::Entity as EntityTrait>::Column> =
        <A::Entity as EntityTrait>::Column::iter()
            .filter(|c| rows[0].get(*c).is_set())
            .collect();
    let json: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            let fields = columns.iter().map(|c| {
                let value = row.get(*c).into_value();
                let json = value
                    .as_ref()
                    .map_or(serde_json::Value::Null, sea_value_to_json_value);
                (c.as_str().to_string(), json)
            });
            serde_json::Value::Object(fields.collect())
        })
        .collect();
    let names: Vec<String> = columns
        .iter()
        .map(|c| format!("\"{}\"", c.as_str()))
        .collect();
    let names = names.join(", ");
    let table = A::Entity::default().table_name().to_string();
    let conflict = skip_conflicts_on
        .map(|c| format!(" ON CONFLICT (\"{}\") DO NOTHING", c.as_str()))
        .unwrap_or_default();
    let sql = format!(
        "INSERT INTO \"{table}\" ({names}) SELECT {names} FROM json_populate_recordset(NULL::\"{table}\", CAST(${placeholder} AS json)){conflict}"
    );
    let rows = serde_json::Value::Array(json).to_string();
    Statement::from_sql_and_values(DbBackend::Postgres, sql, [rows.into()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use crate::db::entities::job;
    use crate::db::testing::{drop_scratch, scratch, sqlite};
    use sea_orm::ActiveValue::{NotSet, Set};
    use sea_orm::{QueryFilter, QueryOrder};

    /// Texts a JSON parameter or an array literal could mangle.
    const PAYLOADS: [&str; 5] = [
        "plain",
        r#"a "quoted" {brace, comma}"#,
        r"back\slash \n not a newline",
        "unicode é ✓ 😀 and a\nnewline",
        "NULL",
    ];

    fn job_row(payload: &str, key: Option<String>, locked_until: Option<i64>) -> job::ActiveModel {
        job::ActiveModel {
            id: NotSet,
            kind: Set("test".into()),
            payload: Set(payload.into()),
            state: Set("queued".into()),
            attempts: Set(0),
            max_attempts: Set(3),
            run_at: Set(i64::MAX - 1),
            locked_by: Set(None),
            locked_until: Set(locked_until),
            last_error: Set(None),
            unique_key: Set(key),
            created_at: Set(-1),
            updated_at: Set(1),
        }
    }

    /// Rows inserted through one or several statements read back exactly as
    /// written, and a taken unique key skips its row without failing.
    async fn rows_come_back_as_written(db: &Db) {
        let rows: Vec<job::ActiveModel> = PAYLOADS
            .iter()
            .enumerate()
            .map(|(i, p)| job_row(p, Some(format!("k{i}")), (i % 2 == 0).then_some(i as i64)))
            .collect();
        insert_rows(&db.write, &rows, Some(job::Column::UniqueKey))
            .await
            .unwrap();
        let again = [
            job_row("taken", Some("k0".into()), None),
            job_row("new", None, None),
        ];
        insert_rows(&db.write, &again, Some(job::Column::UniqueKey))
            .await
            .unwrap();
        let stored = job::Entity::find()
            .filter(job::Column::Kind.eq("test"))
            .order_by_asc(job::Column::Id)
            .all(&db.read)
            .await
            .unwrap();
        let payloads: Vec<&str> = stored.iter().map(|j| j.payload.as_str()).collect();
        let mut expected = PAYLOADS.to_vec();
        expected.push("new");
        assert_eq!(
            payloads, expected,
            "in order, as written, the taken key skipped"
        );
        let locks: Vec<Option<i64>> = stored.iter().map(|j| j.locked_until).collect();
        assert_eq!(locks, [Some(0), None, Some(2), None, Some(4), None]);
        assert!(
            stored
                .iter()
                .all(|j| j.run_at == i64::MAX - 1 && j.created_at == -1)
        );
        assert_eq!(stored[5].unique_key, None);
    }

    #[tokio::test]
    async fn insert_rows_sqlite() {
        let (_dir, db) = sqlite().await;
        rows_come_back_as_written(&db).await;
    }

    #[tokio::test]
    async fn insert_rows_postgres() {
        on_scratch("TEST_POSTGRES_URL").await;
    }

    #[tokio::test]
    async fn insert_rows_mysql() {
        on_scratch("TEST_MYSQL_URL").await;
    }

    /// PostgreSQL reads the text array literal back as exactly the texts.
    #[tokio::test]
    async fn text_arrays_round_trip_postgres() {
        let variable = "TEST_POSTGRES_URL";
        let Some((name, _, db)) = scratch(variable).await else {
            return;
        };
        let sql = "SELECT unnest(CAST($1 AS text[]))";
        let values = [pg_text_array(&PAYLOADS).into()];
        let statement = Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
        let texts: Vec<String> = db
            .read
            .query_all_raw(statement)
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get_by_index(0).unwrap())
            .collect();
        assert_eq!(texts, PAYLOADS);
        drop_scratch(variable, &name, db).await;
    }

    async fn on_scratch(variable: &str) {
        let Some((name, _, db)) = scratch(variable).await else {
            return;
        };
        rows_come_back_as_written(&db).await;
        drop_scratch(variable, &name, db).await;
    }

    #[test]
    fn pads_to_the_next_power_of_two_with_the_last_value() {
        assert_eq!(padded::<i64>(&[]), Vec::<i64>::new());
        assert_eq!(padded(&[7]), vec![7]);
        assert_eq!(padded(&[1, 2, 3]), vec![1, 2, 3, 3]);
        assert_eq!(padded(&[1, 2, 3, 4, 5]).len(), 8);
    }

    #[test]
    fn array_literals_quote_and_escape() {
        assert_eq!(pg_bigint_array(&[1, -2, 3]), "{1,-2,3}");
        assert_eq!(pg_bigint_array(&[]), "{}");
        assert_eq!(
            pg_text_array(&["a", "b\"c", "d\\e", "{,}", "NULL"]),
            r#"{"a","b\"c","d\\e","{,}","NULL"}"#
        );
    }
}
