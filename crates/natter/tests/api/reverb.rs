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
use crate::common::{TestServer, TestUser, user_socket};

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

backend_tests! {
    async fn x_socket_id_spares_that_socket_only(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        // Two sockets of Ann's (two tabs), both on her user channel and the chat's.
        let mut tab1 = user_socket(&server.url(), &ann).await;
        let mut tab2 = user_socket(&server.url(), &ann).await;
        for tab in [&mut tab1, &mut tab2] {
            tab.subscribe(&ann.client, &format!("private-chat.{chat}")).await.unwrap();
        }
        let mut bob_socket = user_socket(&server.url(), &bob).await;
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

/// Signs a Pusher HTTP API request as the Pusher server libraries do; returns
/// the path with its signed query.
fn signed(method: &str, path: &str, params: &[(&str, &str)], body: &str) -> String {
    use md5::{Digest, Md5};
    let timestamp = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs())
    .to_string();
    let mut pairs: Vec<(String, String)> = vec![
        ("auth_key".into(), KEY.into()),
        ("auth_timestamp".into(), timestamp),
        ("auth_version".into(), "1.0".into()),
    ];
    if !body.is_empty() {
        pairs.push(("body_md5".into(), hex::encode(Md5::digest(body.as_bytes()))));
    }
    pairs.extend(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    pairs.sort();
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let query = query.join("&");
    let signature = natter::secrets::hmac_sha256_hex(
        b"test-reverb-secret",
        format!("{method}\n{path}\n{query}").as_bytes(),
    );
    format!("{path}?{query}&auth_signature={signature}")
}

/// POSTs a signed JSON body to the Pusher HTTP API of `base`.
async fn api_post(base: &str, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    let body = body.to_string();
    let url = format!("{base}{}", signed("POST", path, &[], &body));
    let response = reqwest::Client::new()
        .post(url)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or_default(),
    )
}

async fn api_get(base: &str, path: &str, params: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let url = format!("{base}{}", signed("GET", path, params, ""));
    let response = reqwest::get(url).await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or_default(),
    )
}

/// A local webhook endpoint: every (X-Pusher-Key, X-Pusher-Signature, body) it receives.
async fn webhook_receiver() -> (
    String,
    tokio::sync::mpsc::UnboundedReceiver<(String, String, String)>,
) {
    use axum::http::HeaderMap;
    let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let sender = sender.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string()
                };
                let _ = sender.send((header("x-pusher-key"), header("x-pusher-signature"), body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, receiver)
}

backend_tests! {
    async fn signin_opens_the_server_to_user_channel(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, _) = server.pair().await;
        let mut socket = PusherSocket::connect(&server.url(), KEY).await.unwrap();
        let channel = format!("#server-to-user-{}", ann.id);
        // Not signed in: refused.
        assert_eq!(socket.subscribe_with(json!({"channel": channel})).await.unwrap_err().status(), Some(403));
        let signin = ann.client.raw(Method::POST, "/api/broadcasting/user-auth", Some(json!({"socket_id": socket.socket_id()}))).await.unwrap();
        assert_eq!(signin.status, 200, "{}", signin.body);
        socket.send_json(&json!({"event": "pusher:signin", "data": {"auth": signin.body["auth"], "user_data": signin.body["user_data"]}})).await.unwrap();
        assert!(socket.expect("pusher:signin_success", None, WAIT).await.is_some());
        socket.subscribe_with(json!({"channel": channel})).await.unwrap();
        // Someone else's user channel stays closed to this socket.
        assert_eq!(socket.subscribe_with(json!({"channel": format!("#server-to-user-{}", bob.id)})).await.unwrap_err().status(), Some(403));
        let (status, _) = api_post(&server.url(), "/apps/natter/events", json!({"name": "invoice-paid", "data": "{\"amount\":42}", "channel": channel})).await;
        assert_eq!(status, 200);
        let got = socket.expect("invoice-paid", Some(&channel), WAIT).await.unwrap();
        assert_eq!(got.data, json!({"amount": 42}));
        // /api/broadcasting/auth is the same endpoint as /broadcasting/auth.
        let auth = ann.client.raw(Method::POST, "/api/broadcasting/auth", Some(json!({"socket_id": socket.socket_id(), "channel_name": format!("private-user.{}", ann.id)}))).await.unwrap();
        assert_eq!(auth.status, 200);
        let refused = bob.client.raw(Method::POST, "/api/broadcasting/auth", Some(json!({"socket_id": socket.socket_id(), "channel_name": format!("private-user.{}", ann.id)}))).await.unwrap();
        assert_eq!(refused.status, 403);
        // terminate_connections closes the user's sockets with 4009.
        let (status, _) = api_post(&server.url(), &format!("/apps/natter/users/{}/terminate_connections", ann.id), json!({})).await;
        assert_eq!(status, 200);
        assert!(socket.expect("pusher:error", None, WAIT).await.is_some());
        assert!(socket.next_frame(WAIT).await.is_none());
        assert_eq!(socket.closed().map(|c| c.code), Some(4009));
    }

    async fn webhooks_are_batched_signed_and_sent_through_the_job_queue(backend: Backend) {
        let (url, mut hooks) = webhook_receiver().await;
        let server = TestServer::start_with(backend, |s| {
            s.pusher.pusher_webhook_url = vec![url.clone()];
        }).await;
        let (ann, _bob, chat) = server.pair().await;
        let mut socket = PusherSocket::connect(&server.url(), KEY).await.unwrap();
        let channel = format!("presence-chat.{chat}");
        socket.subscribe(&ann.client, &channel).await.unwrap();
        socket.whisper(&channel, "client-typing", json!({"typing": true})).await.unwrap();
        socket.unsubscribe(&channel).await.unwrap();
        let mut names = Vec::new();
        while names.len() < 5 {
            let (key, signature, body) = tokio::time::timeout(Duration::from_secs(15), hooks.recv()).await.expect("a webhook").unwrap();
            assert_eq!(key, KEY);
            assert_eq!(signature, natter::secrets::hmac_sha256_hex(b"test-reverb-secret", body.as_bytes()), "signed with the app secret");
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert!(body["time_ms"].as_i64().unwrap() > 0);
            for event in body["events"].as_array().unwrap() {
                assert_eq!(event["channel"], channel.as_str());
                if event["name"] == "client_event" {
                    assert_eq!(event["event"], "client-typing");
                    assert_eq!(event["data"], "{\"typing\":true}");
                    assert_eq!(event["socket_id"], socket.socket_id());
                    assert_eq!(event["user_id"], ann.id.to_string());
                }
                names.push(event["name"].as_str().unwrap().to_string());
            }
        }
        assert_eq!(names, ["channel_occupied", "member_added", "client_event", "member_removed", "channel_vacated"]);
    }
}

/// Two nodes sharing Redis: what the HTTP API publishes on one node reaches
/// sockets on the other; channel counts are the cluster's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_api_publishes_on_every_node() {
    let Some(redis) = crate::common::redis_url() else {
        return;
    };
    let app_id = format!("reverb{}x{}", std::process::id(), rand_suffix());
    let start = |node: &'static str| {
        let (redis, app_id) = (redis.clone(), app_id.clone());
        TestServer::start_with(crate::common::Backend::Sqlite, move |s| {
            s.redis_url = Some(redis);
            s.node_id = Some(node.into());
            s.reverb_app_id = app_id;
        })
    };
    let (a, b) = (start("a").await, start("b").await);
    let mut on_b = PusherSocket::connect(&b.url(), KEY).await.unwrap();
    on_b.subscribe_with(json!({"channel": "news"}))
        .await
        .unwrap();
    let mut also_b = PusherSocket::connect(&b.url(), KEY).await.unwrap();
    also_b
        .subscribe_with(json!({"channel": "news"}))
        .await
        .unwrap();
    let events = format!("/apps/{app_id}/events");
    let (status, answer) = api_post(&a.url(), &events, json!({"name": "Breaking", "data": "{\"n\":1}", "channels": ["news"], "info": "subscription_count", "socket_id": also_b.socket_id()})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"channels": {"news": {"subscription_count": 2}}})
    );
    let got = on_b.expect("Breaking", Some("news"), WAIT).await.unwrap();
    assert_eq!(got.data, json!({"n": 1}));
    assert!(
        also_b
            .drain(QUIET)
            .await
            .iter()
            .all(|f| f.event != "Breaking"),
        "socket_id is spared on its own node"
    );
    let (status, list) = api_get(&a.url(), &format!("/apps/{app_id}/channels"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(list, json!({"channels": {"news": {}}}));
    // Errors, as Pusher answers them.
    let (status, _) = api_post(
        &a.url(),
        &events,
        json!({"name": "x", "data": "y".repeat(10 * 1024 + 1), "channel": "news"}),
    )
    .await;
    assert_eq!(status, 413);
    let stale = format!(
        "{}{}",
        a.url(),
        signed("GET", &format!("/apps/{app_id}/channels"), &[], "")
    )
    .replace("auth_timestamp=1", "auth_timestamp=0");
    assert_eq!(reqwest::get(stale).await.unwrap().status().as_u16(), 401);
    on_b.close().await;
    also_b.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, state) = api_get(
        &a.url(),
        &format!("/apps/{app_id}/channels/news"),
        &[("info", "subscription_count")],
    )
    .await;
    assert_eq!(state, json!({"occupied": false, "subscription_count": 0}));
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}
