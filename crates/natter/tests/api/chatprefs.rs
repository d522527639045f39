//! A member's own settings of a chat (issue 19): pinned chats (at most three,
//! first in the list), archived chats (a new message unarchives them unless the
//! user keeps chats archived), and `ChatPreferencesUpdated` on every device of
//! the user for mute, pin and archive.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::common::{TestServer, TestUser, user_socket};

const PREFS: &str = "App\\Events\\ChatPreferencesUpdated";
const WAIT: Duration = Duration::from_secs(5);

/// `me` and a private chat with each of `n` new people, the last created
/// having the most recent activity (each gets a message, in order).
async fn me_with_chats(server: &TestServer, n: usize) -> (TestUser, Vec<i64>) {
    let me = server.sign_up("Me").await;
    let mut chats = Vec::new();
    for i in 0..n {
        let friend = server.sign_up(&format!("Friend {i}")).await;
        let (_, chat) = friend.client.private_chat(me.id).await.unwrap();
        friend.client.send_text(chat.id, "hello").await.unwrap();
        chats.push(chat.id);
        // Activity is ordered by send time: keep the sends apart.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (me, chats)
}

async fn list_order(user: &TestUser) -> Vec<i64> {
    user.client
        .chats(1, 100)
        .await
        .unwrap()
        .chats
        .iter()
        .map(|c| c.id)
        .collect()
}

async fn archived_ids(user: &TestUser, archived: bool) -> Vec<i64> {
    let list = user.client.chats_archived(archived, 1, 100).await.unwrap();
    assert_eq!(list.pagination.total_items as usize, list.chats.len());
    assert!(
        list.chats.iter().all(|c| c.archived == archived),
        "{:?}",
        list.chats
    );
    list.chats.iter().map(|c| c.id).collect()
}

backend_tests! {
    async fn pinned_chats_come_first_most_recently_pinned_first(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (me, chats) = me_with_chats(&server, 4).await;
        let [a, b, c, d] = chats[..] else { unreachable!() };
        assert_eq!(list_order(&me).await, vec![d, c, b, a], "by activity before any pin");

        let pinned = me.client.pin_chat(a, true).await.unwrap();
        assert!(pinned.pinned && pinned.pinned_at.is_some(), "{pinned:?}");
        me.client.pin_chat(b, true).await.unwrap();
        assert_eq!(list_order(&me).await, vec![b, a, d, c]);
        let list = me.client.chats(1, 100).await.unwrap();
        let flags: Vec<bool> = list.chats.iter().map(|c| c.pinned).collect();
        assert_eq!(flags, vec![true, true, false, false]);

        // Pinning a pinned chat again keeps its place.
        me.client.pin_chat(a, true).await.unwrap();
        assert_eq!(list_order(&me).await, vec![b, a, d, c]);
        // A new message in an unpinned chat does not pass the pinned ones.
        let (_, with_me) = server.sign_up("Other").await.client.private_chat(me.id).await.unwrap();
        assert_eq!(list_order(&me).await[..2], [b, a]);

        let unpinned = me.client.pin_chat(b, false).await.unwrap();
        assert!(!unpinned.pinned && unpinned.pinned_at.is_none());
        assert_eq!(list_order(&me).await, vec![a, with_me.id, d, c, b]);
        let page = me.client.chats(2, 2).await.unwrap();
        let ids: Vec<i64> = page.chats.iter().map(|c| c.id).collect();
        assert_eq!(ids, vec![d, c], "pages follow the same order");
    }

    async fn a_fourth_pin_is_refused_clearly(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (me, chats) = me_with_chats(&server, 4).await;
        for chat in &chats[..3] {
            me.client.pin_chat(*chat, true).await.unwrap();
        }
        let raw = me
            .client
            .raw(Method::PUT, &format!("/api/chats/{}/pin", chats[3]), Some(json!({"pinned": true})))
            .await
            .unwrap();
        assert_eq!(raw.status, 422, "{}", raw.body);
        let message = raw.body["errors"]["pinned"][0].as_str().unwrap_or_default();
        assert!(message.contains("up to 3"), "{}", raw.body);
        assert!(!me.client.chat(chats[3]).await.unwrap().pinned);
        // Re-pinning one of the three is no fourth pin.
        me.client.pin_chat(chats[0], true).await.unwrap();
        me.client.pin_chat(chats[1], false).await.unwrap();
        assert!(me.client.pin_chat(chats[3], true).await.unwrap().pinned);
    }

    async fn concurrent_pins_never_pass_three(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (me, chats) = me_with_chats(&server, 6).await;
        let pins = chats.iter().map(|chat| me.client.pin_chat(*chat, true));
        let results = futures::future::join_all(pins).await;
        let pinned = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(pinned, 3, "{results:?}");
        for refused in results.iter().filter_map(|r| r.as_ref().err()) {
            assert_eq!(refused.status(), Some(422), "{refused}");
        }
        let list = me.client.chats(1, 100).await.unwrap();
        assert_eq!(list.chats.iter().filter(|c| c.pinned).count(), 3);
    }

    async fn outsiders_get_404_and_bad_bodies_422(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, _bob, chat) = server.pair().await;
        let eve = server.sign_up("Eve").await;
        for (path, body) in [
            (format!("/api/chats/{chat}/pin"), json!({"pinned": true})),
            (format!("/api/chats/{chat}/archive"), json!({"archived": true})),
            ("/api/chats/99999999/pin".to_string(), json!({"pinned": true})),
            ("/api/chats/99999999/archive".to_string(), json!({"archived": false})),
        ] {
            let raw = eve.client.raw(Method::PUT, &path, Some(body)).await.unwrap();
            assert_eq!(raw.status, 404, "{path}: {}", raw.body);
        }
        for (path, body, field) in [
            ("pin", json!({}), "pinned"),
            ("pin", json!({"pinned": "yes"}), "pinned"),
            ("archive", json!({"archived": 1}), "archived"),
        ] {
            let raw = ann.client.raw(Method::PUT, &format!("/api/chats/{chat}/{path}"), Some(body.clone())).await.unwrap();
            assert_eq!(raw.status, 422, "{body}: {}", raw.body);
            assert!(raw.body["errors"][field].is_array(), "{}", raw.body);
        }
        let raw = ann.client.raw(Method::GET, "/api/chats?archived=maybe", None).await.unwrap();
        assert_eq!(raw.status, 422, "{}", raw.body);
        assert!(raw.body["errors"]["archived"].is_array(), "{}", raw.body);
    }

    async fn archiving_flags_filters_and_unpins(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (me, chats) = me_with_chats(&server, 3).await;
        let [a, b, c] = chats[..] else { unreachable!() };
        me.client.pin_chat(a, true).await.unwrap();
        let archived = me.client.archive_chat(a, true).await.unwrap();
        assert!(archived.archived, "{archived:?}");
        assert!(!archived.pinned, "archiving unpins");
        me.client.archive_chat(b, true).await.unwrap();

        let all = me.client.chats(1, 100).await.unwrap();
        assert_eq!(all.pagination.total_items, 3, "without the filter: every chat, flagged");
        let flags: Vec<(i64, bool)> = all.chats.iter().map(|x| (x.id, x.archived)).collect();
        assert_eq!(flags, vec![(c, false), (b, true), (a, true)]);
        assert_eq!(archived_ids(&me, true).await, vec![b, a]);
        assert_eq!(archived_ids(&me, false).await, vec![c]);
        let back = me.client.archive_chat(b, false).await.unwrap();
        assert!(!back.archived);
        assert_eq!(archived_ids(&me, true).await, vec![a]);
        // Pinning an archived chat takes it out of the archive.
        let pinned = me.client.pin_chat(a, true).await.unwrap();
        assert!(pinned.pinned && !pinned.archived);
        assert!(archived_ids(&me, true).await.is_empty());
    }

    async fn a_new_message_unarchives_unless_kept_archived(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (me, bob, chat) = server.pair().await;
        bob.client.send_text(chat, "before").await.unwrap();
        me.client.pin_chat(chat, true).await.unwrap();
        me.client.archive_chat(chat, true).await.unwrap();
        let theirs = bob.client.chat(chat).await.unwrap();
        assert!(!theirs.archived && !theirs.pinned, "mine alone: {theirs:?}");
        bob.client.send_text(chat, "news").await.unwrap();
        assert!(!me.client.chat(chat).await.unwrap().archived, "a new message unarchives");
        assert_eq!(archived_ids(&me, false).await, vec![chat]);

        let profile = me.client.update_privacy(json!({"keep_chats_archived": true})).await.unwrap();
        assert!(profile.keep_chats_archived);
        assert!(me.client.profile().await.unwrap().keep_chats_archived);
        me.client.archive_chat(chat, true).await.unwrap();
        bob.client.send_text(chat, "more news").await.unwrap();
        let kept = me.client.chat(chat).await.unwrap();
        assert!(kept.archived, "kept archived: {kept:?}");
        assert_eq!(kept.last_message.unwrap().content, Some(json!("more news")));
        assert_eq!(archived_ids(&me, true).await, vec![chat]);

        // Turning the setting off applies the rule again: a message came.
        me.client.update_privacy(json!({"keep_chats_archived": false})).await.unwrap();
        assert!(!me.client.chat(chat).await.unwrap().archived);
        let raw = me.client.raw(Method::PUT, "/api/user/privacy", Some(json!({"keep_chats_archived": "on"}))).await.unwrap();
        assert_eq!(raw.status, 422, "{}", raw.body);
    }

    async fn every_device_of_the_user_hears_mute_pin_and_archive(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (me, bob, chat) = server.pair().await;
        let phone = server.sign_in(&me.phone, None).await;
        let start = phone.client.sync_all(0).await.unwrap().last().map(|e| e.seq).unwrap_or(0);
        let bob_start = bob.client.sync_all(0).await.unwrap().last().map(|e| e.seq).unwrap_or(0);
        let mut socket = user_socket(&server.url(), &phone).await;

        me.client.mute(chat, Some("2030-01-01T00:00:00Z")).await.unwrap();
        let muted = socket.expect(PREFS, None, WAIT).await.expect("mute is heard");
        assert_eq!(muted.data["chat_id"].as_i64(), Some(chat));
        assert_eq!(muted.data["muted_until"], "2030-01-01T00:00:00.000Z");
        assert_eq!(muted.data["pinned"], false);

        me.client.pin_chat(chat, true).await.unwrap();
        let pinned = socket.expect(PREFS, None, WAIT).await.expect("pin is heard");
        assert_eq!(pinned.data["pinned"], true);
        assert!(pinned.data["pinned_at"].is_string());
        assert_eq!(pinned.data["muted_until"], "2030-01-01T00:00:00.000Z", "the whole state");

        me.client.archive_chat(chat, true).await.unwrap();
        let archived = socket.expect(PREFS, None, WAIT).await.expect("archive is heard");
        assert_eq!((archived.data["archived"].clone(), archived.data["pinned"].clone()), (json!(true), json!(false)));

        let events: Vec<_> = phone
            .client
            .sync_all(start)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.event == PREFS)
            .collect();
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(events.iter().all(|e| e.data["chat_id"].as_i64() == Some(chat)));
        assert_eq!(events[2].data["archived"], true);
        assert_eq!(events[2].data["seq"].as_i64(), Some(events[2].seq));
        let theirs = bob.client.sync_all(bob_start).await.unwrap();
        assert!(theirs.iter().all(|e| e.event != PREFS), "the other member hears nothing: {theirs:?}");
    }
}
