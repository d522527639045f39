//! Starred messages (each user's own, on every device of theirs) and pinned
//! messages (a chat's, at most three) as users try them.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::backend_tests;
use crate::common::{TestServer, user_socket};

const WAIT: Duration = Duration::from_secs(5);

fn status_of(err: natter_client::Error) -> u16 {
    err.status().expect("the server answered")
}

/// The ids of the caller's whole starred list, walked `limit` at a time.
async fn starred_ids(client: &natter_client::Client, limit: u64) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut before = None;
    loop {
        let page = client.starred(limit, before).await.unwrap();
        assert!(page.messages.len() as u64 <= limit);
        ids.extend(page.messages.iter().map(|m| m.id));
        match page.pagination.next_before {
            Some(next) => {
                assert!(page.pagination.has_more);
                before = Some(next);
            }
            None => {
                assert!(!page.pagination.has_more);
                return ids;
            }
        }
    }
}

/// How many stars of a user's are stored.
async fn star_rows(server: &TestServer, user_id: i64) -> i64 {
    use sea_orm::ConnectionTrait;
    let db = &server.state().db;
    let sql = format!("SELECT COUNT(*) AS n FROM starred_messages WHERE user_id = {user_id}");
    let row = db
        .write
        .query_one_raw(sea_orm::Statement::from_string(db.backend, sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

fn pinned_ids(pins: &[natter_client::PinnedMessage]) -> Vec<i64> {
    pins.iter().map(|p| p.message_id).collect()
}

/// `message_pinned` notices in a chat's history, by message id.
async fn pin_notices(client: &natter_client::Client, chat: i64) -> Vec<i64> {
    client
        .history(chat, 100, None)
        .await
        .unwrap()
        .messages
        .iter()
        .filter(|m| m.message_type == "system")
        .filter_map(|m| m.content.as_ref())
        .filter(|c| c["event"] == "message_pinned")
        .map(|c| c["message_id"].as_i64().unwrap())
        .collect()
}

backend_tests! {
    async fn a_star_is_idempotent_and_private_to_the_starrer(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let first = ann.client.send_text(chat, "first").await.unwrap();
        let second = ann.client.send_text(chat, "keep this").await.unwrap();
        let mut ann_socket = user_socket(&server.url(), &ann).await;

        let (status, starred) = bob.client.star(second.id).await.unwrap();
        assert_eq!(status, 201);
        assert!(starred.starred);
        assert_eq!(starred.chat_id, chat);
        let (status, again) = bob.client.star(second.id).await.unwrap();
        assert_eq!(status, 200, "starring twice is one star");
        assert!(again.starred);

        let flags = |messages: &[natter_client::Message]| -> Vec<(i64, bool)> {
            messages.iter().map(|m| (m.id, m.starred)).collect()
        };
        let bobs = bob.client.history(chat, 50, None).await.unwrap().messages;
        assert_eq!(flags(&bobs), vec![(first.id, false), (second.id, true)]);
        let anns = ann.client.history(chat, 50, None).await.unwrap().messages;
        assert_eq!(flags(&anns), vec![(first.id, false), (second.id, false)], "Ann does not see Bob's star");
        assert!(bob.client.chat(chat).await.unwrap().last_message.unwrap().starred, "the chat list shows Bob's star");
        assert!(!ann.client.chat(chat).await.unwrap().last_message.unwrap().starred);
        assert_eq!(starred_ids(&bob.client, 20).await, vec![second.id]);
        assert_eq!(starred_ids(&ann.client, 20).await, Vec::<i64>::new());
        let ann_log = serde_json::to_string(&ann.client.sync_all(0).await.unwrap()).unwrap();
        assert!(!ann_log.contains("MessageStarred"), "Ann's sync carries nothing of Bob's star: {ann_log}");
        let heard = ann_socket.drain(Duration::from_millis(500)).await;
        assert!(heard.iter().all(|f| f.event != "App\\Events\\MessageStarred"), "{heard:?}");

        let unstarred = bob.client.unstar(second.id).await.unwrap();
        assert!(!unstarred.starred);
        assert!(!bob.client.unstar(second.id).await.unwrap().starred, "unstarring twice is fine");
        assert_eq!(starred_ids(&bob.client, 20).await, Vec::<i64>::new());
        let bobs = bob.client.history(chat, 50, None).await.unwrap().messages;
        assert_eq!(flags(&bobs), vec![(first.id, false), (second.id, false)]);
    }

    async fn the_starred_list_is_newest_star_first_across_chats_and_pages(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let cy = server.sign_up("Cy").await;
        let group = ann.client.create_group("Walkers", &[bob.id, cy.id]).await.unwrap();
        let mut sent = Vec::new();
        for i in 0..3 {
            sent.push(bob.client.send_text(chat, &format!("private {i}")).await.unwrap());
            sent.push(cy.client.send_text(group.id, &format!("group {i}")).await.unwrap());
        }
        // Starred out of order: the list follows when each was starred.
        let order = [3, 0, 5, 1, 4, 2];
        for i in order {
            assert_eq!(ann.client.star(sent[i].id).await.unwrap().0, 201);
        }
        let newest_first: Vec<i64> = order.iter().rev().map(|i| sent[*i].id).collect();
        assert_eq!(starred_ids(&ann.client, 100).await, newest_first);
        assert_eq!(starred_ids(&ann.client, 2).await, newest_first, "pages of two: no gap, no repeat");
        assert_eq!(starred_ids(&ann.client, 4).await, newest_first);
        let page = ann.client.starred(1, None).await.unwrap();
        let top = &page.messages[0];
        assert_eq!((top.id, top.chat_id, top.starred), (sent[2].id, sent[2].chat_id, true));
        assert_eq!(top.text(), Some("private 1"));

        // Starring again does not move it to the top.
        ann.client.star(sent[3].id).await.unwrap();
        assert_eq!(starred_ids(&ann.client, 100).await, newest_first);

        // A chat she leaves takes its stars off her list.
        ann.client.leave_group(group.id).await.unwrap();
        let private_only: Vec<i64> = newest_first.iter().copied().filter(|id| sent.iter().any(|m| m.id == *id && m.chat_id == chat)).collect();
        assert_eq!(starred_ids(&ann.client, 2).await, private_only);

        for query in ["limit=0", "limit=101", "limit=x", "before=0", "before=-3"] {
            let raw = ann.client.raw(Method::GET, &format!("/api/starred?{query}"), None).await.unwrap();
            assert_eq!(raw.status, 422, "{query}: {}", raw.body);
        }
    }

    async fn what_the_caller_cannot_see_cannot_be_starred(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let eve = server.sign_up("Eve").await;
        let message = ann.client.send_text(chat, "between us").await.unwrap();
        assert_eq!(status_of(eve.client.star(message.id).await.unwrap_err()), 404, "not in the chat");
        assert_eq!(status_of(eve.client.unstar(message.id).await.unwrap_err()), 404);
        assert_eq!(status_of(ann.client.star(message.id + 1_000).await.unwrap_err()), 404, "no such message");
        let raw = ann.client.raw(Method::POST, "/api/messages/abc/star", None).await.unwrap();
        assert_eq!(raw.status, 404);

        // A member who joined later does not see, so cannot star, what came before.
        let group = ann.client.create_group("Club", &[bob.id]).await.unwrap();
        let before = bob.client.send_text(group.id, "before Eve").await.unwrap();
        ann.client.add_members(group.id, &[eve.id]).await.unwrap();
        assert_eq!(status_of(eve.client.star(before.id).await.unwrap_err()), 404);
        let after = bob.client.send_text(group.id, "after Eve").await.unwrap();
        assert_eq!(eve.client.star(after.id).await.unwrap().0, 201);

        // A system notice is not a message anyone keeps.
        let notice = ann.client.history(group.id, 50, None).await.unwrap().messages.into_iter()
            .find(|m| m.message_type == "system").unwrap();
        let refused = ann.client.star(notice.id).await.unwrap_err();
        assert_eq!(status_of(refused), 403);
        assert_eq!(starred_ids(&eve.client, 20).await, vec![after.id]);
    }

    async fn every_device_of_the_starrer_hears_the_star_and_finds_it_in_sync(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let laptop = server.sign_in(&bob.phone, None).await;
        assert_eq!(laptop.id, bob.id);
        let mut laptop_socket = user_socket(&server.url(), &laptop).await;
        let message = ann.client.send_text(chat, "address: 1 Main St").await.unwrap();

        bob.client.star(message.id).await.unwrap();
        let heard = laptop_socket.expect("App\\Events\\MessageStarred", None, WAIT).await.expect("MessageStarred");
        assert_eq!(heard.data["message_id"], message.id);
        assert_eq!(heard.data["chat_id"], chat);
        assert_eq!(heard.data["starred"], true);
        bob.client.star(message.id).await.unwrap();
        bob.client.unstar(message.id).await.unwrap();
        let heard = laptop_socket.expect("App\\Events\\MessageStarred", None, WAIT).await.expect("the unstar");
        assert_eq!(heard.data["starred"], false, "a second star announced nothing");

        let stars: Vec<Value> = laptop.client.sync_all(0).await.unwrap().into_iter()
            .filter(|e| e.event == "App\\Events\\MessageStarred")
            .map(|e| e.data)
            .collect();
        assert_eq!(stars.len(), 2, "{stars:?}");
        assert_eq!((stars[0]["starred"].clone(), stars[1]["starred"].clone()), (Value::Bool(true), Value::Bool(false)));
        assert!(stars.iter().all(|s| s["message_id"] == message.id));
        // The message events the chat hears never carry a star.
        let log = laptop.client.sync_all(0).await.unwrap();
        assert!(log.iter().filter(|e| e.event == "App\\Events\\MessageSent").all(|e| e.data["message"]["starred"] == false));

        // A deleted account takes its stars with it.
        bob.client.star(message.id).await.unwrap();
        assert_eq!(star_rows(&server, bob.id).await, 1);
        bob.client.delete_account().await.unwrap();
        assert_eq!(star_rows(&server, bob.id).await, 0);
    }

    async fn deleted_and_expired_messages_leave_the_starred_list(backend: Backend) {
        let server = TestServer::start_with(backend, |s| s.disappearing_test_seconds = Some(1)).await;
        let (ann, bob, chat) = server.pair().await;
        let gone = ann.client.send_text(chat, "oops").await.unwrap();
        let kept = ann.client.send_text(chat, "kept").await.unwrap();
        bob.client.star(gone.id).await.unwrap();
        bob.client.star(kept.id).await.unwrap();
        ann.client.delete_message(gone.id).await.unwrap();
        assert_eq!(starred_ids(&bob.client, 20).await, vec![kept.id]);
        assert_eq!(status_of(bob.client.star(gone.id).await.unwrap_err()), 404, "a deleted message is not starred again");

        ann.client.set_disappearing(chat, 1).await.unwrap();
        let fleeting = ann.client.send_text(chat, "soon gone").await.unwrap();
        bob.client.star(fleeting.id).await.unwrap();
        assert_eq!(starred_ids(&bob.client, 20).await, vec![fleeting.id, kept.id]);
        tokio::time::sleep(Duration::from_millis(1_300)).await;
        assert_eq!(starred_ids(&bob.client, 20).await, vec![kept.id], "expired: gone at once, before the job");
    }

    async fn a_fourth_pin_replaces_the_oldest_and_everyone_sees_the_pins(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let mut messages = Vec::new();
        for i in 0..4 {
            messages.push(ann.client.send_text(chat, &format!("plan {i}")).await.unwrap().id);
        }
        let mut bob_socket = user_socket(&server.url(), &bob).await;

        assert_eq!(pinned_ids(&ann.client.pin(chat, messages[0]).await.unwrap()), vec![messages[0]]);
        let heard = bob_socket.expect("App\\Events\\MessagePinned", None, WAIT).await.expect("MessagePinned");
        assert_eq!(heard.data["chat_id"], chat);
        assert_eq!(heard.data["message_id"], messages[0]);
        assert_eq!(heard.data["pinned"], true);
        assert_eq!(heard.data["actor_id"], ann.id);
        // Any member of a private chat pins.
        bob.client.pin(chat, messages[1]).await.unwrap();
        let pins = ann.client.pin(chat, messages[2]).await.unwrap();
        assert_eq!(pinned_ids(&pins), vec![messages[2], messages[1], messages[0]], "newest pin first");
        assert_eq!(pins[1].pinned_by, bob.id);

        // A fourth replaces the oldest, as on WhatsApp; the chat hears both.
        let pins = bob.client.pin(chat, messages[3]).await.unwrap();
        assert_eq!(pinned_ids(&pins), vec![messages[3], messages[2], messages[1]]);
        let mut changes = Vec::new();
        while changes.len() < 4 {
            let frame = bob_socket.expect("App\\Events\\MessagePinned", None, WAIT).await.expect("each change");
            changes.push((frame.data["message_id"].as_i64().unwrap(), frame.data["pinned"].as_bool().unwrap()));
        }
        assert_eq!(&changes[2..], &[(messages[0], false), (messages[3], true)]);

        // Pinning a pinned message again changes and announces nothing.
        assert_eq!(pinned_ids(&ann.client.pin(chat, messages[2]).await.unwrap()), vec![messages[3], messages[2], messages[1]]);
        assert_eq!(pin_notices(&bob.client, chat).await, messages.clone(), "one notice per pin");

        // The chat list and the chat show the pins to both.
        for user in [&ann, &bob] {
            let listed = user.client.chats(1, 20).await.unwrap().chats;
            assert_eq!(pinned_ids(&listed[0].pinned_messages), vec![messages[3], messages[2], messages[1]]);
            assert_eq!(pinned_ids(&user.client.chat(chat).await.unwrap().pinned_messages), vec![messages[3], messages[2], messages[1]]);
        }

        // Unpinning: any member, twice is fine.
        assert_eq!(pinned_ids(&ann.client.unpin(chat, messages[3]).await.unwrap()), vec![messages[2], messages[1]]);
        let heard = bob_socket.expect("App\\Events\\MessagePinned", None, WAIT).await.expect("the unpin");
        assert_eq!((heard.data["message_id"].as_i64(), heard.data["pinned"].as_bool()), (Some(messages[3]), Some(false)));
        assert_eq!(pinned_ids(&bob.client.unpin(chat, messages[3]).await.unwrap()), vec![messages[2], messages[1]]);
        assert_eq!(pinned_ids(&bob.client.chat(chat).await.unwrap().pinned_messages), vec![messages[2], messages[1]]);
        assert_eq!(pin_notices(&bob.client, chat).await.len(), 4, "an unpin posts no notice");
    }

    async fn only_members_pin_and_only_a_message_of_that_chat(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let eve = server.sign_up("Eve").await;
        let message = ann.client.send_text(chat, "pin me").await.unwrap();
        assert_eq!(status_of(eve.client.pin(chat, message.id).await.unwrap_err()), 404, "not a member");
        assert_eq!(status_of(eve.client.unpin(chat, message.id).await.unwrap_err()), 404);

        // A message of another chat of hers, named under this chat.
        let (_, other) = ann.client.private_chat(eve.id).await.unwrap();
        let elsewhere = eve.client.send_text(other.id, "elsewhere").await.unwrap();
        assert_eq!(status_of(ann.client.pin(chat, elsewhere.id).await.unwrap_err()), 404);
        assert_eq!(status_of(ann.client.pin(chat, message.id + 1_000).await.unwrap_err()), 404);
        assert!(ann.client.chat(other.id).await.unwrap().pinned_messages.is_empty());

        // In a group any member pins; one who joined later is not shown what came before.
        let group = ann.client.create_group("Club", &[bob.id]).await.unwrap();
        let old = ann.client.send_text(group.id, "old news").await.unwrap();
        assert_eq!(pinned_ids(&bob.client.pin(group.id, old.id).await.unwrap()), vec![old.id]);
        ann.client.add_members(group.id, &[eve.id]).await.unwrap();
        assert!(eve.client.chat(group.id).await.unwrap().pinned_messages.is_empty());
        assert_eq!(status_of(eve.client.unpin(group.id, old.id).await.unwrap_err()), 404);
        let notice = ann.client.history(group.id, 50, None).await.unwrap().messages.into_iter()
            .find(|m| m.message_type == "system").unwrap();
        assert_eq!(status_of(ann.client.pin(group.id, notice.id).await.unwrap_err()), 403, "a system notice");

        // Someone who left can no longer pin.
        bob.client.leave_group(group.id).await.unwrap();
        let fresh = ann.client.send_text(group.id, "fresh").await.unwrap();
        assert_eq!(status_of(bob.client.pin(group.id, fresh.id).await.unwrap_err()), 404);
        assert_eq!(pinned_ids(&ann.client.chat(group.id).await.unwrap().pinned_messages), vec![old.id]);

        // Back in the group, what Bob saw in his earlier stay is not his to pin:
        // his own pins list would not show it.
        let earlier = ann.client.send_text(group.id, "before bob came back").await.unwrap();
        ann.client.add_members(group.id, &[bob.id]).await.unwrap();
        assert_eq!(status_of(bob.client.pin(group.id, old.id).await.unwrap_err()), 404, "from his earlier stay");
        assert_eq!(status_of(bob.client.pin(group.id, earlier.id).await.unwrap_err()), 404, "from while he was away");
        let now = ann.client.send_text(group.id, "welcome back").await.unwrap();
        assert_eq!(pinned_ids(&bob.client.pin(group.id, now.id).await.unwrap()), vec![now.id]);
    }

    async fn chat_updated_carries_no_pins_so_a_newcomer_learns_none_from_before(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, _) = server.pair().await;
        let eve = server.sign_up("Eve").await;
        let group = ann.client.create_group("Club", &[bob.id]).await.unwrap();
        let old = ann.client.send_text(group.id, "before eve").await.unwrap();
        assert_eq!(pinned_ids(&ann.client.pin(group.id, old.id).await.unwrap()), vec![old.id]);
        let mut eve_socket = user_socket(&server.url(), &eve).await;
        let mut bob_socket = user_socket(&server.url(), &bob).await;

        ann.client.add_members(group.id, &[eve.id]).await.unwrap();
        for socket in [&mut eve_socket, &mut bob_socket] {
            let heard = socket.expect("App\\Events\\ChatUpdated", None, WAIT).await.expect("ChatUpdated");
            assert_eq!(heard.data["chat"]["id"], group.id);
            assert_eq!(heard.data["chat"]["pinned_messages"], serde_json::json!([]), "pins are not in events");
        }
        // Each member's own view still shows what they may see.
        assert!(eve.client.chat(group.id).await.unwrap().pinned_messages.is_empty());
        assert_eq!(pinned_ids(&bob.client.chat(group.id).await.unwrap().pinned_messages), vec![old.id]);
    }

    async fn concurrent_pins_leave_at_most_three(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let mut ids = Vec::new();
        for i in 0..4 {
            ids.push(ann.client.send_text(chat, &format!("candidate {i}")).await.unwrap().id);
        }
        let pins = ids.iter().enumerate().map(|(i, id)| {
            let client = if i % 2 == 0 { ann.client.clone() } else { bob.client.clone() };
            let id = *id;
            async move { client.pin(chat, id).await }
        });
        for outcome in futures::future::join_all(pins).await {
            assert!(outcome.unwrap().len() <= 3);
        }
        let pinned = pinned_ids(&ann.client.chat(chat).await.unwrap().pinned_messages);
        assert_eq!(pinned.len(), 3, "{pinned:?}");
        assert!(pinned.iter().all(|id| ids.contains(id)));
        assert_eq!(pin_notices(&ann.client, chat).await.len(), 4);
    }

    async fn deleting_a_pinned_message_unpins_it(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let doomed = ann.client.send_text(chat, "wrong address").await.unwrap();
        let kept = bob.client.send_text(chat, "right address").await.unwrap();
        ann.client.pin(chat, doomed.id).await.unwrap();
        ann.client.pin(chat, kept.id).await.unwrap();
        let mut bob_socket = user_socket(&server.url(), &bob).await;

        ann.client.delete_message(doomed.id).await.unwrap();
        let heard = bob_socket.expect("App\\Events\\MessagePinned", None, WAIT).await.expect("the unpin");
        assert_eq!(heard.data["message_id"], doomed.id);
        assert_eq!(heard.data["pinned"], false);
        assert_eq!(heard.data["actor_id"], Value::Null, "the deletion unpinned it, not a person");
        for user in [&ann, &bob] {
            assert_eq!(pinned_ids(&user.client.chat(chat).await.unwrap().pinned_messages), vec![kept.id]);
        }
        assert_eq!(status_of(bob.client.pin(chat, doomed.id).await.unwrap_err()), 404, "a deleted message is not pinned again");
    }
}
