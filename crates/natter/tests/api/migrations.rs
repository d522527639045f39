//! Every migration runs up, all the way down, and up again, on every backend:
//! a `down` that does not undo its `up` fails here, not in an operator's rollback.

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::MigratorTrait;

use natter::db::Db;
use natter::db::migrations::Migrator;

use crate::backend_tests;

/// The tables of the connected database, natter's migration table aside.
async fn tables(db: &Db) -> Vec<String> {
    let sql = match db.backend {
        DbBackend::Sqlite => {
            "SELECT name AS t FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        }
        DbBackend::Postgres => {
            "SELECT tablename AS t FROM pg_tables WHERE schemaname = current_schema()"
        }
        _ => {
            "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = DATABASE()"
        }
    };
    let rows = db
        .write
        .query_all_raw(Statement::from_string(db.backend, sql))
        .await
        .unwrap();
    let mut names: Vec<String> = rows
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .filter(|name| name != "seaql_migrations")
        .collect();
    names.sort();
    names
}

backend_tests! {
    async fn migrations_go_up_down_and_up_again(backend: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let scratch = backend.scratch().await;
        let url = match &scratch {
            Some(database) => database.url.clone(),
            None => format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display()),
        };
        let db = Db::connect(&url, 2).await.unwrap();
        let total = Migrator::migrations().len();
        db.migrate().await.unwrap();
        assert_eq!(Migrator::get_pending_migrations(&db.write).await.unwrap().len(), 0);
        let created = tables(&db).await;
        assert!(created.len() > 10, "{created:?}");
        Migrator::down(&db.write, None).await.unwrap();
        assert_eq!(Migrator::get_pending_migrations(&db.write).await.unwrap().len(), total);
        assert_eq!(tables(&db).await, Vec::<String>::new(), "tables survived the way down");
        db.migrate().await.unwrap();
        assert_eq!(Migrator::get_pending_migrations(&db.write).await.unwrap().len(), 0);
        assert_eq!(tables(&db).await, created, "the way up again made other tables");
        // The log's counter row is seeded again, so the database is usable.
        let row = db.write
            .query_one_raw(Statement::from_string(
                db.backend,
                "SELECT last_seq FROM stream_counters WHERE id = 1",
            ))
            .await
            .unwrap();
        assert!(row.is_some(), "the counter row is back");
        db.close().await;
    }
}
