//! Revocation, bounded socket work and abuse limits (issue 15, findings 3-11):
//! sockets end with their login, a reader that stops reading is dropped,
//! presence follows blocks and privacy, and the limits answer 429.

use std::time::Duration;

use natter_client::socket::PusherSocket;
use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::common::{Backend, TestServer, TestUser};

const KEY: &str = "natter-key";
const WAIT: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(400);
const SENT: &str = "App\\Events\\MessageSent";

async fn socket_of(server: &TestServer, user: &TestUser) -> PusherSocket {
    let mut socket = PusherSocket::connect(&server.url(), KEY).await.unwrap();
    socket
        .subscribe(&user.client, &format!("private-user.{}", user.id))
        .await
        .unwrap();
    socket
}

/// Reads until the server closes the socket; its close code (None: still
/// open after `wait`).
async fn close_code(socket: &mut PusherSocket, wait: Duration) -> Option<u16> {
    let until = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < until {
        if socket
            .next_frame(Duration::from_millis(200))
            .await
            .is_none()
            && let Some(closed) = socket.closed()
        {
            return Some(closed.code);
        }
    }
    None
}

backend_tests! {
    async fn logout_closes_that_logins_sockets_and_no_other(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let phone = ann.phone.clone();
        let second = server.sign_in(&phone, None).await;
        let mut first_socket = socket_of(&server, &ann).await;
        let mut second_socket = socket_of(&server, &second).await;
        ann.client.logout().await.unwrap();
        assert_eq!(close_code(&mut first_socket, WAIT).await, Some(4009));
        bob.client.send_text(chat, "still there?").await.unwrap();
        assert!(second_socket.expect(SENT, None, WAIT).await.is_some(), "the other login keeps its socket");
        // Account deletion ends every socket of the user.
        second.client.delete_account().await.unwrap();
        assert_eq!(close_code(&mut second_socket, WAIT).await, Some(4009));
    }

    async fn refresh_token_reuse_closes_the_sockets_of_that_login(backend: Backend) {
        let server = TestServer::start(backend).await;
        let ann = server.sign_up("Ann").await;
        let mut socket = socket_of(&server, &ann).await;
        let refresher = server.client.with_token(&ann.tokens.refresh_token);
        refresher.refresh().await.unwrap();
        // The rotated token comes back: someone holds a copy.
        assert_eq!(refresher.refresh().await.unwrap_err().status(), Some(401));
        assert_eq!(close_code(&mut socket, WAIT).await, Some(4009));
    }

    async fn a_block_ends_presence_on_the_shared_chat(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let channel = format!("presence-chat.{chat}");
        let mut bob_socket = socket_of(&server, &bob).await;
        bob_socket.subscribe(&bob.client, &channel).await.unwrap();
        let (_, contact) = ann.client.add_contact(json!({"contact_user_id": bob.id})).await.unwrap();
        assert!(ann.client.toggle_block(contact.id).await.unwrap().is_blocked);
        let revoked = bob_socket.expect("natter:subscription_revoked", Some(&channel), WAIT).await;
        assert!(revoked.is_some(), "Bob's presence subscription ends with the block");
        // Ann coming online on the chat is no longer shown to Bob, nor may he rejoin.
        let mut ann_socket = socket_of(&server, &ann).await;
        assert!(ann_socket.subscribe(&ann.client, &channel).await.is_err());
        assert!(bob_socket.subscribe(&bob.client, &channel).await.is_err());
        assert!(bob_socket.expect("pusher_internal:member_added", Some(&channel), QUIET).await.is_none());
    }

    async fn presence_reaches_only_people_the_owner_has_as_contacts(backend: Backend) {
        let server = TestServer::start(backend).await;
        let ann = server.sign_up("Ann").await;
        let fan = server.sign_up("Fan").await;
        let friend = server.sign_up("Friend").await;
        ann.client.update_privacy(json!({"privacy_last_seen": "contacts"})).await.unwrap();
        // Both have Ann; Ann has only Friend.
        for user in [&fan, &friend] {
            user.client.add_contact(json!({"contact_user_id": ann.id})).await.unwrap();
        }
        ann.client.add_contact(json!({"contact_user_id": friend.id})).await.unwrap();
        let mut fan_socket = socket_of(&server, &fan).await;
        let mut friend_socket = socket_of(&server, &friend).await;
        let _ann_socket = socket_of(&server, &ann).await;
        assert!(friend_socket.expect("App\\Events\\UserOnline", None, WAIT).await.is_some());
        assert!(fan_socket.expect("App\\Events\\UserOnline", None, QUIET).await.is_none());
    }

    async fn broadcasting_auth_refuses_another_users_socket(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let ann_socket = socket_of(&server, &ann).await;
        let id = ann_socket.socket_id().to_string();
        let (node, secret) = id.split_once('.').unwrap();
        assert!(secret.len() >= 16, "socket ids are unguessable: {id}");
        let raw = bob.client.raw(Method::POST, "/broadcasting/auth", Some(json!({"socket_id": id, "channel_name": format!("private-chat.{chat}")}))).await.unwrap();
        assert_eq!(raw.status, 403, "{}", raw.body);
        // A closed (or never opened) socket of this node is refused too.
        let raw = bob.client.raw(Method::POST, "/broadcasting/auth", Some(json!({"socket_id": format!("{node}.1"), "channel_name": format!("private-user.{}", bob.id)}))).await.unwrap();
        assert_eq!(raw.status, 403, "{}", raw.body);
        // Channel names are canonical: no leading zeros.
        let raw = bob.client.raw(Method::POST, "/broadcasting/auth", Some(json!({"socket_id": "1.2", "channel_name": format!("private-user.0{}", bob.id)}))).await.unwrap();
        assert_eq!(raw.status, 403, "{}", raw.body);
    }

    async fn otp_checks_premium_numbers_and_lookups_are_limited(backend: Backend) {
        let server = TestServer::start_with(backend, |s| {
            s.otp_verify_per_ip_per_hour = 8;
            s.user_lookups_per_hour = 3;
        })
        .await;
        let ann = server.sign_up("Ann").await;
        let others: Vec<TestUser> = vec![server.sign_up("B").await, server.sign_up("C").await, server.sign_up("D").await, server.sign_up("E").await];
        for number in ["+19005550123", "+449090901234"] {
            let raw = server.client.raw(Method::POST, "/api/auth/send-otp", Some(json!({"phone_number": number, "country_code": "1"}))).await.unwrap();
            assert_eq!(raw.status, 422, "{number}: {}", raw.body);
        }
        let mut statuses = Vec::new();
        for _ in 0..6 {
            let raw = server.client.raw(Method::POST, "/api/auth/verify-otp", Some(json!({"phone_number": "+12125550100", "country_code": "1", "otp": "000000"}))).await.unwrap();
            statuses.push(raw.status);
        }
        // Five sign-ups spent five checks: three wrong codes, then 429.
        assert_eq!(statuses, vec![400, 400, 400, 429, 429, 429]);
        let mut lookups = Vec::new();
        for other in &others {
            lookups.push(ann.client.user(other.id).await.map(|_| 200).unwrap_or_else(|e| e.status().unwrap()));
        }
        assert_eq!(lookups, vec![200, 200, 200, 429]);
        assert!(ann.client.profile().await.is_ok(), "one's own profile is not counted");
    }
}

backend_tests! {
    async fn sends_and_typing_are_limited_per_user(backend: Backend) {
        let server = TestServer::start_with(backend, |s| {
            s.sends_per_minute = 10;
            s.typing_per_minute = 3;
        })
        .await;
        let (ann, bob, chat) = server.pair().await;
        // A burst within the limit passes at once.
        for i in 0..10 {
            ann.client.send_text(chat, &format!("quick {i}")).await.unwrap();
        }
        assert_eq!(ann.client.send_text(chat, "one too many").await.unwrap_err().status(), Some(429));
        assert!(bob.client.send_text(chat, "Bob has his own").await.is_ok());
        let mut typing = Vec::new();
        for _ in 0..4 {
            let raw = ann.client.raw(Method::POST, &format!("/api/chats/{chat}/typing"), Some(json!({"typing": true}))).await.unwrap();
            typing.push(raw.status);
        }
        assert_eq!(typing, vec![202, 202, 202, 429]);
    }
}

/// A client that stops reading is closed within the write deadline and its
/// connection dropped; the open-sockets count comes back down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stops_reading_is_dropped_within_seconds() {
    let server = TestServer::start_with(Backend::Sqlite, |s| {
        s.ws_write_timeout = 2;
        s.ws_outbound_queue = 8;
    })
    .await;
    let (ann, bob, chat) = server.pair().await;
    let stuck = PusherSocket::connect_from(&server.url(), KEY, None, Some(4096))
        .await
        .unwrap();
    let mut stuck = stuck;
    stuck
        .subscribe(&bob.client, &format!("private-user.{}", bob.id))
        .await
        .unwrap();
    let hub = &server.state().realtime.hub;
    assert_eq!(hub.open_count(), 1);
    let text = "z".repeat(60_000);
    let started = std::time::Instant::now();
    for _ in 0..60 {
        ann.client.send_text(chat, &text).await.unwrap();
    }
    // Never read: the server gives up within the deadline (plus the close's own).
    let mut gone = false;
    for _ in 0..100 {
        if hub.open_count() == 0 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "still open after {:?}", started.elapsed());
    // The TCP connection is gone too: reading drains what was buffered, then ends.
    let mut frames = 0;
    while stuck.next_frame(Duration::from_secs(2)).await.is_some() {
        frames += 1;
        assert!(frames < 1_000);
    }
    assert!(
        stuck.closed().is_some() || frames < 60,
        "the connection ended"
    );
    let mut fresh = socket_of(&server, &bob).await;
    ann.client.send_text(chat, "after").await.unwrap();
    assert!(fresh.expect(SENT, None, WAIT).await.is_some());
}

/// Subscriptions per socket and anonymous sockets per address are capped;
/// presence subscriptions are rate limited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_work_is_bounded() {
    let server = TestServer::start_with(Backend::Sqlite, |s| {
        s.ws_max_subscriptions = 5;
        s.ws_max_anonymous_per_ip = 3;
        s.client_events_per_second = 3;
    })
    .await;
    let ip: std::net::IpAddr = "127.0.0.9".parse().unwrap();
    let mut socket = PusherSocket::connect_from(&server.url(), KEY, Some(ip), None)
        .await
        .unwrap();
    for i in 0..5 {
        socket
            .subscribe_with(json!({"channel": format!("news-{i}")}))
            .await
            .unwrap();
    }
    socket
        .send_json(&json!({"event": "pusher:subscribe", "data": {"channel": "news-5"}}))
        .await
        .unwrap();
    let refused = socket
        .expect("pusher:error", None, WAIT)
        .await
        .expect("refused");
    assert_eq!(refused.data["code"].as_i64(), Some(4303), "{}", refused.raw);
    // Three anonymous sockets from one address; the fourth is turned away.
    let _two = PusherSocket::connect_from(&server.url(), KEY, Some(ip), None)
        .await
        .unwrap();
    let _three = PusherSocket::connect_from(&server.url(), KEY, Some(ip), None)
        .await
        .unwrap();
    assert!(
        PusherSocket::connect_from(&server.url(), KEY, Some(ip), None)
            .await
            .is_err()
    );
    let other: std::net::IpAddr = "127.0.0.10".parse().unwrap();
    assert!(
        PusherSocket::connect_from(&server.url(), KEY, Some(other), None)
            .await
            .is_ok()
    );
    // Presence subscribe/unsubscribe churn meets the client-event rate.
    let (ann, _bob, chat) = server.pair().await;
    let mut ann_socket = socket_of(&server, &ann).await;
    let channel = format!("presence-chat.{chat}");
    let mut refused = 0;
    for _ in 0..6 {
        if ann_socket.subscribe(&ann.client, &channel).await.is_err() {
            refused += 1;
        }
        ann_socket.unsubscribe(&channel).await.unwrap();
    }
    assert!(refused >= 2, "{refused} refused");
}
