//! Disappearing messages and view-once media (issue 19) as users try them: a
//! timer set in a chat (announced, shown on the chat, admins only in groups),
//! a photo that vanishes from history, sync, the other phone and the disk; a
//! view-once photo each recipient opens once.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::{Backend, TestServer, user_socket};
use crate::media::{jpeg, walk};

const WAIT: Duration = Duration::from_secs(5);

/// The testing timer (DISAPPEARING_TEST_SECONDS): 2 seconds.
const SHORT: i64 = 2;

async fn start(backend: Backend) -> TestServer {
    TestServer::start_with(backend, |s| {
        s.disappearing_test_seconds = Some(SHORT as u64);
        s.media.media_collect_grace = 0;
    })
    .await
}

fn file_count(server: &TestServer) -> usize {
    let mut files = Vec::new();
    walk(&server.state().config.media_root.join("media"), &mut files);
    files.len()
}

fn status_of(err: natter_client::Error) -> u16 {
    err.status().expect("the server answered")
}

/// A signed URL made for APP_URL, fetched from where the test server listens.
async fn fetch(server: &TestServer, url: &str) -> reqwest::Response {
    reqwest::get(url.replace("http://localhost:8000", &server.url()))
        .await
        .unwrap()
}

backend_tests! {
    async fn a_photo_vanishes_from_history_sync_the_other_phone_and_the_disk(backend: Backend) {
        let server = start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let kept = ann.client.send_text(chat, "before the timer").await.unwrap();
        assert_eq!(kept.expires_at, None);
        let mut bob_socket = user_socket(&server.url(), &bob).await;
        let files_before = file_count(&server);

        // Bob (any member of a private chat) sets the timer: on the chat, announced.
        let updated = bob.client.set_disappearing(chat, SHORT).await.unwrap();
        assert_eq!(updated.disappearing_seconds, SHORT);
        assert_eq!(ann.client.chat(chat).await.unwrap().disappearing_seconds, SHORT);
        let heard = bob_socket.expect("App\\Events\\ChatUpdated", None, WAIT).await.expect("ChatUpdated");
        assert_eq!(heard.data["chat"]["disappearing_seconds"], SHORT);
        let history = ann.client.history(chat, 50, None).await.unwrap().messages;
        let notice = history.last().unwrap();
        assert_eq!(notice.message_type, "system");
        assert_eq!(notice.content.as_ref().unwrap()["event"], "disappearing_set");
        assert_eq!(notice.content.as_ref().unwrap()["seconds"], SHORT);
        assert_eq!(notice.content.as_ref().unwrap()["actor_id"], bob.id);
        assert_eq!(notice.expires_at, None, "the notice itself stays");

        // A photo and a text sent now expire SHORT seconds after they were sent.
        let (_, photo) = ann
            .client
            .send_media(chat, "image", &[("content", "sunset caption")], "sunset.jpg", &jpeg(640, 480))
            .await
            .unwrap();
        let text = ann.client.send_text(chat, "secret words").await.unwrap();
        for message in [&photo, &text] {
            let sent = natter::clock::parse_rfc3339(&message.sent_at).unwrap();
            let expires = natter::clock::parse_rfc3339(message.expires_at.as_deref().unwrap()).unwrap();
            assert_eq!(expires - sent, SHORT * 1000);
        }
        assert!(file_count(&server) > files_before, "the photo is stored");
        let url = photo.media.as_ref().unwrap()["url"].as_str().unwrap().to_string();
        assert_eq!(fetch(&server, &url).await.status(), 200);

        // The expiry job deletes them: Bob's socket is told, history and sync lose them.
        let mut deleted = Vec::new();
        while deleted.len() < 2 {
            let frame = bob_socket
                .expect("App\\Events\\MessageDeleted", None, Duration::from_secs(SHORT as u64 + 35))
                .await
                .expect("MessageDeleted for each expired message");
            assert_eq!(frame.data["message"]["deleted"], true);
            assert_eq!(frame.data["message"]["content"], Value::Null);
            assert_eq!(frame.data["message"]["media"], Value::Null);
            deleted.push(frame.data["message"]["id"].as_i64().unwrap());
        }
        deleted.sort_unstable();
        assert_eq!(deleted, vec![photo.id, text.id]);
        for user in [&ann, &bob] {
            let ids: Vec<i64> = user.client.history(chat, 50, None).await.unwrap().messages.iter().map(|m| m.id).collect();
            assert!(ids.contains(&kept.id), "{ids:?}");
            assert!(!ids.contains(&photo.id) && !ids.contains(&text.id), "{ids:?}");
            let last = user.client.chat(chat).await.unwrap().last_message.unwrap();
            assert_ne!(last.id, text.id, "the chat list does not show it either");
            let log = serde_json::to_string(&user.client.sync_all(0).await.unwrap()).unwrap();
            assert!(!log.contains("secret words") && !log.contains("sunset caption"), "content left in sync: {log}");
            assert!(!log.contains(&url), "the photo's URL left in sync");
        }

        // The file goes once nothing shows it (the media collection job).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while file_count(&server) > files_before && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(file_count(&server), files_before, "the photo and its thumbnail are gone from disk");
        assert_eq!(fetch(&server, &url).await.status(), 404);

        // Off again: new messages stay.
        ann.client.set_disappearing(chat, 0).await.unwrap();
        assert_eq!(ann.client.send_text(chat, "stays").await.unwrap().expires_at, None);
    }

    async fn only_group_admins_set_the_timer_and_only_to_the_allowed_values(backend: Backend) {
        let server = start(backend).await;
        let ann = server.sign_up("Ann").await;
        let bob = server.sign_up("Bob").await;
        let eve = server.sign_up("Eve").await;
        let group = ann.client.create_group("Trip", &[bob.id]).await.unwrap();

        let refused = bob.client.set_disappearing(group.id, 86_400).await.unwrap_err();
        assert_eq!(status_of(refused), 403, "a member who is not an admin");
        let refused = eve.client.set_disappearing(group.id, 86_400).await.unwrap_err();
        assert_eq!(status_of(refused), 404, "not a member");
        for seconds in [1, 3600, -1, 86_401] {
            let raw = ann
                .client
                .raw(Method::PUT, &format!("/api/chats/{}/disappearing", group.id), Some(json!({"seconds": seconds})))
                .await
                .unwrap();
            assert_eq!(raw.status, 422, "{seconds}: {}", raw.body);
            assert!(raw.body["errors"]["seconds"].is_array(), "{}", raw.body);
        }
        let raw = ann
            .client
            .raw(Method::PUT, &format!("/api/chats/{}/disappearing", group.id), Some(json!({"seconds": "a day"})))
            .await
            .unwrap();
        assert_eq!(raw.status, 422, "{}", raw.body);
        for seconds in [86_400, 604_800, 7_776_000, 0] {
            let chat = ann.client.set_disappearing(group.id, seconds).await.unwrap();
            assert_eq!(chat.disappearing_seconds, seconds);
        }
        // Once the admin makes Bob an admin, he may.
        ann.client.set_role(group.id, bob.id, "admin").await.unwrap();
        let chat = bob.client.set_disappearing(group.id, 604_800).await.unwrap();
        assert_eq!(chat.disappearing_seconds, 604_800);
        let sent = ann.client.send_text(group.id, "for a week").await.unwrap();
        let week = natter::clock::parse_rfc3339(sent.expires_at.as_deref().unwrap()).unwrap()
            - natter::clock::parse_rfc3339(&sent.sent_at).unwrap();
        assert_eq!(week, 604_800_000);
        // Setting the same timer again announces nothing.
        let before = ann.client.history(group.id, 100, None).await.unwrap().messages.len();
        bob.client.set_disappearing(group.id, 604_800).await.unwrap();
        assert_eq!(ann.client.history(group.id, 100, None).await.unwrap().messages.len(), before);
        let notices = ann
            .client
            .history(group.id, 100, None)
            .await
            .unwrap()
            .messages
            .into_iter()
            .filter(|m| m.content.as_ref().is_some_and(|c| c["event"] == "disappearing_set"))
            .count();
        assert_eq!(notices, 5, "one notice per change");
    }

    async fn a_view_once_photo_opens_once_for_each_recipient(backend: Backend) {
        let server = start(backend).await;
        let ann = server.sign_up("Ann").await;
        let bob = server.sign_up("Bob").await;
        let cat = server.sign_up("Cat").await;
        let group = ann.client.create_group("Pics", &[bob.id, cat.id]).await.unwrap().id;
        let mut bob_socket = user_socket(&server.url(), &bob).await;

        // Only image, video and audio messages can be view once.
        let raw = ann
            .client
            .raw(Method::POST, &format!("/api/chats/{group}/messages"), Some(json!({"message_type": "text", "content": "hi", "view_once": true})))
            .await
            .unwrap();
        assert_eq!(raw.status, 422, "{}", raw.body);
        assert!(raw.body["errors"]["view_once"].is_array(), "{}", raw.body);
        let refused = ann
            .client
            .send_media(group, "document", &[("view_once", "true")], "notes.pdf", b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF")
            .await
            .unwrap_err();
        assert_eq!(status_of(refused), 422);

        let (status, photo) = ann
            .client
            .send_media(group, "image", &[("view_once", "true")], "once.jpg", &jpeg(320, 240))
            .await
            .unwrap();
        assert_eq!(status, 201);
        assert!(photo.view_once);
        assert_eq!(photo.media, None, "no message resource shows the file");
        let heard = bob_socket.expect("App\\Events\\MessageSent", None, WAIT).await.expect("MessageSent");
        assert_eq!(heard.data["message"]["view_once"], true);
        assert_eq!(heard.data["message"]["media"], Value::Null);
        let seen = |messages: &[natter_client::types::Message]| {
            let m = messages.iter().find(|m| m.id == photo.id).unwrap();
            assert!(m.view_once && m.media.is_none());
            m.viewed
        };
        assert!(!seen(&bob.client.history(group, 50, None).await.unwrap().messages));

        // Bob opens it once: a working URL; then 410, and history says he has.
        let media = bob.client.view_once(photo.id).await.unwrap();
        assert_eq!(media["mime_type"], "image/jpeg");
        let response = fetch(&server, media["url"].as_str().unwrap()).await;
        assert_eq!(response.status(), 200);
        assert!(!response.bytes().await.unwrap().is_empty());
        let again = bob.client.view_once(photo.id).await.unwrap_err();
        assert_eq!(status_of(again), 410);
        assert!(seen(&bob.client.history(group, 50, None).await.unwrap().messages));

        // Cat has her own one time, in parallel tries only one succeeds.
        let (first, second) = tokio::join!(cat.client.view_once(photo.id), cat.client.view_once(photo.id));
        let outcomes = [first.map(|_| 200).unwrap_or_else(status_of), second.map(|_| 200).unwrap_or_else(status_of)];
        let mut sorted = outcomes;
        sorted.sort_unstable();
        assert_eq!(sorted, [200, 410], "{outcomes:?}");

        // The sender cannot open it (as on WhatsApp) and sees it as viewed; nobody forwards it.
        assert_eq!(status_of(ann.client.view_once(photo.id).await.unwrap_err()), 403);
        assert!(seen(&ann.client.history(group, 50, None).await.unwrap().messages));
        let (_, own) = ann.client.private_chat(bob.id).await.unwrap();
        assert_eq!(status_of(bob.client.forward(photo.id, &[own.id]).await.unwrap_err()), 403);
        // An ordinary message is not opened this way; an outsider gets 404.
        let text = ann.client.send_text(group, "plain").await.unwrap();
        assert_eq!(status_of(bob.client.view_once(text.id).await.unwrap_err()), 403);
        let eve = server.sign_up("Eve").await;
        assert_eq!(status_of(eve.client.view_once(photo.id).await.unwrap_err()), 404);
        // Deleted by its sender: gone for those who had not opened it.
        let dan = server.sign_up("Dan").await;
        ann.client.add_members(group, &[dan.id]).await.unwrap();
        let (_, late) = ann
            .client
            .send_media(group, "image", &[("view_once", "1")], "late.jpg", &jpeg(64, 64))
            .await
            .unwrap();
        ann.client.delete_message(late.id).await.unwrap();
        assert_eq!(status_of(dan.client.view_once(late.id).await.unwrap_err()), 410);
    }
}
