//! Devices and pushes end to end: register a device, have a message arrive
//! while away, and check what a receiver gets (the webhook signature checked
//! as docs/push.md tells receivers to); no push with a socket open, for a
//! muted chat, or to the sender; one device per token; dead tokens, retries,
//! logout, account deletion; and kill -9 with pushes queued.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use natter::config::{PushDriverKind, Settings};
use natter::db::entities::device;
use natter_client::Client;
use parking_lot::Mutex;
use reqwest::Method;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};

use crate::backend_tests;
use crate::common::process::NatterProcess;
use crate::common::{Backend, TestServer, TestUser, sign_up_at, user_socket};
use crate::push::{Double, Received};

const SECRET: &str = "whsec-devices-0123456789";
/// Long enough for a push that should not come to have come.
pub(crate) const QUIET: Duration = Duration::from_millis(1500);

/// A server pushing through the webhook driver to receivers on 127.0.0.1.
pub(crate) async fn webhook_server(
    backend: Backend,
    tweak: impl FnOnce(&mut Settings),
) -> TestServer {
    TestServer::start_with(backend, |s| {
        s.push_driver = vec![PushDriverKind::Webhook];
        s.push_webhook_secret = Some(SECRET.into());
        s.push_allow_private_targets = true;
        tweak(s);
    })
    .await
}

pub(crate) async fn register(user: &TestUser, body: Value) -> (u16, natter_client::Device) {
    user.client
        .register_device(body)
        .await
        .expect("device registers")
}

pub(crate) async fn webhook_device(user: &TestUser, url: &str) -> i64 {
    let (status, device) = register(user, json!({"platform": "webhook", "token": url})).await;
    assert_eq!(status, 201);
    device.id
}

/// Waits until `done` holds (or fails after `secs`).
pub(crate) async fn eventually(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn to_path<'a>(received: &'a [Received], path: &str) -> Vec<&'a Received> {
    received.iter().filter(|r| r.path == path).collect()
}

/// The receiver's check, as docs/push.md writes it: HMAC-SHA256 of
/// "<timestamp>.<raw body>", compared in constant time, and a fresh timestamp.
fn assert_genuine(request: &Received) {
    let timestamp = request.header("x-natter-timestamp");
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(&request.body);
    let expected = format!(
        "sha256={}",
        hex::encode(natter::secrets::hmac_sha256(SECRET.as_bytes(), &signed))
    );
    assert!(natter::secrets::constant_time_eq(
        &request.header("x-natter-signature"),
        &expected
    ));
    let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().unwrap();
    assert!((0..=30).contains(&age), "fresh timestamp");
}

async fn devices_of(server: &TestServer, user_id: i64) -> u64 {
    device::Entity::find()
        .filter(device::Column::UserId.eq(user_id))
        .count(&server.state().db.read)
        .await
        .unwrap()
}

backend_tests! {
    async fn a_message_to_someone_away_is_one_signed_content_free_push(backend: Backend) {
        let double = Double::start().await;
        let server = webhook_server(backend, |_| {}).await;
        let (ann, bob, chat) = server.pair().await;
        let bob_device = webhook_device(&bob, &format!("{}/bob", double.url)).await;
        webhook_device(&ann, &format!("{}/ann", double.url)).await;

        let message = ann.client.send_text(chat, "a secret nobody else should read").await.unwrap();
        eventually(10, "the push", || !double.received().is_empty()).await;
        tokio::time::sleep(QUIET).await;
        let received = double.take();
        assert_eq!(received.len(), 1, "one push, none to the sender: {received:?}");
        let push = &received[0];
        assert_eq!(push.path, "/bob");
        assert_genuine(push);
        assert_eq!(
            push.json(),
            json!({"type": "message", "chat_id": chat, "message_id": message.id,
                "device_id": bob_device, "sent_at": message.sent_at})
        );
        assert!(!String::from_utf8_lossy(&push.body).contains("secret"));

        // Opted in: the sender's name, still no content.
        register(&bob, json!({"platform": "webhook", "token": format!("{}/bob", double.url), "push_content": true})).await;
        ann.client.send_text(chat, "again").await.unwrap();
        eventually(10, "the second push", || !double.received().is_empty()).await;
        let named = double.take()[0].json();
        assert_eq!(named["sender_name"], "Ann");
        assert!(named.get("content").is_none());

        let metrics = reqwest::get(format!("{}/metrics", server.url())).await.unwrap().text().await.unwrap();
        assert!(metrics.contains(r#"natter_pushes_total{driver="webhook",outcome="sent"}"#), "{metrics}");
        assert!(metrics.contains(r#"natter_push_jobs_total{type="message",outcome="queued"}"#), "{metrics}");
    }

    async fn a_ringing_call_is_pushed_to_the_callee_marked_as_a_call(backend: Backend) {
        let double = Double::start().await;
        let server = webhook_server(backend, |_| {}).await;
        let (ann, bob, chat) = server.pair().await;
        let bob_device = webhook_device(&bob, &format!("{}/bob", double.url)).await;
        webhook_device(&ann, &format!("{}/ann", double.url)).await;
        // Muting a chat silences messages, never a call.
        bob.client.mute(chat, Some("2099-01-01T00:00:00Z")).await.unwrap();

        let call = ann.client.call_user(bob.id, "voice").await.unwrap();
        assert_eq!(call.status, "ringing");
        eventually(10, "the ringing push", || !double.received().is_empty()).await;
        tokio::time::sleep(QUIET).await;
        let received = double.take();
        assert_eq!(received.len(), 1, "one push, to the callee only: {received:?}");
        assert_eq!(received[0].path, "/bob");
        assert_genuine(&received[0]);
        let push = received[0].json();
        assert_eq!(push["type"], "call", "{push}");
        assert_eq!(push["call_id"], call.id);
        assert_eq!(push["chat_id"], chat);
        assert_eq!(push["device_id"], bob_device);
    }

    async fn no_push_while_a_socket_is_open_nor_for_a_muted_chat(backend: Backend) {
        let double = Double::start().await;
        let server = webhook_server(backend, |_| {}).await;
        let (ann, bob, chat) = server.pair().await;
        webhook_device(&bob, &format!("{}/bob", double.url)).await;

        let socket = user_socket(&server.url(), &bob).await;
        ann.client.send_text(chat, "while connected").await.unwrap();
        tokio::time::sleep(QUIET).await;
        assert!(double.received().is_empty(), "no push while a socket is open");
        socket.close().await;

        bob.client.mute(chat, Some("2099-01-01T00:00:00Z")).await.unwrap();
        ann.client.send_text(chat, "while muted").await.unwrap();
        tokio::time::sleep(QUIET).await;
        assert!(double.received().is_empty(), "no push for a muted chat");

        // Away and unmuted: the push comes (so the silences above meant something).
        bob.client.mute(chat, None).await.unwrap();
        ann.client.send_text(chat, "now").await.unwrap();
        eventually(10, "the push", || double.received().len() == 1).await;
    }

    async fn a_token_is_one_device_and_moves_to_the_account_that_registers_it(backend: Backend) {
        let server = webhook_server(backend, |_| {}).await;
        let (ann, bob, _) = server.pair().await;
        let token = json!({"platform": "fcm", "token": "fcm-token:APA91b-1"});
        let (status, first) = register(&bob, token.clone()).await;
        assert_eq!(status, 201);
        let (status, again) = register(&bob, token.clone()).await;
        assert_eq!((status, again.id), (200, first.id));
        assert_eq!(bob.client.devices().await.unwrap().len(), 1);

        let (status, moved) = register(&ann, token).await;
        assert_eq!((status, moved.id), (201, first.id));
        assert!(bob.client.devices().await.unwrap().is_empty());
        assert_eq!(ann.client.devices().await.unwrap()[0].token, "fcm-token:APA91b-1");

        let not_found = bob.client.delete_device(first.id).await.unwrap_err();
        assert!(matches!(not_found, natter_client::Error::Api { status: 404, .. }), "{not_found:?}");
        ann.client.delete_device(first.id).await.unwrap();
        assert!(ann.client.devices().await.unwrap().is_empty());
        let gone = ann.client.delete_device(first.id).await.unwrap_err();
        assert!(matches!(gone, natter_client::Error::Api { status: 404, .. }));

        for (body, field) in [
            (json!({"platform": "carrier-pigeon", "token": "x"}), "platform"),
            (json!({"platform": "fcm", "token": ""}), "token"),
            (json!({"platform": "fcm", "token": "has spaces"}), "token"),
            (json!({"platform": "apns", "token": "not-hex"}), "token"),
            (json!({"platform": "webhook", "token": "not a url"}), "token"),
            (json!({"platform": "webhook", "token": "ftp://127.0.0.1/x"}), "token"),
            (json!({"platform": "webpush", "token": "https://push.example.com/x"}), "p256dh"),
            (json!({"platform": "fcm", "token": "x".repeat(501)}), "token"),
        ] {
            let raw = ann.client.raw(Method::POST, "/api/devices", Some(body.clone())).await.unwrap();
            let (status, answer) = (raw.status, raw.body);
            assert_eq!(status, 422, "{body}: {answer}");
            assert!(answer["errors"][field].is_array(), "{body}: {answer}");
        }
    }

    async fn logout_and_account_deletion_take_the_devices_with_them(backend: Backend) {
        let server = webhook_server(backend, |_| {}).await;
        let bob = server.sign_up("Bob").await;
        let bob_again = server.sign_in(&bob.phone, None).await;
        register(&bob, json!({"platform": "fcm", "token": "phone-token"})).await;
        register(&bob_again, json!({"platform": "fcm", "token": "tablet-token"})).await;
        bob.client.logout().await.unwrap();
        let left: Vec<String> = bob_again.client.devices().await.unwrap().into_iter().map(|d| d.token).collect();
        assert_eq!(left, vec!["tablet-token".to_string()]);
        bob_again.client.delete_account().await.unwrap();
        assert_eq!(devices_of(&server, bob.id).await, 0);
    }

    async fn a_device_registered_while_its_login_logs_out_never_outlives_it(backend: Backend) {
        let server = webhook_server(backend, |_| {}).await;
        let bob = server.sign_up("Bob").await;
        for round in 0..8 {
            let login = server.sign_in(&bob.phone, None).await;
            let body = json!({"platform": "fcm", "token": format!("racing-token-{round}")});
            let (registered, logged_out) = tokio::join!(
                login.client.raw(Method::POST, "/api/devices", Some(body)),
                login.client.logout(),
            );
            let status = registered.unwrap().status;
            assert!(status == 201 || status == 401, "round {round}: {status}");
            logged_out.unwrap();
            assert_eq!(devices_of(&server, bob.id).await, 0, "round {round}: a device outlived its login");
        }
    }

    async fn private_push_targets_are_refused_unless_allowed(backend: Backend) {
        let server = TestServer::start(backend).await;
        let ann = server.sign_up("Ann").await;
        for url in [
            "http://127.0.0.1:9/hook",
            "https://127.0.0.1:9/hook",
            "https://10.1.2.3/hook",
            "https://169.254.169.254/latest",
            "https://[::1]/hook",
            "https://localhost/hook",
        ] {
            let body = json!({"platform": "webhook", "token": url});
            let raw = ann.client.raw(Method::POST, "/api/devices", Some(body)).await.unwrap();
            let (status, answer) = (raw.status, raw.body);
            assert_eq!(status, 422, "{url}: {answer}");
        }
        assert!(ann.client.devices().await.unwrap().is_empty());
    }

    async fn a_dead_fcm_token_removes_the_device(backend: Backend) {
        let double = Double::start().await;
        let dir = tempfile::tempdir().unwrap();
        let account = json!({
            "type": "service_account",
            "project_id": "natter-test",
            "private_key_id": "key-1",
            "private_key": include_str!("fixtures/fcm-test-key.pem"),
            "client_email": "push@natter-test.iam.gserviceaccount.com",
            "token_uri": format!("{}/token", double.url),
        });
        let account_file = dir.path().join("service-account.json");
        std::fs::write(&account_file, account.to_string()).unwrap();
        let server = TestServer::start_with(backend, |s| {
            s.push_driver = vec![PushDriverKind::Fcm];
            s.fcm_service_account_file = Some(account_file.clone());
            s.fcm_api_url = double.url.clone();
        })
        .await;
        let (ann, bob, chat) = server.pair().await;
        register(&bob, json!({"platform": "fcm", "token": "fcm-token-of-an-uninstalled-app"})).await;
        double.reply(200, vec![], r#"{"access_token": "ya29.t", "expires_in": 3599, "token_type": "Bearer"}"#);
        double.reply(404, vec![], r#"{"error": {"code": 404, "status": "NOT_FOUND", "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}}"#);
        ann.client.send_text(chat, "hello?").await.unwrap();
        eventually(10, "the device to go", || double.received().len() >= 2).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while devices_of(&server, bob.id).await > 0 {
            assert!(tokio::time::Instant::now() < deadline, "the dead device was removed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let sent = &double.take()[1];
        assert_eq!(sent.path, "/v1/projects/natter-test/messages:send");
        assert_eq!(sent.json()["message"]["token"], "fcm-token-of-an-uninstalled-app");
        assert!(bob.client.devices().await.unwrap().is_empty());
    }

    async fn a_webhook_answering_503_is_retried_and_each_device_gets_one_push(backend: Backend) {
        let double = Double::start().await;
        let server = webhook_server(backend, |_| {}).await;
        let (ann, bob, chat) = server.pair().await;
        webhook_device(&bob, &format!("{}/phone", double.url)).await;
        webhook_device(&bob, &format!("{}/tablet", double.url)).await;
        // Devices are pushed in order: the phone's answer is 200, the tablet's 503.
        double.reply(200, vec![], "");
        double.reply(503, vec![], "down for a moment");
        ann.client.send_text(chat, "hi").await.unwrap();
        eventually(20, "the retry", || double.received().len() >= 3).await;
        tokio::time::sleep(QUIET).await;
        let received = double.take();
        assert_eq!(to_path(&received, "/phone").len(), 1, "the phone is not pushed twice");
        assert_eq!(to_path(&received, "/tablet").len(), 2, "the tablet is retried: {received:?}");
        for push in &received {
            assert_genuine(push);
        }
        let queued = natter::db::entities::job::Entity::find()
            .count(&server.state().db.read)
            .await
            .unwrap();
        let periodic = 3;
        assert!(queued <= periodic, "the push job finished");
    }
}

/// A webhook receiver that records arrivals and holds each request 1.5 s
/// before answering 200.
#[derive(Clone, Default)]
struct SlowReceiver {
    arrivals: Arc<Mutex<Vec<String>>>,
}

async fn slow(State(receiver): State<SlowReceiver>, request: Request) -> StatusCode {
    let path = request.uri().path().to_string();
    receiver.arrivals.lock().push(path);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    StatusCode::OK
}

async fn slow_receiver() -> (String, SlowReceiver) {
    let receiver = SlowReceiver::default();
    let app = axum::Router::new()
        .fallback(slow)
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, receiver)
}

/// kill -9 while pushes are queued (one at a time going out): after a
/// restart every device gets its push; only the one in flight at the kill
/// may come twice (at least once; the provider's collapse key makes the
/// phone show it once).
async fn pushes_queued_at_a_kill_are_delivered_after_restart(backend: Backend) {
    let (url, receiver) = slow_receiver().await;
    let database = backend.scratch().await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.jsonl");
    let mut settings = vec![
        ("STORAGE_DIR", dir.path().display().to_string()),
        ("SMS_DRIVER", "outbox".into()),
        ("SMS_OUTBOX_PATH", outbox.display().to_string()),
        ("APP_KEY", "push-crash-test-app-key-of-32-characters".into()),
        ("OTP_RATE_PER_IP_PER_HOUR", "10000".into()),
        ("PUSH_DRIVER", "webhook".into()),
        ("PUSH_WEBHOOK_SECRET", SECRET.into()),
        ("PUSH_ALLOW_PRIVATE_TARGETS", "true".into()),
        ("JOB_CONCURRENCY", "1".into()),
        ("JOB_LEASE", "3".into()),
    ];
    if let Some(db) = &database {
        settings.push(("DATABASE_URL", db.url.clone()));
    }
    let mut node = NatterProcess::spawn(&settings).await;
    let client = Client::new(&node.url);
    let ann = sign_up_at(&client, &outbox, "Ann").await;
    let mut members = Vec::new();
    for i in 0..5 {
        let user = sign_up_at(&client, &outbox, &format!("Member {i}")).await;
        let (status, _) = register(
            &user,
            json!({"platform": "webhook", "token": format!("{url}/u{}", user.id)}),
        )
        .await;
        assert_eq!(status, 201);
        members.push(user.id);
    }
    let group = ann.client.create_group("pushes", &members).await.unwrap();
    ann.client.send_text(group.id, "wake up").await.unwrap();
    eventually(20, "pushes to go out", || {
        receiver.arrivals.lock().len() >= 2
    })
    .await;
    node.kill().await;
    // With one push at a time, only the last to arrive can have been cut
    // between its answer and the record that it was sent.
    let in_flight = receiver.arrivals.lock().last().cloned();
    let before_restart = receiver.arrivals.lock().len();
    assert!(
        before_restart < members.len(),
        "pushes were still queued at the kill"
    );

    let node = node.restart().await;
    let every = || {
        let arrivals = receiver.arrivals.lock();
        members.iter().all(|m| arrivals.contains(&format!("/u{m}")))
    };
    eventually(60, "every push after the restart", every).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    node.terminate().await;
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for path in receiver.arrivals.lock().iter() {
        *counts.entry(path.clone()).or_default() += 1;
    }
    for (path, count) in &counts {
        let limit = if Some(path) == in_flight.as_ref() {
            2
        } else {
            1
        };
        assert!(*count <= limit, "{path} got {count} pushes: {counts:?}");
    }
    assert_eq!(counts.len(), members.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_pushes_survive_kill_9() {
    pushes_queued_at_a_kill_are_delivered_after_restart(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pushes_survive_kill_9() {
    if Backend::Postgres.available() {
        pushes_queued_at_a_kill_are_delivered_after_restart(Backend::Postgres).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_pushes_survive_kill_9() {
    if Backend::Mysql.available() {
        pushes_queued_at_a_kill_are_delivered_after_restart(Backend::Mysql).await;
    }
}
