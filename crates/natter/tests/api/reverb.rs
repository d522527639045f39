//! What a Laravel developer coming from Reverb relies on (issue 17):
//! `X-Socket-ID` (`toOthers()`), `pusher:signin` with `#server-to-user-{id}`,
//! the Pusher HTTP API and webhooks.

use std::time::Duration;

use natter_client::Client;
use natter_client::socket::PusherSocket;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::json;

use crate::backend_tests;
use crate::common::{TestServer, TestUser};

const KEY: &str = "natter-key";
const WAIT: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(400);
const SENT: &str = "App\\Events\\MessageSent";

/// `user`'s client, sending `X-Socket-ID: socket_id` with every request (as
/// laravel-echo's interceptors do).
fn speaking_for(server: &TestServer, user: &TestUser, socket_id: &str) -> Client {
    let mut headers = HeaderMap::new();
    headers.insert("X-Socket-ID", HeaderValue::from_str(socket_id).unwrap());
    let http = Client::http_builder()
        .default_headers(headers)
        .build()
        .unwrap();
    Client::with_http(&server.url(), http).with_token(&user.tokens.access_token)
}

async fn user_socket(server: &TestServer, user: &TestUser) -> PusherSocket {
    let mut socket = PusherSocket::connect(&server.url(), KEY).await.unwrap();
    socket
        .subscribe(&user.client, &format!("private-user.{}", user.id))
        .await
        .unwrap();
    socket
}

backend_tests! {
    async fn x_socket_id_spares_that_socket_only(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        // Two sockets of Ann's (two tabs), both on her user channel and the chat's.
        let mut tab1 = user_socket(&server, &ann).await;
        let mut tab2 = user_socket(&server, &ann).await;
        for tab in [&mut tab1, &mut tab2] {
            tab.subscribe(&ann.client, &format!("private-chat.{chat}")).await.unwrap();
        }
        let mut bob_socket = user_socket(&server, &bob).await;
        let from_tab1 = speaking_for(&server, &ann, tab1.socket_id());

        let message = from_tab1.send_text(chat, "to others").await.unwrap();
        // Tab 2 and Bob hear it; tab 1, which sent it, does not, on any channel.
        for channel in [format!("private-chat.{chat}"), format!("private-user.{}", ann.id)] {
            let got = tab2.expect(SENT, Some(&channel), WAIT).await.unwrap_or_else(|| panic!("{channel}"));
            assert_eq!(got.data["message"]["id"].as_i64(), Some(message.id));
        }
        let got = bob_socket.expect(SENT, None, WAIT).await.unwrap();
        assert_eq!(got.data["message"]["id"].as_i64(), Some(message.id));
        assert!(tab1.drain(QUIET).await.iter().all(|f| f.event != SENT), "the sender's socket is spared");
        // Still in the sync log, for every client.
        let logged = ann.client.sync_all(0).await.unwrap();
        assert!(logged.iter().any(|e| e.event == SENT && e.data["message"]["id"].as_i64() == Some(message.id)));

        // Edits, reactions and receipts go through other paths: spared too.
        from_tab1.edit_message(message.id, "edited").await.unwrap();
        assert!(tab2.expect("App\\Events\\MessageEdited", None, WAIT).await.is_some());
        from_tab1.react(message.id, "👍").await.unwrap();
        assert!(tab2.expect("App\\Events\\ReactionUpdated", None, WAIT).await.is_some());
        let typing = from_tab1.raw(Method::POST, &format!("/api/chats/{chat}/typing"), Some(json!({"typing": true}))).await.unwrap();
        assert_eq!(typing.status, 202);
        assert!(tab2.expect("App\\Events\\UserTyping", None, WAIT).await.is_some());
        let tab1_saw: Vec<String> = tab1.drain(QUIET).await.into_iter().map(|f| f.event).collect();
        assert!(!tab1_saw.iter().any(|e| e.starts_with("App\\Events\\")), "{tab1_saw:?}");
        // Bob's receipt, sent from his socket, reaches Ann's tabs but not his own socket.
        let bob_from_socket = speaking_for(&server, &bob, bob_socket.socket_id());
        bob_socket.drain(QUIET).await;
        bob_from_socket.mark_read(chat, message.id).await.unwrap();
        assert!(tab1.expect("App\\Events\\MessageRead", None, WAIT).await.is_some());

        // A malformed header is ignored: everyone hears the event.
        let garbled = speaking_for(&server, &ann, "not-a-socket");
        garbled.send_text(chat, "to all").await.unwrap();
        assert!(tab1.expect(SENT, None, WAIT).await.is_some());
        assert!(tab2.expect(SENT, None, WAIT).await.is_some());
    }
}
