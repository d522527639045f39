//! Backups that work (issue 16): a clean stop leaves `natter.db` complete on
//! its own, and `natter backup` copies a SQLite database while it is written.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use natter_client::Client;
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use serde_json::json;
use tokio::sync::Mutex;

use crate::common::process::{NatterProcess, run_cli};
use crate::common::{Backend, TestServer, sign_up_at};

/// Messages of `chat` in the SQLite file at `path`, read from that file alone
/// (a copy in a folder of its own, so no WAL can help).
async fn messages_in_file_alone(path: &std::path::Path, chat: i64) -> i64 {
    let alone = tempfile::tempdir().unwrap();
    let copy = alone.path().join("copy.db");
    std::fs::copy(path, &copy).unwrap();
    let db = Database::connect(format!("sqlite://{}?mode=ro", copy.display()))
        .await
        .unwrap();
    let sql = format!("SELECT COUNT(*) FROM messages WHERE chat_id = {chat}");
    let row = db
        .query_one_raw(Statement::from_string(DbBackend::Sqlite, sql))
        .await
        .unwrap()
        .unwrap();
    let count = row.try_get_by_index::<i64>(0).unwrap();
    let _ = db.close().await;
    count
}

/// The binary, stopped by SIGTERM as systemd or docker stop would: the WAL is
/// checkpointed away and `natter.db` alone holds every message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_sigterm_leaves_natter_db_complete_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.jsonl");
    let node = NatterProcess::spawn(&[
        ("STORAGE_DIR", dir.path().display().to_string()),
        ("SMS_DRIVER", "outbox".into()),
        ("SMS_OUTBOX_PATH", outbox.display().to_string()),
        (
            "APP_KEY",
            "backup-test-app-key-that-is-at-least-32-chars".into(),
        ),
    ])
    .await;
    let ann = sign_up_at(&Client::new(&node.url), &outbox, "Ann").await;
    let bob = sign_up_at(&Client::new(&node.url), &outbox, "Bob").await;
    let (_, chat) = ann.client.private_chat(bob.id).await.unwrap();
    for i in 0..30 {
        ann.client
            .send_text(chat.id, &format!("kept {i}"))
            .await
            .unwrap();
    }
    let status = node.terminate().await;
    assert!(status.success(), "a clean stop exits 0: {status:?}");
    let wal = dir.path().join("natter.db-wal");
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal_len, 0, "the WAL is gone or empty after a clean stop");
    let count = messages_in_file_alone(&dir.path().join("natter.db"), chat.id).await;
    assert_eq!(count, 30, "natter.db alone holds every message");
}

/// Sends from eight tasks; a backup taken mid-run holds every message
/// acknowledged (201) before it began, and a server starts on the copy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_holds_every_message_acknowledged_before_it() {
    let server = TestServer::start(Backend::Sqlite).await;
    let (ann, bob, chat) = server.pair().await;
    let acknowledged = Arc::new(Mutex::new(Vec::<i64>::new()));
    let stop = tokio_util::sync::CancellationToken::new();
    let mut senders = Vec::new();
    for s in 0..8 {
        let client = if s % 2 == 0 {
            ann.client.clone()
        } else {
            bob.client.clone()
        };
        let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
        senders.push(tokio::spawn(async move {
            for i in 0.. {
                if stop.is_cancelled() {
                    return;
                }
                let body = json!({"message_type": "text", "content": format!("load {s} {i}"), "client_message_id": format!("b{s}-{i}")});
                if let Ok((201, message)) = client.send_message(chat, body).await {
                    acknowledged.lock().await.push(message.id);
                }
            }
        }));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().await.len() < 150 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before: BTreeSet<i64> = acknowledged.lock().await.iter().copied().collect();
    assert!(
        before.len() >= 150,
        "the load ran ({} acknowledged)",
        before.len()
    );
    let backups = tempfile::tempdir().unwrap();
    let file = backups.path().join("natter.db");
    let database_url = format!(
        "sqlite://{}?mode=rwc",
        server.storage_dir().join("natter.db").display()
    );
    let env = [("DATABASE_URL", database_url)];
    let out = run_cli(&["backup", &file.display().to_string()], &env).await;
    let during = acknowledged.lock().await.len();
    stop.cancel();
    for sender in senders {
        sender.await.unwrap();
    }
    assert!(out.success, "backup failed: {}", out.stderr);
    assert!(out.stdout.contains("backup written to"), "{}", out.stdout);
    assert!(during > before.len(), "sends went on while the backup ran");

    // Refuses to overwrite, saying why, in one line.
    let again = run_cli(&["backup", &file.display().to_string()], &env).await;
    assert!(!again.success);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    assert_eq!(again.stderr.trim().lines().count(), 1, "{}", again.stderr);

    // A server on the copy alone (the test settings share APP_KEY, so Ann's
    // token still reads) has every message acknowledged before the backup.
    server.stop().await;
    let restored = TestServer::start_with(Backend::Sqlite, |settings| {
        settings.database.database_url = Some(format!("sqlite://{}?mode=rwc", file.display()));
    })
    .await;
    let ann = Client::new(&restored.url()).with_token(&ann.tokens.access_token);
    let mut stored = BTreeSet::new();
    let mut cursor = None;
    loop {
        let page = ann.history(chat, 100, cursor).await.unwrap();
        stored.extend(page.messages.iter().map(|m| m.id));
        if !page.pagination.has_more {
            break;
        }
        cursor = page.pagination.next_before_message_id;
    }
    let missing: Vec<&i64> = before.iter().filter(|id| !stored.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged before the backup but not in it: {missing:?}"
    );
    restored.stop().await;
}

async fn backup_of_a_server_database(backend: Backend, tool: &str) {
    let database = backend.scratch().await.expect("scratch database");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("copy.db");
    let env = [("DATABASE_URL", database.url.clone())];
    let out = run_cli(&["backup", &file.display().to_string()], &env).await;
    assert!(!out.success, "a backup of {backend:?} is refused");
    assert_eq!(
        out.stderr.trim().lines().count(),
        1,
        "one line: {}",
        out.stderr
    );
    assert!(out.stderr.contains(tool), "names {tool}: {}", out.stderr);
    assert!(!file.exists(), "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_on_postgres_points_at_pg_dump() {
    if Backend::Postgres.available() {
        backup_of_a_server_database(Backend::Postgres, "pg_dump").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_on_mysql_points_at_mariadb_dump() {
    if Backend::Mysql.available() {
        backup_of_a_server_database(Backend::Mysql, "mariadb-dump").await;
    }
}
