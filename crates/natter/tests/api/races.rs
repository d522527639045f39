//! Races (issue 15, findings 1 and 2): requests that guard a write with a
//! check, fired together many times on every backend. Each round must end in
//! one consistent outcome: the check is made inside the transaction that
//! writes, never on a read that a concurrent write has already overtaken.

use natter_client::{Error, SyncEvent};

use crate::backend_tests;
use crate::common::{TestServer, TestUser};

const ROUNDS: usize = 20;
const DELETED: &str = "App\\Events\\MessageDeleted";
const REACTION: &str = "App\\Events\\ReactionUpdated";

/// The status of a call: 200 for success, the error status otherwise.
fn status<T>(result: &Result<T, Error>) -> u16 {
    match result {
        Ok(_) => 200,
        Err(err) => err
            .status()
            .unwrap_or_else(|| panic!("no HTTP answer: {err}")),
    }
}

/// The names of a message's logged events, in log order.
fn events_of(events: &[SyncEvent], message_id: i64) -> Vec<&str> {
    events
        .iter()
        .filter(|e| {
            e.data["message"]["id"].as_i64() == Some(message_id)
                || e.data["message_id"].as_i64() == Some(message_id)
        })
        .map(|e| e.event.as_str())
        .collect()
}

/// System messages of a group, in history order, as (event, actor).
async fn system_log(viewer: &TestUser, group_id: i64) -> Vec<(String, i64)> {
    let history = viewer.client.history(group_id, 100, None).await.unwrap();
    history
        .messages
        .iter()
        .filter(|m| m.message_type == "system")
        .map(|m| {
            let content = m.content.as_ref().unwrap();
            (
                content["event"].as_str().unwrap().to_string(),
                content["actor_id"].as_i64().unwrap(),
            )
        })
        .collect()
}

backend_tests! {
    async fn an_edit_racing_a_delete_never_resurrects_the_content(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let since = bob.client.sync(0, 1).await.unwrap().next_since;
        let mut ids = Vec::new();
        for round in 0..ROUNDS {
            let message = ann.client.send_text(chat, &format!("draft {round}")).await.unwrap();
            let (edit, delete) = tokio::join!(
                ann.client.edit_message(message.id, "edited"),
                ann.client.delete_message(message.id),
            );
            assert!(matches!(status(&edit), 200 | 403), "edit: {edit:?}");
            assert_eq!(status(&delete), 200, "delete: {delete:?}");
            ids.push(message.id);
        }
        let history = bob.client.history(chat, 100, None).await.unwrap();
        let events = bob.client.sync_all(since).await.unwrap();
        for id in ids {
            let shown = history.messages.iter().find(|m| m.id == id).unwrap();
            assert!(shown.deleted && shown.content.is_none(), "deleted message shows {:?}", shown.content);
            let names = events_of(&events, id);
            assert_eq!(names.last(), Some(&DELETED), "message {id}: {names:?}");
            assert_eq!(names.iter().filter(|n| **n == DELETED).count(), 1, "message {id}: {names:?}");
        }
        server.stop().await;
    }

    async fn a_reaction_racing_a_delete_never_lands_on_the_deleted_message(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let since = ann.client.sync(0, 1).await.unwrap().next_since;
        let mut ids = Vec::new();
        for round in 0..ROUNDS {
            let message = ann.client.send_text(chat, &format!("hello {round}")).await.unwrap();
            let (react, delete) = tokio::join!(
                bob.client.react(message.id, "👍"),
                ann.client.delete_message(message.id),
            );
            assert!(matches!(status(&react), 200 | 403), "react: {react:?}");
            assert_eq!(status(&delete), 200, "delete: {delete:?}");
            ids.push(message.id);
        }
        let history = ann.client.history(chat, 100, None).await.unwrap();
        let events = ann.client.sync_all(since).await.unwrap();
        for id in ids {
            let shown = history.messages.iter().find(|m| m.id == id).unwrap();
            assert!(shown.deleted && shown.reactions.is_empty(), "{shown:?}");
            let names = events_of(&events, id);
            assert_eq!(names.last(), Some(&DELETED), "message {id}: {names:?}");
            assert!(names.iter().all(|n| [DELETED, REACTION, "App\\Events\\MessageSent"].contains(n)));
        }
        server.stop().await;
    }

    async fn concurrent_leaves_leave_once(backend: Backend) {
        let server = TestServer::start(backend).await;
        let ada = server.sign_up("Ada").await;
        let ben = server.sign_up("Ben").await;
        for _ in 0..ROUNDS / 2 {
            let group = ada.client.create_group("Once", &[ben.id]).await.unwrap();
            let leaves = futures::future::join_all((0..10).map(|_| ben.client.leave_group(group.id))).await;
            let statuses: Vec<u16> = leaves.iter().map(status).collect();
            assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
            assert!(statuses.iter().all(|s| matches!(s, 200 | 404)), "{statuses:?}");
            let left: Vec<_> = system_log(&ada, group.id).await.into_iter().filter(|(e, _)| e == "member_left").collect();
            assert_eq!(left, vec![("member_left".to_string(), ben.id)]);
            let members = ada.client.group(group.id).await.unwrap().participants.len();
            assert_eq!(members, 1);
        }
        server.stop().await;
    }

    async fn two_admins_removing_each_other_cannot_both_win(backend: Backend) {
        let server = TestServer::start(backend).await;
        let ada = server.sign_up("Ada").await;
        let ben = server.sign_up("Ben").await;
        let cy = server.sign_up("Cy").await;
        for _ in 0..ROUNDS {
            let group = ada.client.create_group("Duel", &[ben.id, cy.id]).await.unwrap();
            ada.client.set_role(group.id, ben.id, "admin").await.unwrap();
            let (by_ada, by_ben) = tokio::join!(
                ada.client.remove_member(group.id, ben.id),
                ben.client.remove_member(group.id, ada.id),
            );
            let statuses = [status(&by_ada), status(&by_ben)];
            assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
            assert!(statuses.contains(&404), "{statuses:?}");
            let members: Vec<i64> = cy.client.group(group.id).await.unwrap().participants.iter().map(|p| p.user.id).collect();
            assert_eq!(members.len(), 2, "{members:?}");
            let removals: Vec<_> = system_log(&cy, group.id).await.into_iter().filter(|(e, _)| e == "member_removed").collect();
            assert_eq!(removals.len(), 1, "{removals:?}");
        }
        server.stop().await;
    }

    async fn a_role_change_racing_the_actors_removal_is_ordered(backend: Backend) {
        let server = TestServer::start(backend).await;
        let ada = server.sign_up("Ada").await;
        let ben = server.sign_up("Ben").await;
        let cy = server.sign_up("Cy").await;
        for _ in 0..ROUNDS {
            let group = ada.client.create_group("Roles", &[ben.id, cy.id]).await.unwrap();
            ada.client.set_role(group.id, cy.id, "admin").await.unwrap();
            // Cy removes Ada while Ada promotes Ben.
            let (promote, remove) = tokio::join!(
                ada.client.set_role(group.id, ben.id, "admin"),
                cy.client.remove_member(group.id, ada.id),
            );
            assert_eq!(status(&remove), 200, "{remove:?}");
            assert!(matches!(status(&promote), 200 | 404), "{promote:?}");
            let log = system_log(&cy, group.id).await;
            let removed_at = log.iter().position(|(e, _)| e == "member_removed").unwrap();
            let by_ada_after = log[removed_at..].iter().filter(|(e, actor)| e == "role_changed" && *actor == ada.id).count();
            assert_eq!(by_ada_after, 0, "Ada changed a role after her removal: {log:?}");
            let ben_role = cy.client.group(group.id).await.unwrap().participants.iter().find(|p| p.user.id == ben.id).unwrap().role.clone();
            assert_eq!(ben_role == "admin", status(&promote) == 200, "{log:?}");
        }
        server.stop().await;
    }

    async fn a_join_racing_the_groups_closing_is_consistent(backend: Backend) {
        let server = TestServer::start(backend).await;
        let ada = server.sign_up("Ada").await;
        let ben = server.sign_up("Ben").await;
        for _ in 0..ROUNDS {
            let group = ada.client.create_group("Closing", &[]).await.unwrap();
            let (_, code) = ada.client.invite_link(group.id).await.unwrap();
            // Ada is the last member: her leave closes the group.
            let (leave, join) = tokio::join!(ada.client.leave_group(group.id), ben.client.join_group(&code));
            assert_eq!(status(&leave), 200, "{leave:?}");
            match status(&join) {
                200 => {
                    let seen = ben.client.group(group.id).await.unwrap();
                    assert_eq!(seen.participants.len(), 1);
                    assert_eq!(seen.participants[0].role, "admin", "Ben inherits the group");
                }
                404 => {
                    assert_eq!(ben.client.group(group.id).await.unwrap_err().status(), Some(404));
                    let chats = ben.client.chats(1, 100).await.unwrap();
                    assert!(chats.chats.iter().all(|c| c.id != group.id), "a member of a closed group");
                }
                other => panic!("join answered {other}: {join:?}"),
            }
        }
        server.stop().await;
    }
}
