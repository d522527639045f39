//! The process itself: it serves until asked to stop, and stops cleanly,
//! leaving nothing running and (on SQLite) one database file with every commit.

use std::time::{Duration, Instant};

use natter_client::Client;
use natter_client::socket::PusherSocket;
use reqwest::Method;
use sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::backend_tests;
use crate::common::process::NatterProcess;
use crate::common::{Backend, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_until_sigterm_then_closes_sockets_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let node = NatterProcess::spawn(&[("STORAGE_DIR", dir.path().display().to_string())]).await;
    let client = Client::new(&node.url);
    // Well past any start-up or grace timer: a server must not stop on its own.
    tokio::time::sleep(Duration::from_secs(45)).await;
    assert_eq!(
        client
            .raw(Method::GET, "/health", None)
            .await
            .unwrap()
            .status,
        200
    );
    let mut socket = PusherSocket::connect(&node.url, "natter-key")
        .await
        .unwrap();
    let asked = Instant::now();
    let terminate = tokio::spawn(node.terminate());
    // Open sockets are told to reconnect (elsewhere) rather than left hanging.
    let _ = socket.drain(Duration::from_secs(5)).await;
    assert_eq!(socket.closed().map(|c| c.code), Some(4200));
    let status = terminate.await.unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "stopped in {:?}",
        asked.elapsed()
    );
}

backend_tests! {
    async fn a_stopped_server_leaves_no_task_and_its_writes_in_the_database_file(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let mut socket = PusherSocket::connect(&server.url(), "natter-key").await.unwrap();
        socket.subscribe(&bob.client, &format!("private-user.{}", bob.id)).await.unwrap();
        let texts: Vec<String> = (0..20).map(|i| format!("kept {i}")).collect();
        let sends = texts.iter().map(|text| ann.client.send_text(chat, text));
        for sent in futures::future::join_all(sends).await {
            sent.unwrap();
        }
        let mut server = server;
        let running = server.running.take().unwrap();
        let background = running.background();
        assert!(background.running() > 0, "a server runs tasks and a writer");
        running.stop().await.unwrap();
        assert_eq!(background.running(), 0, "every task, socket and thread ended");
        let _ = socket.drain(Duration::from_secs(1)).await;
        assert_eq!(socket.closed().map(|c| c.code), Some(4200), "the socket was told to reconnect");
        if backend != Backend::Sqlite {
            return;
        }
        let file = server.storage_dir().join("natter.db");
        let wal = server.storage_dir().join("natter.db-wal");
        assert!(std::fs::metadata(&wal).map(|m| m.len() == 0).unwrap_or(true), "the WAL is checkpointed");
        let alone = tempfile::tempdir().unwrap();
        std::fs::copy(&file, alone.path().join("copy.db")).unwrap();
        let url = format!("sqlite://{}?mode=ro", alone.path().join("copy.db").display());
        let db = sea_orm::Database::connect(&url).await.unwrap();
        let sql = format!("SELECT COUNT(*) FROM messages WHERE chat_id = {chat}");
        let row = db.query_one_raw(Statement::from_string(DbBackend::Sqlite, sql)).await.unwrap().unwrap();
        assert_eq!(row.try_get_by_index::<i64>(0).unwrap(), 20, "the file alone holds every message");
    }
}
