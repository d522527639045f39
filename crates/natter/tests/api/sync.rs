//! The sync log: catching up after being away, ordering, retention, and the
//! stream-ordering trap under concurrent writers.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::common::TestServer;

const SENT: &str = "App\\Events\\MessageSent";

backend_tests! {
    async fn an_offline_user_catches_up_once_in_order(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let start = bob.client.sync_all(0).await.unwrap().last().map(|e| e.seq).unwrap_or(0);
        let sends = (0..500).map(|i| {
            let client = ann.client.clone();
            async move { client.send_text(chat, &format!("while you were away {i}")).await.unwrap().id }
        });
        let mut sent: Vec<i64> = futures::stream::iter(sends).buffer_unordered(16).collect().await;
        sent.sort_unstable();
        let events = bob.client.sync_all(start).await.unwrap();
        let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order, no duplicate");
        let got: Vec<i64> = events
            .iter()
            .filter(|e| e.event == SENT)
            .map(|e| e.data["message"]["id"].as_i64().unwrap())
            .collect();
        assert_eq!(got, sent, "every message once, in order");
        for event in &events {
            assert_eq!(event.data["seq"].as_i64(), Some(event.seq), "data carries its seq");
        }
        // Fetching through sync delivered them: the sender sees it.
        let history = ann.client.history(chat, 100, None).await.unwrap();
        assert!(history.messages.iter().all(|m| m.status == "delivered"), "{:?}", history.messages[0]);
        let after = bob.client.sync(*seqs.last().unwrap(), 500).await.unwrap();
        assert!(after.events.iter().all(|e| e.event != SENT), "nothing twice");
    }

    async fn since_is_exclusive_and_empty_pages_stay_put(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let message = ann.client.send_text(chat, "hi").await.unwrap();
        let all = bob.client.sync_all(0).await.unwrap();
        let sent = all.iter().find(|e| e.event == SENT).unwrap();
        assert_eq!(sent.data["message"]["id"].as_i64(), Some(message.id));
        let page = bob.client.sync(sent.seq, 500).await.unwrap();
        assert!(page.events.iter().all(|e| e.seq > sent.seq));
        let end = page.events.last().map(|e| e.seq).unwrap_or(sent.seq);
        let empty = bob.client.sync(end, 500).await.unwrap();
        assert!(empty.events.is_empty());
        assert_eq!(empty.next_since, end);
        assert!(!empty.has_more);
        let small = bob.client.sync(0, 1).await.unwrap();
        assert_eq!(small.events.len(), 1);
        assert!(small.has_more);
        for query in ["since=-1", "limit=0", "limit=1001", "since=abc"] {
            let raw = bob.client.raw(Method::GET, &format!("/api/sync?{query}"), None).await.unwrap();
            assert_eq!(raw.status, 422, "{query}");
        }
    }

    async fn every_kind_of_change_is_in_the_log(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let message = ann.client.send_text(chat, "v1").await.unwrap();
        ann.client.edit_message(message.id, "v2").await.unwrap();
        bob.client.react(message.id, "👍").await.unwrap();
        bob.client.mark_delivered(chat, message.id).await.unwrap();
        bob.client.mark_read(chat, message.id).await.unwrap();
        let before = ann.client.sync_all(0).await.unwrap();
        let edited = before.iter().find(|e| e.event == "App\\Events\\MessageEdited").unwrap();
        assert_eq!(edited.data["message"]["content"], "v2");
        ann.client.delete_message(message.id).await.unwrap();
        let names: Vec<String> = ann.client.sync_all(0).await.unwrap().into_iter().map(|e| e.event).collect();
        let expected = [
            "App\\Events\\ChatUpdated",
            "App\\Events\\MessageSent",
            "App\\Events\\MessageEdited",
            "App\\Events\\ReactionUpdated",
            "App\\Events\\MessageDelivered",
            "App\\Events\\MessageRead",
            "App\\Events\\MessageDeleted",
        ];
        assert_eq!(names, expected);
        let events = bob.client.sync_all(0).await.unwrap();
        // Deleted for everyone: the log's copies of the text are rewritten, in place.
        for name in [SENT, "App\\Events\\MessageEdited"] {
            let copy = events.iter().find(|e| e.event == name).unwrap();
            assert_eq!(copy.data["message"]["content"], serde_json::Value::Null, "{name}");
            assert_eq!(copy.data["message"]["deleted"], true, "{name}");
            assert!(before.iter().any(|e| e.seq == copy.seq && e.event == name), "same position");
        }
        let reaction = events.iter().find(|e| e.event == "App\\Events\\ReactionUpdated").unwrap();
        assert_eq!(reaction.data["reactions"], json!([{"emoji": "👍", "count": 1, "user_ids": [bob.id]}]));
        let read = events.iter().find(|e| e.event == "App\\Events\\MessageRead").unwrap();
        assert_eq!((read.data["user_id"].as_i64(), read.data["message_id"].as_i64()), (Some(bob.id), Some(message.id)));
        assert!(read.data["read_at"].is_string());
        let deleted = events.iter().find(|e| e.event == "App\\Events\\MessageDeleted").unwrap();
        assert_eq!(deleted.data["message"]["deleted"], true);
        assert_eq!(deleted.data["message"]["content"], serde_json::Value::Null);
    }

    async fn a_since_older_than_retention_is_410(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        for i in 0..5 {
            ann.client.send_text(chat, &format!("{i}")).await.unwrap();
        }
        let before = bob.client.sync_all(0).await.unwrap();
        let latest = before.last().unwrap().seq;
        // Everything written so far is past retention.
        let removed = natter::synclog::prune(&server.state().db, natter::clock::now_ms() + 1).await.unwrap();
        assert!(removed >= 5);
        let raw = bob.client.raw(Method::GET, "/api/sync?since=0", None).await.unwrap();
        assert_eq!(raw.status, 410);
        assert_eq!(raw.body["success"], false);
        assert_eq!(raw.body["message"], "resync required");
        let latest_seq = raw.body["latest_seq"].as_i64().unwrap();
        assert!(latest_seq >= latest);
        // From the newest position the log works again.
        let fresh = bob.client.sync(latest_seq, 500).await.unwrap();
        assert!(fresh.events.is_empty());
        ann.client.send_text(chat, "new").await.unwrap();
        assert_eq!(bob.client.sync(latest_seq, 500).await.unwrap().events.len(), 1);
    }

    async fn a_reader_never_skips_an_event_committed_late(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let carol = server.sign_up("Carol").await;
        let (_, second_chat) = carol.client.private_chat(bob.id).await.unwrap();
        let done = Arc::new(AtomicBool::new(false));
        // Writers: sends through the group-commit writer, and reactions, edits and
        // receipts through their own transactions, all at once.
        let mut writers = Vec::new();
        for w in 0..6 {
            let (client, chat_id) = match w % 3 {
                0 => (ann.client.clone(), chat),
                1 => (carol.client.clone(), second_chat.id),
                _ => (ann.client.clone(), chat),
            };
            let reactor = bob.client.clone();
            writers.push(tokio::spawn(async move {
                for i in 0..60 {
                    let message = client.send_text(chat_id, &format!("w{w}-{i}")).await.unwrap();
                    if i % 4 == 0 {
                        reactor.react(message.id, "👍").await.unwrap();
                    }
                    if i % 5 == 0 {
                        client.edit_message(message.id, "edited").await.unwrap();
                    }
                }
            }));
        }
        // The reader follows the log as a reconnecting client would.
        let reader = {
            let client = bob.client.clone();
            let done = done.clone();
            tokio::spawn(async move {
                let mut since = 0;
                let mut seen = Vec::new();
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    let page = client.sync(since, 50).await.unwrap();
                    since = page.next_since;
                    seen.extend(page.events.iter().map(|e| e.seq));
                    if finished && !page.has_more {
                        return seen;
                    }
                }
            })
        };
        for writer in writers {
            writer.await.unwrap();
        }
        done.store(true, Ordering::SeqCst);
        let seen = reader.await.unwrap();
        let everything: Vec<i64> = bob.client.sync_all(0).await.unwrap().iter().map(|e| e.seq).collect();
        let unique: BTreeSet<i64> = seen.iter().copied().collect();
        assert_eq!(unique.len(), seen.len(), "no event twice");
        // Delivery receipts that the reader's own syncs caused come after, so
        // compare what existed: every event up to the last one the reader saw.
        let last = *seen.last().unwrap();
        let expected: Vec<i64> = everything.into_iter().filter(|s| *s <= last).collect();
        assert_eq!(seen, expected, "the incremental reader saw exactly what a full read sees");
    }
}
