//! Mentions in groups: the ids are stored with the message and shown on it
//! (history, events), only current members can be mentioned (checked when the
//! message is written, so a member removed between two sends is refused the
//! second time), and a mention pushes through a mute.

use serde_json::json;

use crate::backend_tests;
use crate::common::{TestServer, TestUser, refused_on, users};
use crate::devices::{QUIET, eventually, register, webhook_device, webhook_server};
use crate::push::Double;

async fn texts(user: &TestUser, chat: i64) -> Vec<String> {
    user.client
        .history(chat, 50, None)
        .await
        .unwrap()
        .messages
        .iter()
        .filter_map(|m| m.text().map(str::to_string))
        .collect()
}

backend_tests! {
    async fn mentions_are_stored_and_shown_to_every_member(backend: Backend) {
        let server = TestServer::start(backend).await;
        let people = users(&server, &["Ada", "Ben", "Cy"]).await;
        let (ada, ben, cy) = (&people[0], &people[1], &people[2]);
        let group = ada.client.create_group("Team", &[ben.id, cy.id]).await.unwrap();
        let start = ben.client.sync_all(0).await.unwrap().last().map(|e| e.seq).unwrap_or(0);

        let sent = ada.client.send_mention(group.id, "@Ben @Cy lunch?", &[ben.id, cy.id]).await.unwrap();
        assert_eq!(sent.mentions, vec![ben.id, cy.id]);
        let plain = ada.client.send_text(group.id, "no one in particular").await.unwrap();
        assert!(plain.mentions.is_empty());

        let history = ben.client.history(group.id, 50, None).await.unwrap();
        let seen = history.messages.iter().find(|m| m.id == sent.id).unwrap();
        assert_eq!(seen.mentions, vec![ben.id, cy.id], "history shows the ids");
        assert_eq!(seen.text(), Some("@Ben @Cy lunch?"), "the text keeps the display form");
        let event = ben.client.sync_all(start).await.unwrap().into_iter()
            .find(|e| e.event == "App\\Events\\MessageSent" && e.data["message"]["id"] == sent.id)
            .expect("the MessageSent event");
        assert_eq!(event.data["message"]["mentions"], json!([ben.id, cy.id]));

        // An edit keeps them (as WhatsApp does); a delete takes them away.
        let edited = ada.client.edit_message(sent.id, "@Ben @Cy lunch at 1?").await.unwrap();
        assert_eq!(edited.mentions, vec![ben.id, cy.id]);
        ada.client.delete_message(sent.id).await.unwrap();
        let history = cy.client.history(group.id, 50, None).await.unwrap();
        let deleted = history.messages.iter().find(|m| m.id == sent.id).unwrap();
        assert!(deleted.deleted);
        assert!(deleted.mentions.is_empty(), "a deleted message names no one");
    }

    async fn only_current_group_members_can_be_mentioned(backend: Backend) {
        let server = TestServer::start(backend).await;
        let people = users(&server, &["Ada", "Ben", "Cy", "Dee"]).await;
        let (ada, ben, cy, dee) = (&people[0], &people[1], &people[2], &people[3]);
        let group = ada.client.create_group("Team", &[ben.id, cy.id]).await.unwrap();

        let err = ada.client.send_mention(group.id, "@Dee", &[dee.id]).await.unwrap_err();
        refused_on(err, "mentions");
        let err = ada.client.send_mention(group.id, "@Nobody", &[9_999_999]).await.unwrap_err();
        refused_on(err, "mentions");
        let err = ada.client.send_mention(group.id, "@Ben @Ben", &[ben.id, ben.id]).await.unwrap_err();
        refused_on(err, "mentions");
        let many: Vec<i64> = (1..=51).collect();
        let err = ada.client.send_mention(group.id, "everyone", &many).await.unwrap_err();
        refused_on(err, "mentions");
        let (_, private) = ada.client.private_chat(ben.id).await.unwrap();
        let err = ada.client.send_mention(private.id, "@Ben", &[ben.id]).await.unwrap_err();
        refused_on(err, "mentions");
        assert!(texts(ben, private.id).await.is_empty(), "nothing stored in the private chat");

        // Mentioned, then removed: the next mention of them is refused when it
        // is written, and nothing is stored for it.
        ada.client.send_mention(group.id, "@Cy hi", &[cy.id]).await.unwrap();
        ada.client.remove_member(group.id, cy.id).await.unwrap();
        let err = ada.client.send_mention(group.id, "@Cy still there?", &[cy.id]).await.unwrap_err();
        let body = refused_on(err, "mentions");
        assert_eq!(body["message"], "Every mentioned user must be a member of the group.");
        let seen = texts(ben, group.id).await;
        assert!(seen.contains(&"@Cy hi".to_string()));
        assert!(!seen.contains(&"@Cy still there?".to_string()), "{seen:?}");
        // A form (multipart) send takes the same field, as JSON text: stored
        // for a member, refused for someone who is not one.
        let send_form = |mentions: String| {
            let client = ada.client.clone();
            let path = format!("/api/chats/{}/messages", group.id);
            async move {
                let fields = [("message_type", "location"), ("latitude", "1"), ("longitude", "2"), ("mentions", mentions.as_str())];
                client.raw_upload(reqwest::Method::POST, &path, &fields, None).await.unwrap()
            }
        };
        let raw = send_form(format!("[{}]", ben.id)).await;
        assert_eq!(raw.status, 201, "{}", raw.body);
        assert_eq!(raw.body["message"]["mentions"], json!([ben.id]), "{}", raw.body);
        let raw = send_form(format!("[{}]", cy.id)).await;
        assert_eq!(raw.status, 422, "{}", raw.body);
        assert!(raw.body["errors"]["mentions"].is_array(), "{}", raw.body);
    }

    async fn a_mention_pushes_through_a_mute(backend: Backend) {
        let double = Double::start().await;
        let server = webhook_server(backend, |_| {}).await;
        let people = users(&server, &["Ada", "Ben", "Cy"]).await;
        let (ada, ben, cy) = (&people[0], &people[1], &people[2]);
        let group = ada.client.create_group("Loud", &[ben.id, cy.id]).await.unwrap();
        register(ben, json!({"platform": "webhook", "token": format!("{}/ben", double.url), "push_content": true})).await;
        webhook_device(cy, &format!("{}/cy", double.url)).await;
        for member in [ben, cy] {
            member.client.mute(group.id, Some("2099-01-01T00:00:00Z")).await.unwrap();
        }

        let message = ada.client.send_mention(group.id, "@Ben look", &[ben.id]).await.unwrap();
        eventually(10, "the mention's push", || !double.received().is_empty()).await;
        tokio::time::sleep(QUIET).await;
        let received = double.take();
        assert_eq!(received.len(), 1, "the mentioned member only: {received:?}");
        assert_eq!(received[0].path, "/ben");
        let push = received[0].json();
        assert_eq!(push["message_id"], message.id);
        assert_eq!(push["mention"], true, "{push}");
        assert_eq!(push["sender_name"], "Ada");

        // Without content in pushes, a mention still rings, but says nothing of it.
        let message = ada.client.send_mention(group.id, "@Cy you too", &[cy.id]).await.unwrap();
        eventually(10, "the second mention's push", || !double.received().is_empty()).await;
        tokio::time::sleep(QUIET).await;
        let received = double.take();
        assert_eq!(received.len(), 1, "{received:?}");
        assert_eq!(received[0].path, "/cy");
        let push = received[0].json();
        assert_eq!(push["message_id"], message.id);
        assert!(push.get("mention").is_none() && push.get("sender_name").is_none(), "{push}");

        // And a message that mentions no one stays silent for both.
        ada.client.send_text(group.id, "just chatting").await.unwrap();
        tokio::time::sleep(QUIET).await;
        assert!(double.received().is_empty(), "muted and not mentioned: no push");
    }
}
