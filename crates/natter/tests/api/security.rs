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
        // Profiles by id and contacts added by id or by number (which show the
        // number, or say whether it has an account) share one budget.
        let status = |r: Result<u16, natter_client::Error>| r.unwrap_or_else(|e| e.status().unwrap());
        let lookups = vec![
            status(ann.client.user(others[0].id).await.map(|_| 200)),
            status(ann.client.add_contact(json!({"contact_user_id": others[1].id})).await.map(|(s, _)| s)),
            status(ann.client.add_contact(json!({"phone_number": others[2].phone})).await.map(|(s, _)| s)),
            status(ann.client.add_contact(json!({"phone_number": others[3].phone})).await.map(|(s, _)| s)),
            status(ann.client.user(others[3].id).await.map(|_| 200)),
        ];
        assert_eq!(lookups, vec![200, 201, 201, 429, 429]);
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

/// `count` distinct ids of nobody (far above any id a test creates).
fn unknown_ids(count: usize) -> Vec<i64> {
    (0..count as i64).map(|i| 10_000_000 + i).collect()
}

/// The status and the first error message of `field` for one request.
async fn refusal(
    user: &TestUser,
    path: &str,
    body: serde_json::Value,
    field: &str,
) -> (u16, String) {
    let raw = user
        .client
        .raw(Method::POST, path, Some(body))
        .await
        .unwrap();
    let message = raw.body["errors"][field][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (raw.status, message)
}

// Finding 8: id lists up to the documented 100,000 reach the database in
// chunks (no "too many SQL variables"), longer ones are refused by
// validation, and none is a 500.
backend_tests! {
    async fn long_id_lists_are_a_clean_answer_never_a_500(backend: Backend) {
        let server = TestServer::start_with(backend, |s| s.group_max_members = 100_000).await;
        let (ann, bob, _) = server.pair().await;
        let group = ann.client.create_group("Big", &[]).await.unwrap();
        let add = format!("/api/groups/{}/members", group.id);
        // Past SQLite's 32,766 and PostgreSQL's 65,535 bind parameters: the
        // query is chunked and finds no such user.
        for count in [32_768, 65_537, 99_998] {
            let ids = unknown_ids(count);
            let (status, message) = refusal(&ann, "/api/groups", json!({"name": "g", "participants": ids}), "participants").await;
            assert_eq!(status, 422, "{count} participants: {message}");
            assert!(message.contains("no user"), "{count} participants: {message}");
            let (status, message) = refusal(&ann, &add, json!({"user_ids": ids}), "user_ids").await;
            assert_eq!(status, 422, "{count} user ids: {message}");
            assert!(message.contains("no user"), "{count} user ids: {message}");
        }
        // More distinct users than the group may hold: refused before any query.
        let (status, message) = refusal(&ann, "/api/groups", json!({"name": "g", "participants": unknown_ids(100_000)}), "participants").await;
        assert_eq!((status, message.contains("at most 100000 members")), (422, true), "{message}");
        // Over the documented maximum of entries: 422 from validation.
        let (status, message) = refusal(&ann, "/api/groups", json!({"name": "g", "participants": unknown_ids(100_001)}), "participants").await;
        assert_eq!((status, message.contains("100000")), (422, true), "{message}");
        let (status, message) = refusal(&ann, &add, json!({"user_ids": unknown_ids(100_001)}), "user_ids").await;
        assert_eq!((status, message.contains("100000")), (422, true), "{message}");
        // A long list of real users (repeated) is one member each.
        let repeated = vec![bob.id; 65_537];
        let created = ann.client.raw(Method::POST, "/api/groups", Some(json!({"name": "g", "participants": repeated}))).await.unwrap();
        assert_eq!(created.status, 201, "{}", created.body);
        assert_eq!(created.body["participants"].as_array().unwrap().len(), 2);
        let added = ann.client.raw(Method::POST, &add, Some(json!({"user_ids": repeated}))).await.unwrap();
        assert_eq!(added.status, 200, "{}", added.body);
        assert_eq!(added.body["participants"].as_array().unwrap().len(), 2);
    }
}

/// The status line's code of a raw HTTP/1.1 request carrying one header of
/// `header_bytes` bytes (so no client library shapes the request).
async fn status_with_header(url: &str, header_bytes: usize) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "GET /health HTTP/1.1\r\nHost: {address}\r\nX-Padding: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(header_bytes)
    );
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut head = vec![0; 64];
    let read = tokio::time::timeout(WAIT, stream.read(&mut head))
        .await
        .unwrap()
        .unwrap();
    let line = String::from_utf8_lossy(&head[..read]).to_string();
    line.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {line:?}"))
}

/// Finding 10 (last part): request headers are capped at MAX_HEADER_BYTES
/// (431), on raw TCP; hyper's own buffer refuses what is larger still.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_headers_are_capped() {
    let server = TestServer::start(Backend::Sqlite).await;
    let url = server.url();
    assert_eq!(status_with_header(&url, 100).await, 200);
    assert_eq!(status_with_header(&url, 12 * 1024).await, 200);
    assert_eq!(status_with_header(&url, 17 * 1024).await, 431);
    assert_eq!(status_with_header(&url, 200 * 1024).await, 431);
    assert_eq!(status_with_header(&url, 600 * 1024).await, 431);
    // Through a client, the body says why.
    let client = reqwest::Client::new();
    let refused = client
        .get(format!("{url}/api/user"))
        .header("X-Padding", "a".repeat(200 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 431);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("16384"),
        "{body}"
    );
    server.stop().await;
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
