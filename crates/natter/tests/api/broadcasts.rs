//! Broadcast lists: the owner's alone (anyone else gets 404), at most 256
//! people, synced to the owner's other devices; a send becomes one normal
//! private message per recipient (in a chat that existed or is created), and
//! skips, silently, the people with a block between them and the owner.

use std::time::Duration;

use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{TestServer, TestUser, refused_on, user_socket, users};

const UPDATED: &str = "App\\Events\\BroadcastListUpdated";

async fn block(blocker: &TestUser, blocked: &TestUser) {
    let (_, contact) = blocker
        .client
        .add_contact(json!({"contact_user_id": blocked.id}))
        .await
        .unwrap();
    blocker.client.toggle_block(contact.id).await.unwrap();
}

fn text(body: &str) -> Value {
    json!({"message_type": "text", "content": body})
}

backend_tests! {
    async fn a_broadcast_is_a_normal_private_message_to_each_reachable_recipient(backend: Backend) {
        let server = TestServer::start(backend).await;
        let people = users(&server, &["Ann", "Bob", "Cat", "Dan", "Eve"]).await;
        let (ann, bob, cat, dan, eve) = (&people[0], &people[1], &people[2], &people[3], &people[4]);
        let (_, with_bob) = ann.client.private_chat(bob.id).await.unwrap();
        let list = ann.client.create_broadcast_list("Family news", &[bob.id, cat.id, dan.id, eve.id]).await.unwrap();
        block(dan, ann).await; // Dan blocked Ann
        block(ann, eve).await; // Ann blocked Eve

        let sent = ann.client.broadcast(list.id, text("We moved!")).await.unwrap();
        assert_eq!(sent.len(), 2, "Bob and Cat only: {sent:?}");
        assert_eq!(sent[0].chat_id, with_bob.id, "Bob's existing chat");
        let with_cat = cat.client.private_chat(ann.id).await.unwrap().1;
        assert_eq!(sent[1].chat_id, with_cat.id, "Cat's chat, created for it");
        assert_ne!(with_cat.id, with_bob.id);

        for (who, chat) in [(bob, with_bob.id), (cat, with_cat.id)] {
            let raw = who.client.raw(reqwest::Method::GET, &format!("/api/chats/{chat}/messages"), None).await.unwrap();
            assert_eq!(raw.status, 200);
            let messages = raw.body["messages"].as_array().unwrap();
            assert_eq!(messages.len(), 1);
            assert_eq!(messages[0]["content"], "We moved!");
            assert_eq!(messages[0]["sender_id"], ann.id);
            assert!(!raw.body.to_string().contains("Family news"), "no list name: {}", raw.body);
            assert!(!raw.body.to_string().contains("broadcast"), "no list anything: {}", raw.body);
        }
        for skipped in [dan, eve] {
            assert!(skipped.client.chats(1, 20).await.unwrap().chats.is_empty(), "nothing reached {}", skipped.name);
        }
        // The sender's copies are ordinary messages of those chats.
        let mine = ann.client.history(with_bob.id, 10, None).await.unwrap();
        assert_eq!(mine.messages.iter().map(|m| m.id).collect::<Vec<_>>(), vec![sent[0].id]);
    }

    async fn a_list_is_its_owners_alone(backend: Backend) {
        let server = TestServer::start(backend).await;
        let people = users(&server, &["Ann", "Bob", "Cat"]).await;
        let (ann, bob, cat) = (&people[0], &people[1], &people[2]);
        let list = ann.client.create_broadcast_list("  Friends ", &[bob.id]).await.unwrap();
        assert_eq!(list.name, "Friends");
        assert_eq!(list.user_ids, vec![bob.id]);
        assert_eq!(ann.client.broadcast_list(list.id).await.unwrap(), list);

        let changed = ann.client.update_broadcast_list(list.id, json!({"name": "Pals", "user_ids": [cat.id, bob.id]})).await.unwrap();
        assert_eq!((changed.name.as_str(), changed.user_ids.clone()), ("Pals", vec![cat.id, bob.id]));
        assert_eq!(ann.client.broadcast_lists().await.unwrap(), vec![changed.clone()]);

        assert_eq!(bob.client.broadcast_list(list.id).await.unwrap_err().status(), Some(404));
        assert_eq!(bob.client.update_broadcast_list(list.id, json!({"name": "Mine"})).await.unwrap_err().status(), Some(404));
        assert_eq!(bob.client.broadcast(list.id, text("hijack")).await.unwrap_err().status(), Some(404));
        assert_eq!(bob.client.delete_broadcast_list(list.id).await.unwrap_err().status(), Some(404));
        assert!(bob.client.broadcast_lists().await.unwrap().is_empty());
        assert_eq!(ann.client.broadcast_list(list.id).await.unwrap(), changed, "untouched by Bob");

        ann.client.delete_broadcast_list(list.id).await.unwrap();
        assert_eq!(ann.client.broadcast_list(list.id).await.unwrap_err().status(), Some(404));
        assert!(ann.client.broadcast_lists().await.unwrap().is_empty());
    }

    async fn lists_and_broadcasts_are_validated(backend: Backend) {
        let server = TestServer::start(backend).await;
        let people = users(&server, &["Ann", "Bob"]).await;
        let (ann, bob) = (&people[0], &people[1]);
        let too_many: Vec<i64> = (1..=257).collect();
        refused_on(ann.client.create_broadcast_list("Big", &too_many).await.unwrap_err(), "user_ids");
        refused_on(ann.client.create_broadcast_list("Empty", &[]).await.unwrap_err(), "user_ids");
        refused_on(ann.client.create_broadcast_list("Twice", &[bob.id, bob.id]).await.unwrap_err(), "user_ids");
        refused_on(ann.client.create_broadcast_list("Me", &[ann.id]).await.unwrap_err(), "user_ids");
        refused_on(ann.client.create_broadcast_list("Ghost", &[9_999_999]).await.unwrap_err(), "user_ids");
        refused_on(ann.client.create_broadcast_list("   ", &[bob.id]).await.unwrap_err(), "name");
        assert!(ann.client.broadcast_lists().await.unwrap().is_empty(), "nothing was created");

        let list = ann.client.create_broadcast_list("Ok", &[bob.id]).await.unwrap();
        refused_on(ann.client.update_broadcast_list(list.id, json!({"user_ids": too_many})).await.unwrap_err(), "user_ids");
        for (body, field) in [
            (json!({"message_type": "text"}), "content"),
            (json!({"message_type": "image", "content": "x"}), "message_type"),
            (json!({"message_type": "text", "content": "x", "mentions": [bob.id]}), "mentions"),
            (json!({"message_type": "text", "content": "x", "client_message_id": "c1"}), "client_message_id"),
            (json!({"message_type": "text", "content": "x", "reply_to_message_id": 1}), "reply_to_message_id"),
        ] {
            refused_on(ann.client.broadcast(list.id, body).await.unwrap_err(), field);
        }
        assert!(bob.client.chats(1, 20).await.unwrap().chats.is_empty(), "no refused broadcast reached Bob");
        let sent = ann.client.broadcast(list.id, json!({"message_type": "location", "latitude": 1.5, "longitude": 2.5})).await.unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].message_type, "location");

        // A hundred lists at most (the list of lists is answered whole).
        let bob_id = [bob.id];
        let names: Vec<String> = (2..=100).map(|i| format!("L{i}")).collect();
        let creates = names.iter().map(|name| ann.client.create_broadcast_list(name, &bob_id));
        for created in futures::future::join_all(creates).await {
            created.unwrap();
        }
        refused_on(ann.client.create_broadcast_list("One more", &[bob.id]).await.unwrap_err(), "name");
        assert_eq!(ann.client.broadcast_lists().await.unwrap().len(), 100);
        ann.client.delete_broadcast_list(list.id).await.unwrap();
        ann.client.create_broadcast_list("One more", &[bob.id]).await.unwrap();
    }

    async fn a_broadcast_counts_one_send_per_recipient_reached(backend: Backend) {
        let server = TestServer::start_with(backend, |s| s.sends_per_minute = 4).await;
        let people = users(&server, &["Ann", "Bob", "Cat", "Dan"]).await;
        let (ann, bob) = (&people[0], &people[1]);
        let everyone: Vec<i64> = people[1..].iter().map(|p| p.id).collect();
        let list = ann.client.create_broadcast_list("All", &everyone).await.unwrap();
        assert_eq!(ann.client.broadcast(list.id, text("one")).await.unwrap().len(), 3);
        // Three sends were counted: three more do not fit in the one left,
        // and the refused broadcast, sending nothing, uses none of it.
        assert_eq!(ann.client.broadcast(list.id, text("two")).await.unwrap_err().status(), Some(429));
        let (_, chat) = ann.client.private_chat(bob.id).await.unwrap();
        ann.client.send_text(chat.id, "three").await.expect("the last send of the minute");
        assert_eq!(ann.client.send_text(chat.id, "four").await.unwrap_err().status(), Some(429));
        let mut heard: Vec<String> = bob.client.history(chat.id, 10, None).await.unwrap().messages.into_iter()
            .map(|m| m.content.unwrap_or_default().to_string())
            .collect();
        heard.sort();
        assert_eq!(heard, vec![r#""one""#, r#""three""#], "the first broadcast and the last send");
    }

    async fn an_account_deleted_takes_its_lists_along(backend: Backend) {
        use sea_orm::ConnectionTrait;
        let server = TestServer::start(backend).await;
        let people = users(&server, &["Ann", "Bob"]).await;
        let (ann, bob) = (&people[0], &people[1]);
        ann.client.create_broadcast_list("One", &[bob.id]).await.unwrap();
        ann.client.create_broadcast_list("Two", &[bob.id]).await.unwrap();
        ann.client.delete_account().await.unwrap();
        let db = &server.state().db;
        for table in ["broadcast_lists", "broadcast_list_recipients"] {
            let sql = format!("SELECT COUNT(*) AS n FROM {table}");
            let row = db.write.query_one_raw(sea_orm::Statement::from_string(db.backend, sql)).await.unwrap().unwrap();
            assert_eq!(row.try_get::<i64>("", "n").unwrap(), 0, "{table} is empty");
        }
    }

    async fn the_owners_other_devices_hear_of_every_change(backend: Backend) {
        let server = TestServer::start(backend).await;
        let people = users(&server, &["Ann", "Bob"]).await;
        let (ann, bob) = (&people[0], &people[1]);
        let laptop = server.sign_in(&ann.phone, None).await;
        let start = laptop.client.sync_all(0).await.unwrap().last().map(|e| e.seq).unwrap_or(0);
        let mut socket = user_socket(&server.url(), &laptop).await;
        let bob_start = bob.client.sync_all(0).await.unwrap().last().map(|e| e.seq).unwrap_or(0);

        let list = ann.client.create_broadcast_list("News", &[bob.id]).await.unwrap();
        let frame = socket.expect(UPDATED, None, Duration::from_secs(10)).await.expect("the live event");
        assert_eq!(frame.data["broadcast_list"]["name"], "News");
        assert_eq!(frame.data["deleted"], false);
        ann.client.update_broadcast_list(list.id, json!({"name": "Updates"})).await.unwrap();
        ann.client.delete_broadcast_list(list.id).await.unwrap();
        socket.close().await;

        let events: Vec<Value> = laptop.client.sync_all(start).await.unwrap().into_iter()
            .filter(|e| e.event == UPDATED)
            .map(|e| e.data)
            .collect();
        assert_eq!(events.len(), 3, "{events:?}");
        assert_eq!(events[0]["broadcast_list"]["user_ids"], json!([bob.id]));
        assert_eq!(events[1]["broadcast_list"]["name"], "Updates");
        assert_eq!((&events[2]["id"], &events[2]["deleted"], &events[2]["broadcast_list"]), (&json!(list.id), &json!(true), &Value::Null));
        let bobs = bob.client.sync_all(bob_start).await.unwrap();
        assert!(bobs.iter().all(|e| e.event != UPDATED), "a recipient never hears of the list");
    }
}
