//! For unit tests that need a real database: a migrated SQLite file in a
//! temporary folder, and rows the tests build on.

use sea_orm::{ConnectionTrait, Statement};
use tempfile::TempDir;

use super::Db;

/// A migrated SQLite database; it lives as long as the folder.
pub async fn sqlite() -> (TempDir, Db) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let db = Db::connect(&url, 2).await.expect("connect");
    db.migrate().await.expect("migrate");
    (dir, db)
}

/// A new user; returns their id.
pub async fn user(db: &Db, name: &str) -> i64 {
    let sql = format!(
        "INSERT INTO users (country_code, name, created_at, updated_at) VALUES ('1', '{name}', 0, 0) RETURNING id"
    );
    db.write
        .query_one_raw(Statement::from_string(db.backend, sql))
        .await
        .expect("insert user")
        .expect("a row")
        .try_get_by_index(0)
        .expect("id")
}

/// Runs a statement of a test's own (a change behind the code's back).
pub async fn execute(db: &Db, sql: &str) {
    db.write.execute_unprepared(sql).await.expect("statement");
}
