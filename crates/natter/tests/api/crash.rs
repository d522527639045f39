//! Nothing acknowledged is lost: kill -9 under load, restart, compare.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use natter_client::Client;
use serde_json::json;
use tokio::sync::Mutex;

use crate::common::process::NatterProcess;
use crate::common::{Backend, sign_up_at};

/// Acknowledged sends before the kill; sends still in flight then are the
/// ones the crash may cut, acknowledged or not.
const KILL_AFTER_ACKNOWLEDGED: usize = 200;

async fn crash_under_load(backend: Backend) {
    let database = backend.scratch().await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.jsonl");
    let mut settings = vec![
        ("STORAGE_DIR", dir.path().display().to_string()),
        ("SMS_DRIVER", "outbox".into()),
        ("SMS_OUTBOX_PATH", outbox.display().to_string()),
        (
            "APP_KEY",
            "crash-test-app-key-that-is-at-least-32-chars".into(),
        ),
        ("OTP_RATE_PER_IP_PER_HOUR", "10000".into()),
    ];
    if let Some(db) = &database {
        settings.push(("DATABASE_URL", db.url.clone()));
    }
    let mut node = NatterProcess::spawn(&settings).await;
    let ann = sign_up_at(&Client::new(&node.url), &outbox, "Ann").await;
    let bob = sign_up_at(&Client::new(&node.url), &outbox, "Bob").await;
    let (_, chat) = ann.client.private_chat(bob.id).await.unwrap();

    // Senders record every message the server acknowledged with 201.
    let acknowledged = Arc::new(Mutex::new(Vec::<(String, i64)>::new()));
    let mut senders = Vec::new();
    for s in 0..8 {
        let client = if s % 2 == 0 {
            ann.client.clone()
        } else {
            bob.client.clone()
        };
        let acknowledged = acknowledged.clone();
        senders.push(tokio::spawn(async move {
            for i in 0.. {
                let client_id = format!("s{s}-{i}");
                let body = json!({"message_type": "text", "content": format!("load {s} {i}"), "client_message_id": client_id});
                match client.send_message(chat.id, body).await {
                    Ok((201, message)) => acknowledged.lock().await.push((client_id, message.id)),
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        }));
    }
    // Kill once the load is well under way: after a number of acknowledgements,
    // not after a fixed time, so a busy machine cannot make the run too short.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().await.len() < KILL_AFTER_ACKNOWLEDGED
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    node.kill().await;
    for sender in senders {
        let _ = sender.await;
    }
    let acknowledged = acknowledged.lock().await.clone();
    assert!(
        acknowledged.len() >= KILL_AFTER_ACKNOWLEDGED,
        "the load ran ({} acknowledged)",
        acknowledged.len()
    );

    let node = node.restart().await;
    let ann = Client::new(&node.url).with_token(&ann.tokens.access_token);
    let mut stored = BTreeSet::new();
    let mut before = None;
    loop {
        let page = ann.history(chat.id, 100, before).await.unwrap();
        stored.extend(page.messages.iter().map(|m| m.id));
        if !page.pagination.has_more {
            break;
        }
        before = page.pagination.next_before_message_id;
    }
    let missing: Vec<&(String, i64)> = acknowledged
        .iter()
        .filter(|(_, id)| !stored.contains(id))
        .collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    // The sync log has them too, once each.
    let logged: Vec<i64> = ann
        .sync_all(0)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event == "App\\Events\\MessageSent")
        .map(|e| e.data["message"]["id"].as_i64().unwrap())
        .collect();
    let unique: BTreeSet<i64> = logged.iter().copied().collect();
    assert_eq!(unique.len(), logged.len());
    assert!(acknowledged.iter().all(|(_, id)| unique.contains(id)));
    // Retrying an acknowledged send after the crash stores nothing new.
    let (client_id, id) = acknowledged
        .iter()
        .find(|(c, _)| c.starts_with("s0-"))
        .expect("Ann's sends");
    let body = json!({"message_type": "text", "content": "retry", "client_message_id": client_id});
    let (status, message) = ann.send_message(chat.id, body).await.unwrap();
    assert_eq!((status, message.id), (200, *id));
    node.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_loses_nothing_acknowledged_when_killed() {
    crash_under_load(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_loses_nothing_acknowledged_when_killed() {
    if Backend::Postgres.available() {
        crash_under_load(Backend::Postgres).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_loses_nothing_acknowledged_when_killed() {
    if Backend::Mysql.available() {
        crash_under_load(Backend::Mysql).await;
    }
}
