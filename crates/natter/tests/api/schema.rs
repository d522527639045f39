//! The schema on every backend: every migration runs up, all the way down, and
//! up again (a `down` that does not undo its `up` fails here, not in an
//! operator's rollback); unique indexes are recognised by name in the errors
//! each database words its own way.

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::MigratorTrait;

use natter::db::Db;
use natter::db::migrations::Migrator;
use natter::db::unique::{CONTACTS_PAIR, REACTIONS_USER};
use natter::error::ApiError;

use crate::backend_tests;
use crate::common::TestServer;

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
                "SELECT last_seq FROM sync_log_counters WHERE id = 1",
            ))
            .await
            .unwrap();
        assert!(row.is_some(), "the counter row is back");
        db.close().await;
    }

    async fn a_violated_unique_index_is_known_by_name(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, _) = server.pair().await;
        let db = &server.state().db;
        let insert = format!(
            "INSERT INTO contacts (user_id, contact_user_id, is_blocked, created_at, updated_at) VALUES ({}, {}, false, 0, 0)",
            ann.id, bob.id
        );
        db.write.execute_unprepared(&insert).await.unwrap();
        let err = db.write.execute_unprepared(&insert).await.unwrap_err();
        assert!(CONTACTS_PAIR.violated_by(&err), "{err}");
        assert!(!REACTIONS_USER.violated_by(&err), "{err}");
        let answer = ApiError::unique_as_field(err, &CONTACTS_PAIR, "contact_user_id", "Already a contact.");
        assert!(matches!(answer, ApiError::Validation { .. }), "{answer:?}");
        let other = db.write.execute_unprepared("SELECT * FROM no_such_table").await.unwrap_err();
        assert!(!CONTACTS_PAIR.violated_by(&other));
        assert!(matches!(ApiError::unique_as_field(other, &CONTACTS_PAIR, "x", "y"), ApiError::Db(_)));
    }
}
