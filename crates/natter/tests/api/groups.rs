//! Groups: administration, membership intervals, invite links, receipts with
//! members coming and going, and a 1,024-member group on live sockets.

use std::time::Duration;

use futures::StreamExt;
use natter_client::socket::PusherSocket;
use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::common::{Backend, TestServer, TestUser, users};

const KEY: &str = "natter-key";
const WAIT: Duration = Duration::from_secs(5);
const SENT: &str = "App\\Events\\MessageSent";

fn system_events(history: &natter_client::History) -> Vec<String> {
    history
        .messages
        .iter()
        .filter(|m| m.message_type == "system")
        .map(|m| {
            m.content.as_ref().unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

backend_tests! {
    // Each posts a system message in a chat: a send against
    // SENDS_PER_MINUTE (4 here), so renames or pins cannot flood a chat.
    async fn actions_that_post_a_system_message_count_as_sends(backend: Backend) {
        let server = TestServer::start_with(backend, |s| s.sends_per_minute = 4).await;
        let (ann, bob, chat) = server.pair().await;
        let group = ann.client.create_group("Club", &[bob.id]).await.unwrap();
        let message = ann.client.send_text(chat, "pin me").await.unwrap();
        ann.client.pin(chat, message.id).await.unwrap();
        ann.client.update_group(group.id, json!({"name": "Renamed"})).await.unwrap();
        fn status<T>(result: Result<T, natter_client::Error>) -> Option<u16> {
            result.map(|_| ()).unwrap_err().status()
        }
        assert_eq!(status(ann.client.update_group(group.id, json!({"name": "Again"})).await), Some(429));
        assert_eq!(status(ann.client.set_disappearing(chat, 86_400).await), Some(429));
        ann.client.unpin(chat, message.id).await.expect("unpinning posts nothing");
        assert_eq!(status(ann.client.pin(chat, message.id).await), Some(429));
        assert_eq!(status(ann.client.create_group("Another", &[bob.id]).await), Some(429));
        assert_eq!(status(ann.client.remove_member(group.id, bob.id).await), Some(429));
        let refused = ann.client.update_group(group.id, json!({"name": "Again"})).await.unwrap_err();
        let retry_after = refused.retry_after();
        assert!(retry_after.is_some_and(|s| (1..=60).contains(&s)), "{retry_after:?}");
        let now = ann.client.group(group.id).await.unwrap();
        assert_eq!((now.name.as_deref(), now.participants.len()), (Some("Renamed"), 2), "nothing refused took effect");
        bob.client.send_text(chat, "my own minute").await.expect("each user has their own");
        ann.client.leave_group(group.id).await.expect("leaving is never refused by the limit");
    }

    async fn create_show_update_with_admin_rights(backend: Backend) {
        let server = TestServer::start(backend).await;
        let people = users(&server, &["Ada", "Ben", "Cy"]).await;
        let (ada, ben, cy) = (&people[0], &people[1], &people[2]);
        let group = ada.client.create_group("Climbers", &[ben.id, cy.id]).await.unwrap();
        assert_eq!(group.chat_type, "group");
        assert_eq!(group.name.as_deref(), Some("Climbers"));
        assert_eq!(group.created_by, Some(ada.id));
        let roles: Vec<(i64, String)> = group.participants.iter().map(|p| (p.user.id, p.role.clone())).collect();
        assert!(roles.contains(&(ada.id, "admin".into())) && roles.contains(&(ben.id, "member".into())) && roles.len() == 3);
        assert_eq!(ben.client.group(group.id).await.unwrap().id, group.id);
        let history = ben.client.history(group.id, 10, None).await.unwrap();
        assert_eq!(system_events(&history), vec!["group_created"]);
        let created = &history.messages[0];
        assert_eq!(created.content.as_ref().unwrap()["actor_id"].as_i64(), Some(ada.id));

        assert_eq!(ben.client.update_group(group.id, json!({"name": "Mine"})).await.unwrap_err().status(), Some(403));
        let renamed = ada.client.update_group(group.id, json!({"name": "Boulderers", "description": "Weekends"})).await.unwrap();
        assert_eq!((renamed.name.as_deref(), renamed.description.as_deref()), (Some("Boulderers"), Some("Weekends")));
        assert_eq!(system_events(&cy.client.history(group.id, 10, None).await.unwrap()), vec!["group_created", "group_updated"]);
        for (body, field) in [
            (json!({"participants": []}), "name"),
            (json!({"name": "", "participants": []}), "name"),
            (json!({"name": "x".repeat(101)}), "name"),
            (json!({"name": "ok", "description": "d".repeat(2049)}), "description"),
            (json!({"name": "ok", "participants": [99_999_999]}), "participants"),
            (json!({"name": "ok", "participants": ["a"]}), "participants.0"),
        ] {
            let raw = ada.client.raw(Method::POST, "/api/groups", Some(body.clone())).await.unwrap();
            assert_eq!(raw.status, 422, "{body}: {}", raw.body);
            assert!(raw.body["errors"][field].is_array(), "{body}: {}", raw.body);
        }
        // A private chat is not a group.
        let (_, private) = ada.client.private_chat(ben.id).await.unwrap();
        assert_eq!(ada.client.group(private.id).await.unwrap_err().status(), Some(404));
    }

    async fn members_see_only_their_own_stretch_of_history(backend: Backend) {
        let server = TestServer::start(backend).await;
        let people = users(&server, &["Ada", "Ben", "Cy"]).await;
        let (ada, ben, cy) = (&people[0], &people[1], &people[2]);
        let group = ada.client.create_group("Secret club", &[ben.id]).await.unwrap();
        ada.client.send_text(group.id, "before Cy").await.unwrap();
        let cy_start = cy.client.sync_all(0).await.unwrap().last().map(|e| e.seq).unwrap_or(0);
        ada.client.add_members(group.id, &[cy.id]).await.unwrap();
        ada.client.send_text(group.id, "welcome Cy").await.unwrap();
        let seen: Vec<String> = cy.client.history(group.id, 50, None).await.unwrap().messages.iter()
            .map(|m| m.text().map(str::to_string).unwrap_or_else(|| m.content.as_ref().unwrap()["event"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(seen, vec!["member_added", "welcome Cy"], "no history from before joining");
        let synced: Vec<String> = cy.client.sync_all(cy_start).await.unwrap().iter()
            .filter(|e| e.event == SENT).map(|e| e.data["message"]["content"].to_string()).collect();
        assert!(!synced.iter().any(|c| c.contains("before Cy")), "{synced:?}");

        // Removed: 404 on the group and its history; sync stops at the removal.
        ada.client.remove_member(group.id, cy.id).await.unwrap();
        ada.client.send_text(group.id, "after Cy").await.unwrap();
        assert_eq!(cy.client.history(group.id, 10, None).await.unwrap_err().status(), Some(404));
        assert_eq!(cy.client.group(group.id).await.unwrap_err().status(), Some(404));
        assert_eq!(cy.client.send_text(group.id, "still here?").await.unwrap_err().status(), Some(404));
        let events = cy.client.sync_all(cy_start).await.unwrap();
        let contents: Vec<String> = events.iter().filter(|e| e.event == SENT).map(|e| e.data["message"]["content"].to_string()).collect();
        assert!(contents.iter().any(|c| c.contains("member_removed")), "sees their own removal");
        assert!(!contents.iter().any(|c| c.contains("after Cy")), "nothing after it");
        assert_eq!(events.last().unwrap().event, "App\\Events\\ChatUpdated");

        // Re-added: a new stretch; the gap stays hidden.
        ada.client.add_members(group.id, &[cy.id]).await.unwrap();
        ada.client.send_text(group.id, "back again").await.unwrap();
        let texts: Vec<String> = cy.client.history(group.id, 50, None).await.unwrap().messages.iter().filter_map(|m| m.text().map(str::to_string)).collect();
        assert_eq!(texts, vec!["welcome Cy", "back again"]);
        assert_eq!(cy.client.chats(1, 20).await.unwrap().chats[0].unread_count, 2, "unread counts only what they may see");
    }

    async fn leaving_promotes_the_longest_standing_member_and_empties_close(backend: Backend) {
        let server = TestServer::start(backend).await;
        let people = users(&server, &["Ada", "Ben", "Cy"]).await;
        let (ada, ben, cy) = (&people[0], &people[1], &people[2]);
        let group = ada.client.create_group("Relay", &[ben.id]).await.unwrap();
        ada.client.add_members(group.id, &[cy.id]).await.unwrap();
        assert_eq!(ada.client.leave_group(group.id).await.unwrap(), json!({"success": true}));
        let after = ben.client.group(group.id).await.unwrap();
        let ben_role = after.participants.iter().find(|p| p.user.id == ben.id).unwrap().role.clone();
        assert_eq!(ben_role, "admin", "Ben joined before Cy");
        assert!(after.participants.iter().all(|p| p.user.id != ada.id));
        assert_eq!(system_events(&ben.client.history(group.id, 50, None).await.unwrap()).last().map(String::as_str), Some("role_changed"));
        ben.client.leave_group(group.id).await.unwrap();
        cy.client.leave_group(group.id).await.unwrap();
        assert_eq!(cy.client.group(group.id).await.unwrap_err().status(), Some(404));
        assert_eq!(ada.client.leave_group(group.id).await.unwrap_err().status(), Some(404));
    }

    async fn roles_members_and_limits(backend: Backend) {
        let server = TestServer::start_with(backend, |s| s.group_max_members = 3).await;
        let people = users(&server, &["Ada", "Ben", "Cy", "Dee"]).await;
        let (ada, ben, cy, dee) = (&people[0], &people[1], &people[2], &people[3]);
        let group = ada.client.create_group("Small", &[ben.id]).await.unwrap();
        assert_eq!(ben.client.add_members(group.id, &[cy.id]).await.unwrap_err().status(), Some(403));
        assert_eq!(ben.client.set_role(group.id, ben.id, "admin").await.unwrap_err().status(), Some(403));
        ada.client.add_members(group.id, &[cy.id]).await.unwrap();
        let full = ada.client.add_members(group.id, &[dee.id]).await.unwrap_err();
        assert_eq!(full.status(), Some(422), "over GROUP_MAX_MEMBERS");
        assert!(full.body().unwrap()["errors"]["user_ids"].is_array());
        let err = ada.client.create_group("Too big", &[ben.id, cy.id, dee.id]).await.unwrap_err();
        assert_eq!(err.status(), Some(422));
        let promoted = ada.client.set_role(group.id, ben.id, "admin").await.unwrap();
        assert_eq!(promoted.participants.iter().find(|p| p.user.id == ben.id).unwrap().role, "admin");
        ben.client.remove_member(group.id, cy.id).await.unwrap();
        ben.client.set_role(group.id, ada.id, "member").await.unwrap();
        let last = ben.client.set_role(group.id, ben.id, "member").await.unwrap_err();
        assert_eq!(last.status(), Some(422), "a group keeps an admin");
        assert_eq!(ben.client.remove_member(group.id, dee.id).await.unwrap_err().status(), Some(404));
        let raw = ben.client.raw(Method::PUT, &format!("/api/groups/{}/members/{}/role", group.id, ada.id), Some(json!({"role": "owner"}))).await.unwrap();
        assert_eq!(raw.status, 422);
        assert!(raw.body["errors"]["role"].is_array());
        assert_eq!(system_events(&ben.client.history(group.id, 50, None).await.unwrap()),
            vec!["group_created", "member_added", "role_changed", "member_removed", "role_changed"]);
    }

    async fn invite_links_join_and_revoke(backend: Backend) {
        let server = TestServer::start(backend).await;
        let people = users(&server, &["Ada", "Ben", "Cy"]).await;
        let (ada, ben, cy) = (&people[0], &people[1], &people[2]);
        let group = ada.client.create_group("Open", &[]).await.unwrap();
        let raw = ada.client.raw(Method::POST, &format!("/api/groups/{}/invite-link", group.id), None).await.unwrap();
        assert_eq!(raw.status, 201);
        let code = raw.body["code"].as_str().unwrap().to_string();
        assert!(raw.body["url"].as_str().unwrap().ends_with(&code));
        let joined = ben.client.join_group(&code).await.unwrap();
        assert_eq!(joined.id, group.id);
        assert_eq!(ben.client.join_group(&code).await.unwrap().participants.len(), 2, "joining twice adds nobody");
        assert_eq!(ben.client.invite_link(group.id).await.unwrap_err().status(), Some(403));
        let (fresh, _) = ada.client.invite_link(group.id).await.unwrap();
        assert_eq!(cy.client.join_group(&code).await.unwrap_err().status(), Some(404), "the old code is revoked");
        cy.client.join_group(&fresh).await.unwrap();
        assert_eq!(cy.client.join_group("no-such-code").await.unwrap_err().status(), Some(404));
        assert_eq!(system_events(&ada.client.history(group.id, 50, None).await.unwrap()), vec!["group_created", "member_joined", "member_joined"]);

        // Ben left by himself: the link takes him back. Cy was removed by an
        // admin: it does not (403), until an admin adds him back.
        ben.client.leave_group(group.id).await.unwrap();
        ben.client.join_group(&fresh).await.unwrap();
        ada.client.remove_member(group.id, cy.id).await.unwrap();
        assert_eq!(cy.client.join_group(&fresh).await.unwrap_err().status(), Some(403));
        ada.client.add_members(group.id, &[cy.id]).await.unwrap();
        cy.client.leave_group(group.id).await.unwrap();
        cy.client.join_group(&fresh).await.unwrap();
    }

    async fn receipts_follow_who_is_in_the_group(backend: Backend) {
        let server = TestServer::start(backend).await;
        let people = users(&server, &["Ada", "Ben", "Cy", "Dee"]).await;
        let (ada, ben, cy, dee) = (&people[0], &people[1], &people[2], &people[3]);
        let group = ada.client.create_group("Receipts", &[ben.id, cy.id]).await.unwrap();
        let message = ada.client.send_text(group.id, "did you all get this?").await.unwrap();
        ben.client.mark_read(group.id, message.id).await.unwrap();
        let status = |h: natter_client::History| h.messages.iter().find(|m| m.id == message.id).unwrap().status.clone();
        assert_eq!(status(ada.client.history(group.id, 50, None).await.unwrap()), "sent", "Cy has nothing yet");
        cy.client.mark_delivered(group.id, message.id).await.unwrap();
        assert_eq!(status(ada.client.history(group.id, 50, None).await.unwrap()), "delivered");
        // Dee joins after the message: she is not a recipient of it.
        ada.client.add_members(group.id, &[dee.id]).await.unwrap();
        assert_eq!(status(ada.client.history(group.id, 50, None).await.unwrap()), "delivered");
        let receipts = ada.client.receipts(message.id).await.unwrap();
        let who: Vec<i64> = receipts.receipts.iter().map(|r| r.user_id).collect();
        assert!(who.contains(&ben.id) && who.contains(&cy.id) && !who.contains(&dee.id), "{who:?}");
        // Cy leaves before reading: everyone left has read it.
        cy.client.leave_group(group.id).await.unwrap();
        let history = ada.client.history(group.id, 50, None).await.unwrap();
        let read = history.messages.iter().find(|m| m.id == message.id).unwrap();
        assert_eq!(read.status, "read");
        assert!(read.read_at.is_some());
        assert_eq!(ben.client.chats(1, 20).await.unwrap().chats[0].unread_count, 2, "the system messages after the read");
    }

    async fn blocking_stops_adding_not_group_messages(backend: Backend) {
        let server = TestServer::start(backend).await;
        let people = users(&server, &["Ada", "Ben", "Cy"]).await;
        let (ada, ben, cy) = (&people[0], &people[1], &people[2]);
        let (_, contact) = ben.client.add_contact(json!({"contact_user_id": ada.id})).await.unwrap();
        ben.client.toggle_block(contact.id).await.unwrap();
        assert_eq!(ada.client.create_group("Nope", &[ben.id]).await.unwrap_err().status(), Some(403));
        let group = cy.client.create_group("Both", &[ada.id, ben.id]).await.unwrap();
        ada.client.send_text(group.id, "hello all").await.unwrap();
        let texts: Vec<String> = ben.client.history(group.id, 10, None).await.unwrap().messages.iter().filter_map(|m| m.text().map(str::to_string)).collect();
        assert_eq!(texts, vec!["hello all"], "group messages still flow");
    }

    async fn a_removed_members_sockets_stop_at_once(backend: Backend) {
        let server = TestServer::start(backend).await;
        let people = users(&server, &["Ada", "Ben"]).await;
        let (ada, ben) = (&people[0], &people[1]);
        let group = ada.client.create_group("Live", &[ben.id]).await.unwrap();
        let chat_channel = format!("private-chat.{}", group.id);
        let mut ben_chat = PusherSocket::connect(&server.url(), KEY).await.unwrap();
        ben_chat.subscribe(&ben.client, &chat_channel).await.unwrap();
        let mut ben_user = PusherSocket::connect(&server.url(), KEY).await.unwrap();
        ben_user.subscribe(&ben.client, &format!("private-user.{}", ben.id)).await.unwrap();
        ada.client.send_text(group.id, "still in").await.unwrap();
        assert!(ben_chat.expect(SENT, Some(&chat_channel), WAIT).await.is_some());
        assert!(ben_user.expect(SENT, None, WAIT).await.is_some());
        ada.client.remove_member(group.id, ben.id).await.unwrap();
        let revoked = ben_chat.expect("natter:subscription_revoked", Some(&chat_channel), WAIT).await;
        assert!(revoked.is_some(), "the server ends the subscription");
        ada.client.send_text(group.id, "you are out").await.unwrap();
        let after_chat = ben_chat.drain(Duration::from_millis(500)).await;
        let after_user = ben_user.drain(Duration::from_millis(100)).await;
        let leaked: Vec<_> = after_chat.iter().chain(after_user.iter())
            .filter(|f| f.event == SENT && f.data["message"]["content"] == "you are out").collect();
        assert!(leaked.is_empty(), "{leaked:?}");
        // Nor can the socket subscribe again.
        let err = PusherSocket::connect(&server.url(), KEY).await.unwrap().subscribe(&ben.client, &chat_channel).await.unwrap_err();
        assert_eq!(err.status(), Some(403));
    }

    async fn deleting_an_account_leaves_its_groups(backend: Backend) {
        let server = TestServer::start(backend).await;
        let people = users(&server, &["Ada", "Ben"]).await;
        let (ada, ben) = (&people[0], &people[1]);
        let group = ada.client.create_group("Bye", &[ben.id]).await.unwrap();
        ada.client.delete_account().await.unwrap();
        let after = ben.client.group(group.id).await.unwrap();
        assert_eq!(after.participants.len(), 1);
        assert_eq!(after.participants[0].role, "admin", "the last member left became admin");
    }
}

/// A 1,024-member group created through the API: one message reaches every
/// member's socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_reaches_all_1024_members_online() {
    let server =
        TestServer::start_with(Backend::Sqlite, |s| s.ws_max_anonymous_per_ip = 2_000).await;
    let members: Vec<TestUser> = futures::stream::iter(0..1024)
        .map(|i| {
            let server = &server;
            async move { server.sign_up(&format!("Member {i}")).await }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let owner = &members[0];
    let others: Vec<i64> = members[1..].iter().map(|m| m.id).collect();
    let group = owner
        .client
        .create_group("Everyone", &others)
        .await
        .unwrap();
    assert_eq!(group.participants.len(), 1024);
    let url = server.url();
    let sockets: Vec<PusherSocket> = futures::stream::iter(members.iter())
        .map(|m| {
            let url = url.clone();
            async move {
                let mut socket = PusherSocket::connect(&url, KEY).await.unwrap();
                socket
                    .subscribe(&m.client, &format!("private-user.{}", m.id))
                    .await
                    .unwrap();
                socket
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let message = owner
        .client
        .send_text(group.id, "hello, all 1,024 of you")
        .await
        .unwrap();
    let received = futures::stream::iter(sockets)
        .map(|mut socket| async move {
            loop {
                match socket.next_frame(Duration::from_secs(10)).await {
                    Some(frame)
                        if frame.event == SENT
                            && frame.data["message"]["id"].as_i64() == Some(message.id) =>
                    {
                        return true;
                    }
                    Some(_) => continue,
                    None => return false,
                }
            }
        })
        .buffer_unordered(1024)
        .filter(|got| futures::future::ready(*got))
        .count()
        .await;
    assert_eq!(received, 1024);
}
