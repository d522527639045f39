//! Private chats: get-or-create, listing, access, muting.

use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::common::TestServer;

backend_tests! {
    async fn get_or_create_yields_one_chat_per_pair(backend: Backend) {
        let server = TestServer::start(backend).await;
        let ann = server.sign_up("Ann").await;
        let bob = server.sign_up("Bob").await;
        let (status, chat) = ann.client.private_chat(bob.id).await.unwrap();
        assert_eq!(status, 201);
        assert_eq!(chat.chat_type, "private");
        assert_eq!(chat.name.as_deref(), Some("Bob"), "a private chat is named after the other person");
        assert_eq!(chat.participants.len(), 2);
        assert!(chat.last_message.is_none());
        assert_eq!(chat.unread_count, 0);
        let (status, again) = bob.client.private_chat(ann.id).await.unwrap();
        assert_eq!(status, 200);
        assert_eq!(again.id, chat.id);
        assert_eq!(again.name.as_deref(), Some("Ann"));
    }

    async fn concurrent_calls_meet_on_one_chat(backend: Backend) {
        let server = TestServer::start(backend).await;
        let ann = server.sign_up("Ann").await;
        let bob = server.sign_up("Bob").await;
        let calls = (0..16).map(|i| {
            let (me, other) = if i % 2 == 0 { (&ann, bob.id) } else { (&bob, ann.id) };
            me.client.private_chat(other)
        });
        let results = futures::future::join_all(calls).await;
        let ids: std::collections::HashSet<i64> = results.iter().map(|r| r.as_ref().unwrap().1.id).collect();
        assert_eq!(ids.len(), 1, "{results:?}");
        let created = results.iter().filter(|r| r.as_ref().unwrap().0 == 201).count();
        assert_eq!(created, 1, "exactly one call created it");
        assert_eq!(ann.client.chats(1, 20).await.unwrap().pagination.total_items, 1);
    }

    async fn private_chat_errors(backend: Backend) {
        let server = TestServer::start(backend).await;
        let ann = server.sign_up("Ann").await;
        let bob = server.sign_up("Bob").await;
        let err = ann.client.private_chat(ann.id).await.unwrap_err();
        assert_eq!(err.status(), Some(422));
        assert!(err.body().unwrap()["errors"]["contact_id"].is_array());
        assert_eq!(ann.client.private_chat(9_999_999).await.unwrap_err().status(), Some(404));
        let (_, contact) = bob.client.add_contact(json!({"contact_user_id": ann.id})).await.unwrap();
        bob.client.toggle_block(contact.id).await.unwrap();
        assert_eq!(ann.client.private_chat(bob.id).await.unwrap_err().status(), Some(403));
        assert_eq!(bob.client.private_chat(ann.id).await.unwrap_err().status(), Some(403));
    }

    async fn outsiders_get_404_everywhere(backend: Backend) {
        let server = TestServer::start(backend).await;
        let ann = server.sign_up("Ann").await;
        let bob = server.sign_up("Bob").await;
        let eve = server.sign_up("Eve").await;
        let (_, chat) = ann.client.private_chat(bob.id).await.unwrap();
        let message = ann.client.send_text(chat.id, "private").await.unwrap();
        let id = chat.id;
        let m = message.id;
        for (method, path, body) in [
            (Method::GET, format!("/api/chats/{id}"), None),
            (Method::GET, format!("/api/chats/{id}/messages"), None),
            (Method::POST, format!("/api/chats/{id}/messages"), Some(json!({"message_type": "text", "content": "hi"}))),
            (Method::PUT, format!("/api/chats/{id}/read"), Some(json!({"message_id": m}))),
            (Method::PUT, format!("/api/chats/{id}/delivered"), Some(json!({"message_id": m}))),
            (Method::PUT, format!("/api/chats/{id}/mute"), Some(json!({"until": null}))),
            (Method::PUT, format!("/api/messages/{m}"), Some(json!({"content": "x"}))),
            (Method::DELETE, format!("/api/messages/{m}"), None),
            (Method::POST, format!("/api/messages/{m}/reactions"), Some(json!({"emoji": "👍"}))),
            (Method::DELETE, format!("/api/messages/{m}/reactions"), None),
            (Method::POST, format!("/api/messages/{m}/forward"), Some(json!({"chat_ids": [id]}))),
            (Method::GET, format!("/api/messages/{m}/receipts"), None),
            (Method::GET, "/api/chats/99999999".to_string(), None),
            (Method::GET, "/api/chats/nope".to_string(), None),
        ] {
            let raw = eve.client.raw(method.clone(), &path, body).await.unwrap();
            assert_eq!(raw.status, 404, "{method} {path}: {}", raw.body);
            assert_eq!(raw.body["success"], false);
        }
        assert_eq!(eve.client.chats(1, 20).await.unwrap().pagination.total_items, 0);
    }

    async fn listing_orders_by_activity_with_last_message_and_unread(backend: Backend) {
        let server = TestServer::start(backend).await;
        let me = server.sign_up("Me").await;
        let ann = server.sign_up("Ann").await;
        let bob = server.sign_up("Bob").await;
        let (_, with_ann) = me.client.private_chat(ann.id).await.unwrap();
        let (_, with_bob) = me.client.private_chat(bob.id).await.unwrap();
        ann.client.send_text(with_ann.id, "one").await.unwrap();
        ann.client.send_text(with_ann.id, "two").await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        bob.client.send_text(with_bob.id, "hey").await.unwrap();
        let list = me.client.chats(1, 20).await.unwrap();
        let order: Vec<i64> = list.chats.iter().map(|c| c.id).collect();
        assert_eq!(order, vec![with_bob.id, with_ann.id]);
        assert_eq!(list.chats[0].last_message.as_ref().unwrap().text(), Some("hey"));
        assert_eq!(list.chats[0].unread_count, 1);
        assert_eq!(list.chats[1].unread_count, 2);
        assert_eq!(list.chats[1].last_message.as_ref().unwrap().text(), Some("two"));
        // Replying moves the chat to the top; reading clears the count.
        let two = list.chats[1].last_message.clone().unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        me.client.send_text(with_ann.id, "back").await.unwrap();
        me.client.mark_read(with_ann.id, two.id).await.unwrap();
        let list = me.client.chats(1, 20).await.unwrap();
        assert_eq!(list.chats[0].id, with_ann.id);
        assert_eq!(list.chats[0].unread_count, 0, "my own messages are never unread");
        let page2 = me.client.chats(2, 1).await.unwrap();
        assert_eq!(page2.chats.len(), 1);
        assert_eq!(page2.chats[0].id, with_bob.id);
        assert_eq!(page2.pagination.total_pages, 2);
    }

    async fn mute_and_unmute(backend: Backend) {
        let server = TestServer::start(backend).await;
        let ann = server.sign_up("Ann").await;
        let bob = server.sign_up("Bob").await;
        let (_, chat) = ann.client.private_chat(bob.id).await.unwrap();
        let muted = ann.client.mute(chat.id, Some("2030-01-01T00:00:00Z")).await.unwrap();
        assert_eq!(muted.muted_until.as_deref(), Some("2030-01-01T00:00:00.000Z"));
        assert_eq!(bob.client.chat(chat.id).await.unwrap().muted_until, None, "muting is per member");
        let unmuted = ann.client.mute(chat.id, None).await.unwrap();
        assert_eq!(unmuted.muted_until, None);
        for body in [json!({"until": "tomorrow"}), json!({"until": 5}), json!({})] {
            let raw = ann.client.raw(Method::PUT, &format!("/api/chats/{}/mute", chat.id), Some(body.clone())).await.unwrap();
            assert_eq!(raw.status, 422, "{body}");
            assert!(raw.body["errors"]["until"].is_array(), "{}", raw.body);
        }
    }
}
