//! Migrations with many nodes (issue 16): nodes started at once on a new
//! database take turns through the migration lock; `natter migrate status`
//! and `natter migrate down N`.

use sea_orm_migration::MigratorTrait;

use natter::config::Config;
use natter::db::migrations::Migrator;

use crate::backend_tests;
use crate::common::process::run_cli;
use crate::common::{Backend, test_settings};

/// Three servers started at the same instant on one new database all come
/// up, and the schema is whole (without the lock one of them failed with a
/// duplicate `pg_type` key or MySQL's 1050 "table already exists").
async fn three_nodes_at_once(backend: Backend) {
    let database = backend.scratch().await.expect("scratch database");
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let configs: Vec<Config> = dirs
        .iter()
        .map(|dir| {
            let mut settings = test_settings(dir.path());
            settings.database.database_url = Some(database.url.clone());
            Config::resolve(settings).unwrap()
        })
        .collect();
    let [a, b, c]: [Config; 3] = configs.try_into().ok().unwrap();
    let (a, b, c) = tokio::join!(natter::start(a), natter::start(b), natter::start(c));
    let nodes: Vec<natter::Running> = [a, b, c]
        .into_iter()
        .map(|started| started.expect("every node comes up"))
        .collect();
    let db = &nodes[0].state.db;
    let status = db.migration_status().await.unwrap();
    assert_eq!(status.len(), Migrator::migrations().len());
    assert!(status.iter().all(|m| m.applied), "{status:?}");
    for node in nodes {
        node.stop().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_started_at_once_on_a_new_postgres_database_all_come_up() {
    if Backend::Postgres.available() {
        three_nodes_at_once(Backend::Postgres).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_started_at_once_on_a_new_mysql_database_all_come_up() {
    if Backend::Mysql.available() {
        three_nodes_at_once(Backend::Mysql).await;
    }
}

/// `status` lines, as (state, name).
fn parse_status(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(state, name)| (state.to_string(), name.trim().to_string()))
        .collect()
}

backend_tests! {
    async fn migrate_status_down_and_up_from_the_command_line(backend: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let database = backend.scratch().await;
        let url = match &database {
            Some(database) => database.url.clone(),
            None => format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display()),
        };
        let env = [("DATABASE_URL", url)];
        let names: Vec<String> = Migrator::migrations().iter().map(|m| m.name().to_string()).collect();
        let total = names.len();

        let fresh = run_cli(&["migrate", "status"], &env).await;
        assert!(fresh.success, "{}", fresh.stderr);
        let lines = parse_status(&fresh.stdout);
        assert_eq!(lines.iter().map(|(_, n)| n.clone()).collect::<Vec<_>>(), names);
        assert!(lines.iter().all(|(s, _)| s == "pending"), "{}", fresh.stdout);

        let up = run_cli(&["migrate"], &env).await;
        assert!(up.success, "{}", up.stderr);
        let applied = parse_status(&run_cli(&["migrate", "status"], &env).await.stdout);
        assert!(applied.iter().all(|(s, _)| s == "applied"), "{applied:?}");

        let down = run_cli(&["migrate", "down", "2"], &env).await;
        assert!(down.success, "{}", down.stderr);
        let after = parse_status(&run_cli(&["migrate", "status"], &env).await.stdout);
        let states: Vec<&str> = after.iter().map(|(s, _)| s.as_str()).collect();
        let mut expected = vec!["applied"; total - 2];
        expected.extend(["pending", "pending"]);
        assert_eq!(states, expected, "the last two were rolled back");

        let zero = run_cli(&["migrate", "down", "0"], &env).await;
        assert!(!zero.success, "down 0 is refused");

        let again = run_cli(&["migrate"], &env).await;
        assert!(again.success, "{}", again.stderr);
        let whole = parse_status(&run_cli(&["migrate", "status"], &env).await.stdout);
        assert!(whole.iter().all(|(s, _)| s == "applied"), "{whole:?}");
    }
}
