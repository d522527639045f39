//! For unit tests that need a real database: a migrated SQLite file in a
//! temporary folder, and rows the tests build on.

use sea_orm::{ConnectionTrait, Statement};
use tempfile::TempDir;

use super::Db;
use crate::secrets::random_token;

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

/// A migrated scratch database on the server at `TEST_POSTGRES_URL` or
/// `TEST_MYSQL_URL`, named like the API tests' scratch databases, and its
/// URL; [`drop_scratch`] removes it. None when the variable is unset, which
/// fails the test under CI (`CI` set), where nothing may be skipped, as the
/// API tests' `skip` does.
pub async fn scratch(variable: &str) -> Option<(String, String, Db)> {
    let Ok(base) = std::env::var(variable) else {
        let in_ci = std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"));
        assert!(!in_ci, "{variable} is unset, and CI must run every backend");
        eprintln!("SKIPPED: {variable} is unset");
        return None;
    };
    let name = format!(
        "natter_t_{}_{}",
        std::process::id(),
        random_token(10).to_lowercase()
    );
    let admin = Db::connect(&base, 1).await.expect("admin connection");
    admin
        .write
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create scratch database");
    admin.disconnect().await;
    let (path, query) = base.split_once('?').unwrap_or((base.as_str(), ""));
    let server = path.rsplit_once('/').map_or(path, |(server, _)| server);
    let url = match query {
        "" => format!("{server}/{name}"),
        query => format!("{server}/{name}?{query}"),
    };
    let db = Db::connect(&url, 2).await.expect("connect");
    db.migrate().await.expect("migrate");
    Some((name, url, db))
}

/// Drops a database [`scratch`] made.
pub async fn drop_scratch(variable: &str, name: &str, db: Db) {
    db.disconnect().await;
    let base = std::env::var(variable).expect("set when the scratch was made");
    let admin = Db::connect(&base, 1).await.expect("admin connection");
    let _ = admin
        .write
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
        .await;
    admin.disconnect().await;
}
