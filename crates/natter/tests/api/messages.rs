//! Messages: every type, replies, idempotent sends, history, edits, deletes,
//! reactions, forwarding, receipts and blocking.

use futures::StreamExt;
use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::common::TestServer;
use crate::common::redis_server::RedisServer;

/// A forward counts one send per chat against SENDS_PER_MINUTE (3 here),
/// all or none: refused, it sends nothing and uses no quota.
async fn a_forward_counts_one_send_per_chat(server: &TestServer) {
    let (ann, bob, chat) = server.pair().await;
    let (carol, dave) = (server.sign_up("Carol").await, server.sign_up("Dave").await);
    let (_, with_carol) = bob.client.private_chat(carol.id).await.unwrap();
    let (_, with_dave) = bob.client.private_chat(dave.id).await.unwrap();
    let original = ann.client.send_text(chat, "pass it on").await.unwrap();
    let targets = [with_carol.id, with_dave.id];
    assert_eq!(
        bob.client
            .forward(original.id, &targets)
            .await
            .unwrap()
            .len(),
        2
    );
    let refused = bob.client.forward(original.id, &targets).await.unwrap_err();
    assert_eq!(
        refused.status(),
        Some(429),
        "two more sends do not fit in the one left"
    );
    let retry_after = refused.retry_after();
    assert!(
        retry_after.is_some_and(|s| (1..=60).contains(&s)),
        "Retry-After {retry_after:?}: when the minute has room"
    );
    for (reader, chat) in [(&carol, with_carol.id), (&dave, with_dave.id)] {
        assert_eq!(
            reader
                .client
                .history(chat, 10, None)
                .await
                .unwrap()
                .messages
                .len(),
            1,
            "nothing sent by the refused forward"
        );
    }
    bob.client
        .send_text(with_carol.id, "the last one")
        .await
        .expect("the refusal used no quota");
    assert_eq!(
        bob.client
            .send_text(with_carol.id, "one too many")
            .await
            .unwrap_err()
            .status(),
        Some(429)
    );
    // Four chats are more than the minute could ever hold: 422, not a 429
    // whose Retry-After would not help.
    let erin = server.sign_up("Erin").await;
    let (_, with_erin) = bob.client.private_chat(erin.id).await.unwrap();
    let four = [chat, with_carol.id, with_dave.id, with_erin.id];
    let too_many = bob.client.forward(original.id, &four).await.unwrap_err();
    assert_eq!(too_many.status(), Some(422));
    assert!(too_many.body().unwrap()["errors"]["chat_ids"].is_array());
}

backend_tests! {
    async fn every_sendable_type(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let text = ann.client.send_text(chat, "hello 👋").await.unwrap();
        assert_eq!(text.text(), Some("hello 👋"));
        assert_eq!(text.message_type, "text");
        assert_eq!(text.sender.name, "Ann");
        assert_eq!(text.status, "sent");
        assert!(!text.deleted);
        let (status, location) = bob.client.send_message(chat, json!({
            "message_type": "location", "latitude": 48.8584, "longitude": 2.2945, "location_name": "Eiffel Tower"
        })).await.unwrap();
        assert_eq!(status, 201);
        let place = location.location.unwrap();
        assert_eq!((place.latitude, place.longitude, place.name.as_deref()), (48.8584, 2.2945, Some("Eiffel Tower")));
        let (_, contact) = ann.client.send_message(chat, json!({
            "message_type": "contact", "contact_data": {"name": "Grace", "phone_numbers": ["+12125550199"]}
        })).await.unwrap();
        assert_eq!(contact.contact_data.unwrap(), json!({"name": "Grace", "phone_numbers": ["+12125550199"]}));
        let (_, reply) = bob.client.send_message(chat, json!({
            "message_type": "text", "content": "replying", "reply_to_message_id": text.id
        })).await.unwrap();
        let quoted = reply.reply_to.unwrap();
        assert_eq!((quoted.id, quoted.sender_id, quoted.content), (text.id, ann.id, Some(json!("hello 👋"))));
        let history = bob.client.history(chat, 50, None).await.unwrap();
        let types: Vec<&str> = history.messages.iter().map(|m| m.message_type.as_str()).collect();
        assert_eq!(types, vec!["text", "location", "contact", "text"]);
        assert_eq!(history.messages[3].reply_to.as_ref().unwrap().id, text.id);
    }

    async fn bad_messages_get_the_contracts_422(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let carol = server.sign_up("Carol").await;
        let (_, other_chat) = bob.client.private_chat(carol.id).await.unwrap();
        let elsewhere = carol.client.send_text(other_chat.id, "elsewhere").await.unwrap();
        let path = format!("/api/chats/{chat}/messages");
        for (body, field) in [
            (json!({"message_type": "text"}), "content"),
            (json!({"message_type": "text", "content": ""}), "content"),
            (json!({"message_type": "text", "content": "x".repeat(70_000)}), "content"),
            (json!({"message_type": "sticker", "content": "x"}), "message_type"),
            (json!({"message_type": "system", "content": "x"}), "message_type"),
            (json!({"content": "x"}), "message_type"),
            (json!({"message_type": "image"}), "file"),
            (json!({"message_type": "document", "content": "caption"}), "file"),
            (json!({"message_type": "location", "latitude": 91, "longitude": 0}), "latitude"),
            (json!({"message_type": "location", "latitude": 10}), "longitude"),
            (json!({"message_type": "location", "latitude": "north", "longitude": 0}), "latitude"),
            (json!({"message_type": "contact"}), "contact_data"),
            (json!({"message_type": "contact", "contact_data": {"name": "x", "phone_numbers": []}}), "contact_data.phone_numbers"),
            (json!({"message_type": "text", "content": "x", "reply_to_message_id": elsewhere.id}), "reply_to_message_id"),
            (json!({"message_type": "text", "content": "x", "reply_to_message_id": 99_999_999}), "reply_to_message_id"),
            (json!({"message_type": "text", "content": "x", "client_message_id": "c".repeat(65)}), "client_message_id"),
            (json!({"message_type": "text", "content": "x", "client_message_id": "abc "}), "client_message_id"),
        ] {
            let raw = ann.client.raw(Method::POST, &path, Some(body.clone())).await.unwrap();
            assert_eq!(raw.status, 422, "{body} -> {}", raw.body);
            assert!(raw.body["errors"][field].is_array(), "{body} -> {}", raw.body);
        }
        // 65,536 characters of emoji are accepted: the limit is characters.
        let long = "😀".repeat(65_536);
        assert_eq!(ann.client.send_text(chat, &long).await.unwrap().text().map(|t| t.chars().count()), Some(65_536));
        assert_eq!(ann.client.history(chat, 1, None).await.unwrap().messages[0].text(), Some(long.as_str()));
    }

    async fn a_retried_send_returns_the_first_message(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let body = json!({"message_type": "text", "content": "once", "client_message_id": "abc-1"});
        let (first_status, first) = ann.client.send_message(chat, body.clone()).await.unwrap();
        assert_eq!(first_status, 201);
        let (again_status, again) = ann.client.send_message(chat, body.clone()).await.unwrap();
        assert_eq!(again_status, 200);
        assert_eq!(again.id, first.id);
        // Concurrent retries of a new id: one message, every answer names it.
        let concurrent = json!({"message_type": "text", "content": "race", "client_message_id": "abc-2"});
        let sends = (0..12).map(|_| ann.client.send_message(chat, concurrent.clone()));
        let results = futures::future::join_all(sends).await;
        let ids: std::collections::HashSet<i64> = results.iter().map(|r| r.as_ref().unwrap().1.id).collect();
        assert_eq!(ids.len(), 1);
        assert_eq!(results.iter().filter(|r| r.as_ref().unwrap().0 == 201).count(), 1);
        // Another sender may use the same client id.
        let (status, _) = bob.client.send_message(chat, body).await.unwrap();
        assert_eq!(status, 201);
        // Ids compare exactly on every backend: another case is another
        // message (MySQL's case-insensitive collation made this a 500).
        let upper = json!({"message_type": "text", "content": "upper", "client_message_id": "ABC-1"});
        let (status, other) = ann.client.send_message(chat, upper.clone()).await.unwrap();
        assert_eq!(status, 201);
        assert_ne!(other.id, first.id);
        assert_eq!(ann.client.send_message(chat, upper).await.unwrap(), (200, other));
        let history = ann.client.history(chat, 50, None).await.unwrap();
        assert_eq!(history.messages.len(), 4);
    }

    async fn a_retry_refused_now_still_answers_with_the_stored_message(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, _) = server.pair().await;
        let group = ann.client.create_group("Trip", &[bob.id]).await.unwrap();
        let body = json!({"message_type": "text", "content": "last words", "client_message_id": "left-1"});
        let (status, first) = bob.client.send_message(group.id, body.clone()).await.unwrap();
        assert_eq!(status, 201);
        bob.client.leave_group(group.id).await.unwrap();
        // Bob's phone never got the 201 and retries after he left: the
        // message is stored, so he hears 200 and that message.
        let (status, again) = bob.client.send_message(group.id, body).await.unwrap();
        assert_eq!((status, again.id), (200, first.id));
        // Anything new is refused as before.
        let new = json!({"message_type": "text", "content": "new", "client_message_id": "left-2"});
        let refused = bob.client.send_message(group.id, new).await.unwrap_err();
        assert_eq!(refused.status(), Some(404));
        let history = ann.client.history(group.id, 50, None).await.unwrap();
        let texts: Vec<_> = history.messages.iter().filter_map(|m| m.text()).collect();
        assert_eq!(texts, vec!["last words"], "stored once, and nothing after Bob left");
    }

    async fn history_walks_every_message_once(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let total = 600;
        let sends = (0..total).map(|i| {
            let client = if i % 2 == 0 { ann.client.clone() } else { bob.client.clone() };
            async move { client.send_text(chat, &format!("m{i}")).await.unwrap().id }
        });
        let mut sent: Vec<i64> = futures::stream::iter(sends).buffer_unordered(32).collect().await;
        sent.sort_unstable();
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = ann.client.history(chat, 100, before).await.unwrap();
            let ids: Vec<i64> = page.messages.iter().map(|m| m.id).collect();
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "each page is oldest first");
            seen.splice(0..0, ids);
            if !page.pagination.has_more {
                assert_eq!(page.pagination.next_before_message_id, None);
                break;
            }
            before = page.pagination.next_before_message_id;
        }
        assert_eq!(seen, sent, "no gap and no repeat");
    }

    async fn edit_rules(backend: Backend) {
        let server = TestServer::start_with(backend, |s| s.message_edit_window = 2).await;
        let (ann, bob, chat) = server.pair().await;
        let message = ann.client.send_text(chat, "typo").await.unwrap();
        let edited = ann.client.edit_message(message.id, "fixed").await.unwrap();
        assert_eq!(edited.text(), Some("fixed"));
        assert!(edited.edited_at.is_some());
        assert_eq!(bob.client.edit_message(message.id, "hack").await.unwrap_err().status(), Some(403));
        let (_, location) = ann.client.send_message(chat, json!({"message_type": "location", "latitude": 1, "longitude": 2})).await.unwrap();
        assert_eq!(ann.client.edit_message(location.id, "x").await.unwrap_err().status(), Some(403));
        let err = ann.client.edit_message(message.id, &"x".repeat(70_000)).await.unwrap_err();
        assert_eq!(err.status(), Some(422));
        assert!(err.body().unwrap()["errors"]["content"].is_array());
        tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
        assert_eq!(ann.client.edit_message(message.id, "late").await.unwrap_err().status(), Some(403));
        assert_eq!(bob.client.history(chat, 10, None).await.unwrap().messages[0].text(), Some("fixed"));
    }

    async fn delete_for_everyone_keeps_the_place(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let first = ann.client.send_text(chat, "first").await.unwrap();
        let oops = ann.client.send_text(chat, "oops").await.unwrap();
        ann.client.send_text(chat, "third").await.unwrap();
        bob.client.react(oops.id, "😮").await.unwrap();
        let quoting = json!({"message_type": "text", "content": "what?", "reply_to_message_id": oops.id});
        let (_, reply) = bob.client.send_message(chat, quoting).await.unwrap();
        assert_eq!(reply.reply_to.as_ref().and_then(|r| r.content.clone()), Some(json!("oops")));
        assert_eq!(bob.client.delete_message(oops.id).await.unwrap_err().status(), Some(403));
        let answer = ann.client.delete_message(oops.id).await.unwrap();
        assert_eq!(answer, json!({"success": true, "message": "Message deleted successfully"}));
        let history = bob.client.history(chat, 10, None).await.unwrap();
        let ids: Vec<i64> = history.messages.iter().map(|m| m.id).collect();
        assert_eq!(ids[..2], [first.id, oops.id]);
        let gone = &history.messages[1];
        assert!(gone.deleted);
        assert_eq!(gone.content, None);
        assert!(gone.reactions.is_empty());
        // Nothing in the log a sync reader pages through still holds the
        // text: not the message's own events, not the reply that quoted it.
        for event in bob.client.sync_all(0).await.unwrap() {
            assert!(!event.data.to_string().contains("oops"), "{} still quotes it: {}", event.event, event.data);
        }
        let quoted = history.messages.iter().find(|m| m.id == reply.id).unwrap();
        assert_eq!(quoted.reply_to.as_ref().map(|r| r.content.clone()), Some(None));
        ann.client.delete_message(oops.id).await.unwrap();
        assert_eq!(ann.client.edit_message(oops.id, "undo").await.unwrap_err().status(), Some(403));
        assert_eq!(bob.client.react(oops.id, "👍").await.unwrap_err().status(), Some(403));
    }

    async fn one_reaction_per_user_replaced_and_removed(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let message = ann.client.send_text(chat, "react to me").await.unwrap();
        let r = bob.client.react(message.id, "👍").await.unwrap();
        assert_eq!(r, json!({"success": true, "reaction": {"message_id": message.id, "emoji": "👍", "count": 1}}));
        ann.client.react(message.id, "👍").await.unwrap();
        let replaced = bob.client.react(message.id, "❤️").await.unwrap();
        assert_eq!(replaced["reaction"]["count"], 1);
        let view = &ann.client.history(chat, 1, None).await.unwrap().messages[0];
        let mut summary: Vec<(String, usize, Vec<i64>)> =
            view.reactions.iter().map(|r| (r.emoji.clone(), r.count, r.user_ids.clone())).collect();
        summary.sort();
        let mut expected = vec![("👍".to_string(), 1, vec![ann.id]), ("❤️".to_string(), 1, vec![bob.id])];
        expected.sort();
        assert_eq!(summary, expected);
        bob.client.unreact(message.id).await.unwrap();
        bob.client.unreact(message.id).await.unwrap();
        let view = &ann.client.history(chat, 1, None).await.unwrap().messages[0];
        assert_eq!(view.reactions.len(), 1);
        for emoji in ["", "a", "👍👍", "hello", "1", ":thumbsup:"] {
            let err = bob.client.react(message.id, emoji).await.unwrap_err();
            assert_eq!(err.status(), Some(422), "{emoji:?}");
            assert!(err.body().unwrap()["errors"]["emoji"].is_array());
        }
        for emoji in ["👍🏽", "👨‍👩‍👧", "🇫🇷"] {
            bob.client.react(message.id, emoji).await.unwrap();
        }
        // One emoji, one reaction, however many variation selectors it was
        // typed with (64 of them made a 500 on PostgreSQL and MySQL).
        let hearts = bob.client.react(message.id, "❤").await.unwrap();
        assert_eq!(hearts["reaction"]["emoji"], "❤️");
        let padded = format!("❤{}", "\u{fe0f}".repeat(64));
        let hearts = ann.client.react(message.id, &padded).await.unwrap();
        assert_eq!((hearts["reaction"]["emoji"].as_str(), hearts["reaction"]["count"].as_u64()), (Some("❤️"), Some(2)));
    }

    async fn forwarding_copies_into_chats_the_caller_is_in(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let carol = server.sign_up("Carol").await;
        let dave = server.sign_up("Dave").await;
        let (_, with_carol) = bob.client.private_chat(carol.id).await.unwrap();
        let (_, with_dave) = bob.client.private_chat(dave.id).await.unwrap();
        let (_, original) = ann.client.send_message(chat, json!({"message_type": "location", "latitude": 1.5, "longitude": 2.5})).await.unwrap();
        let copies = bob.client.forward(original.id, &[with_carol.id, with_dave.id]).await.unwrap();
        assert_eq!(copies.len(), 2);
        for copy in &copies {
            assert_eq!(copy.sender_id, bob.id);
            assert_eq!(copy.message_type, "location");
            assert_eq!(copy.location, original.location);
        }
        assert_eq!(carol.client.history(with_carol.id, 10, None).await.unwrap().messages[0].id, copies.iter().find(|c| c.chat_id == with_carol.id).unwrap().id);
        let (_, carol_dave) = carol.client.private_chat(dave.id).await.unwrap();
        assert_eq!(bob.client.forward(original.id, &[carol_dave.id]).await.unwrap_err().status(), Some(404));
        let raw = bob.client.raw(Method::POST, &format!("/api/messages/{}/forward", original.id), Some(json!({"chat_ids": []}))).await.unwrap();
        assert_eq!(raw.status, 422);
    }

    async fn forwarding_counts_against_sends_per_minute(backend: Backend) {
        let server = TestServer::start_with(backend, |s| s.sends_per_minute = 3).await;
        a_forward_counts_one_send_per_chat(&server).await;
    }

    async fn forwarding_counts_against_sends_per_minute_through_redis(backend: Backend) {
        let redis = RedisServer::start().await;
        let server = TestServer::start_with(backend, |s| {
            s.sends_per_minute = 3;
            s.redis_url = Some(redis.url());
        })
        .await;
        a_forward_counts_one_send_per_chat(&server).await;
    }

    async fn receipts_go_sent_delivered_read_and_never_back(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let one = ann.client.send_text(chat, "one").await.unwrap();
        let two = ann.client.send_text(chat, "two").await.unwrap();
        assert_eq!(ann.client.history(chat, 10, None).await.unwrap().messages[1].status, "sent");
        bob.client.mark_delivered(chat, two.id).await.unwrap();
        let history = ann.client.history(chat, 10, None).await.unwrap();
        assert!(history.messages.iter().all(|m| m.status == "delivered" && m.delivered_at.is_some()), "{history:?}");
        let read = bob.client.mark_read(chat, one.id).await.unwrap();
        assert_eq!(read["success"], true);
        assert!(read["read_at"].is_string());
        let history = ann.client.history(chat, 10, None).await.unwrap();
        assert_eq!(history.messages[0].status, "read");
        assert_eq!(history.messages[1].status, "delivered");
        // Marking an older message read never moves the watermark back.
        bob.client.mark_read(chat, two.id).await.unwrap();
        bob.client.mark_read(chat, one.id).await.unwrap();
        let history = ann.client.history(chat, 10, None).await.unwrap();
        assert!(history.messages.iter().all(|m| m.status == "read" && m.read_at.is_some()));
        let receipts = ann.client.receipts(two.id).await.unwrap();
        assert_eq!(receipts.receipts.len(), 1);
        assert_eq!(receipts.receipts[0].user_id, bob.id);
        assert!(receipts.receipts[0].delivered_at.is_some() && receipts.receipts[0].read_at.is_some());
        assert_eq!(bob.client.receipts(two.id).await.unwrap_err().status(), Some(403));
        // A watermark must name a message of this chat.
        let carol = server.sign_up("Carol").await;
        let (_, other) = carol.client.private_chat(ann.id).await.unwrap();
        let elsewhere = carol.client.send_text(other.id, "x").await.unwrap();
        for id in [elsewhere.id, 99_999_999] {
            let err = bob.client.mark_read(chat, id).await.unwrap_err();
            assert_eq!(err.status(), Some(422));
            assert!(err.body().unwrap()["errors"]["message_id"].is_array());
        }
    }

    async fn blocked_senders_get_403_and_nothing_reaches_the_blocker(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let sent = ann.client.send_text(chat, "before").await.unwrap();
        let (_, contact) = bob.client.add_contact(json!({"contact_user_id": ann.id})).await.unwrap();
        let before = bob.client.sync_all(0).await.unwrap();
        bob.client.toggle_block(contact.id).await.unwrap();
        let err = ann.client.send_text(chat, "after").await.unwrap_err();
        assert_eq!(err.status(), Some(403));
        assert_eq!(err.body().unwrap()["success"], false);
        // Nor through an edit of an earlier message or a timer change, which
        // would put words or a system message in the blocker's chat.
        let err = ann.client.edit_message(sent.id, "rewritten").await.unwrap_err();
        assert_eq!(err.status(), Some(403), "an edit once blocked");
        let err = ann.client.set_disappearing(chat, 86_400).await.unwrap_err();
        assert_eq!(err.status(), Some(403), "a timer change once blocked");
        assert_eq!(bob.client.chat(chat).await.unwrap().disappearing_seconds, 0);
        let history = bob.client.history(chat, 50, None).await.unwrap();
        assert!(history.messages.iter().any(|m| m.text() == Some("before")), "the message is as it was");
        let last = before.last().map(|e| e.seq).unwrap_or(0);
        let after = bob.client.sync_all(last).await.unwrap();
        for event in ["MessageSent", "MessageEdited", "ChatUpdated"] {
            assert!(after.iter().all(|e| e.event != format!("App\\Events\\{event}")), "no {event} reached the blocker");
        }
        assert_eq!(bob.client.send_text(chat, "x").await.unwrap_err().status(), Some(403), "the blocker cannot send either");
        bob.client.toggle_block(contact.id).await.unwrap();
        ann.client.send_text(chat, "again").await.unwrap();
    }
}
