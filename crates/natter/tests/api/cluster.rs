//! Two natter processes on one PostgreSQL database and one Redis: delivery,
//! presence and typing across nodes, and a node that dies.

use std::time::Duration;

use natter_client::Client;
use natter_client::socket::PusherSocket;
use serde_json::json;

use crate::common::process::NatterProcess;
use crate::common::{Backend, TestUser, closed_code, redis_url, sign_up_at, user_socket};

const KEY: &str = "natter-key";
const WAIT: Duration = Duration::from_secs(5);

/// A user signed up, with a client pointed at `url` (any node will do).
fn at(user: &TestUser, url: &str) -> TestUser {
    let mut moved = user.clone();
    moved.client = Client::new(url).with_token(&user.tokens.access_token);
    moved
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_events_presence_and_typing() {
    let Some(redis) = redis_url() else { return };
    if !Backend::Postgres.available() {
        return;
    }
    let database = Backend::Postgres.scratch().await.expect("scratch database");
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.jsonl");
    let app_id = format!("cluster-{}", natter::secrets::random_token(8));
    let settings = |node: &str| -> Vec<(&'static str, String)> {
        vec![
            ("DATABASE_URL", database.url.clone()),
            ("REDIS_URL", redis.clone()),
            ("REVERB_APP_ID", app_id.clone()),
            ("REVERB_APP_SECRET", "cluster-secret".into()),
            (
                "APP_KEY",
                "cluster-app-key-that-is-at-least-32-chars".into(),
            ),
            ("NODE_ID", node.into()),
            ("SMS_DRIVER", "outbox".into()),
            ("SMS_OUTBOX_PATH", outbox.display().to_string()),
            ("STORAGE_DIR", dir.path().display().to_string()),
            ("OTP_RATE_PER_IP_PER_HOUR", "10000".into()),
        ]
    };
    let node_a = NatterProcess::spawn(&settings("a")).await;
    let mut node_b = NatterProcess::spawn(&settings("b")).await;
    let (a, b) = (node_a.url.clone(), node_b.url.clone());

    let ann = sign_up_at(&Client::new(&a), &outbox, "Ann").await;
    let bob = at(&sign_up_at(&Client::new(&b), &outbox, "Bob").await, &b);
    let friend = sign_up_at(&Client::new(&a), &outbox, "Friend").await;
    friend
        .client
        .add_contact(json!({"contact_user_id": ann.id}))
        .await
        .unwrap();
    let (_, chat) = ann.client.private_chat(bob.id).await.unwrap();

    // A message sent through A reaches Bob's socket on B, once.
    let mut bob_socket = user_socket(&b, &bob).await;
    let sent = ann.client.send_text(chat.id, "across nodes").await.unwrap();
    let got = bob_socket
        .expect("App\\Events\\MessageSent", None, WAIT)
        .await
        .expect("delivered on B");
    assert_eq!(got.data["message"]["id"].as_i64(), Some(sent.id));
    assert!(
        bob_socket
            .drain(Duration::from_millis(300))
            .await
            .iter()
            .all(|f| f.event != "App\\Events\\MessageSent")
    );

    // Presence: Ann on both nodes is one "online"; she is offline only when both go.
    let mut friend_socket = user_socket(&a, &friend).await;
    let ann_on_b = user_socket(&b, &at(&ann, &b)).await;
    let online = friend_socket
        .expect("App\\Events\\UserOnline", None, WAIT)
        .await
        .expect("online seen on A");
    assert_eq!(
        (
            online.data["user_id"].as_i64(),
            online.data["is_online"].as_bool()
        ),
        (Some(ann.id), Some(true))
    );
    let ann_on_a = user_socket(&a, &ann).await;
    ann_on_b.close().await;
    let quiet = friend_socket.drain(Duration::from_millis(500)).await;
    assert!(
        quiet.iter().all(|f| f.event != "App\\Events\\UserOnline"),
        "still online on A: {quiet:?}"
    );
    ann_on_a.close().await;
    let offline = friend_socket
        .expect("App\\Events\\UserOnline", None, WAIT)
        .await
        .expect("offline seen");
    assert_eq!(offline.data["is_online"], false);

    // Typing: a whisper on A reaches B, and not its sender.
    let channel = format!("private-chat.{}", chat.id);
    let mut ann_chat = PusherSocket::connect(&a, KEY).await.unwrap();
    ann_chat.subscribe(&ann.client, &channel).await.unwrap();
    // A chat-channel socket is Ann's socket too: she is online again.
    let online_via_chat = friend_socket
        .expect("App\\Events\\UserOnline", None, WAIT)
        .await
        .expect("online again");
    assert_eq!(online_via_chat.data["is_online"], true);
    let mut bob_chat = PusherSocket::connect(&b, KEY).await.unwrap();
    bob_chat.subscribe(&bob.client, &channel).await.unwrap();
    ann_chat
        .whisper(&channel, "client-typing", json!({"name": "Ann"}))
        .await
        .unwrap();
    let typing = bob_chat
        .expect("client-typing", Some(&channel), WAIT)
        .await
        .expect("whisper crossed nodes");
    assert_eq!(typing.data, json!({"name": "Ann"}));

    // Membership changed on A is seen at once by B's writer, which keeps
    // rosters between batches: a member removed through A can no longer send
    // through B, and what B sends no longer reaches them.
    let group = ann
        .client
        .create_group("Across", &[bob.id, friend.id])
        .await
        .unwrap();
    let friend_on_b = at(&friend, &b);
    bob.client
        .send_text(group.id, "roster read on B")
        .await
        .unwrap();
    friend_on_b
        .client
        .send_text(group.id, "still in")
        .await
        .unwrap();
    ann.client.remove_member(group.id, friend.id).await.unwrap();
    friend_socket.drain(Duration::from_millis(300)).await;
    let refused = friend_on_b
        .client
        .send_text(group.id, "out?")
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(404));
    bob.client
        .send_text(group.id, "after the removal")
        .await
        .unwrap();
    let leaked: Vec<_> = friend_socket
        .drain(Duration::from_millis(500))
        .await
        .into_iter()
        .filter(|f| f.data["message"]["content"] == "after the removal")
        .collect();
    assert!(leaked.is_empty(), "B used a stale roster: {leaked:?}");

    // A node dies with Ann connected only to it: the other node notices and says so.
    ann_chat.close().await;
    bob_chat.close().await;
    let offline_again = friend_socket
        .expect("App\\Events\\UserOnline", None, WAIT)
        .await
        .expect("offline once her chat socket closed");
    assert_eq!(offline_again.data["is_online"], false);
    let _ann_on_b_again = user_socket(&b, &at(&ann, &b)).await;
    let back_online = friend_socket
        .expect("App\\Events\\UserOnline", None, WAIT)
        .await
        .expect("online again");
    assert_eq!(back_online.data["is_online"], true);
    node_b.kill().await;
    let gone = friend_socket
        .expect("App\\Events\\UserOnline", None, Duration::from_secs(40))
        .await;
    let gone = gone
        .unwrap_or_else(|| panic!("offline after the node died ({:?})", friend_socket.closed()));
    assert_eq!(gone.data["is_online"], false);
    assert!(node_a.terminate().await.success());
}

/// The value of a counter line `name{labels} value` in a Prometheus page (0
/// when absent).
fn counter(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn retention_runs(url: &str) -> f64 {
    natter::state::install_tls_provider();
    let page = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    counter(
        &page,
        "natter_job_runs_total{kind=\"sync.retention\",outcome=\"done\"}",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_retention_runs_once_per_period_across_two_nodes() {
    let Some(redis) = redis_url() else { return };
    if !Backend::Postgres.available() {
        return;
    }
    let database = Backend::Postgres.scratch().await.expect("scratch database");
    let dir = tempfile::tempdir().unwrap();
    let app_id = format!("cluster-{}", natter::secrets::random_token(8));
    // The shortest retention: a period of 15 s.
    let period_ms = 15_000;
    let settings = |node: &str| -> Vec<(&'static str, String)> {
        vec![
            ("DATABASE_URL", database.url.clone()),
            ("REDIS_URL", redis.clone()),
            ("REVERB_APP_ID", app_id.clone()),
            ("REVERB_APP_SECRET", "cluster-secret".into()),
            (
                "APP_KEY",
                "cluster-app-key-that-is-at-least-32-chars".into(),
            ),
            ("NODE_ID", node.into()),
            ("STORAGE_DIR", dir.path().display().to_string()),
            ("SYNC_RETENTION", "60".into()),
        ]
    };
    let slot = || natter::clock::now_ms() / period_ms;
    let first = slot();
    let node_a = NatterProcess::spawn(&settings("a")).await;
    let node_b = NatterProcess::spawn(&settings("b")).await;
    // Two slot boundaries after both nodes are up, and time for the last
    // slot's run.
    let until = (slot() + 2) * period_ms + 3_000;
    tokio::time::sleep(Duration::from_millis(
        (until - natter::clock::now_ms()) as u64,
    ))
    .await;
    let runs = retention_runs(&node_a.url).await + retention_runs(&node_b.url).await;
    let slots = (slot() - first + 1) as f64;
    // One run per slot across both nodes (the slot a node started in may have
    // been taken just before by its start-up); once per node would be twice that.
    assert!(
        runs >= 3.0 && runs <= slots && runs >= slots - 1.0,
        "{runs} runs over {slots} slots"
    );
}

/// A logout, or signing a linked device out, on one node closes the login's
/// socket on the other, and its token there at once; a node
/// killed and restarted at once under the same NODE_ID leaves nobody online.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_and_restarted_nodes_across_processes() {
    let Some(redis) = redis_url() else { return };
    if !Backend::Postgres.available() {
        return;
    }
    let database = Backend::Postgres.scratch().await.expect("scratch database");
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.jsonl");
    let app_id = format!("cluster-{}", natter::secrets::random_token(8));
    let settings = |node: &str| -> Vec<(&'static str, String)> {
        vec![
            ("DATABASE_URL", database.url.clone()),
            ("REDIS_URL", redis.clone()),
            ("REVERB_APP_ID", app_id.clone()),
            ("REVERB_APP_SECRET", "cluster-secret".into()),
            (
                "APP_KEY",
                "cluster-app-key-that-is-at-least-32-chars".into(),
            ),
            ("NODE_ID", node.into()),
            ("SMS_DRIVER", "outbox".into()),
            ("SMS_OUTBOX_PATH", outbox.display().to_string()),
            ("STORAGE_DIR", dir.path().display().to_string()),
            ("OTP_RATE_PER_IP_PER_HOUR", "10000".into()),
            ("OTP_VERIFY_PER_IP_PER_HOUR", "10000".into()),
        ]
    };
    let node_a = NatterProcess::spawn(&settings("a")).await;
    let mut node_b = NatterProcess::spawn(&settings("b")).await;
    let (a, b) = (node_a.url.clone(), node_b.url.clone());
    let ann = sign_up_at(&Client::new(&a), &outbox, "Ann").await;
    let friend = sign_up_at(&Client::new(&a), &outbox, "Friend").await;
    friend
        .client
        .add_contact(json!({"contact_user_id": ann.id}))
        .await
        .unwrap();

    // Ann links a laptop; its socket is on B. Her phone signs the laptop out
    // through A (linked devices): the socket on B closes.
    let code = ann.client.create_link_code().await.unwrap();
    let linked = Client::new(&a)
        .link(&code.code, &natter_client::DeviceLabel::default())
        .await
        .unwrap();
    let laptop = TestUser {
        client: Client::new(&b).with_token(&linked.tokens.access_token),
        tokens: linked.tokens,
        ..ann.clone()
    };
    let mut laptop_on_b = user_socket(&b, &laptop).await;
    let sessions = laptop.client.sessions().await.unwrap().sessions;
    let laptop_session = sessions.iter().find(|s| s.current).unwrap().id;
    ann.client.delete_session(laptop_session).await.unwrap();
    assert_eq!(
        closed_code(&mut laptop_on_b).await,
        Some(4009),
        "the signed-out login's socket on the other node is closed"
    );
    // B had the laptop's token cached (its socket and its sessions list went
    // through B): the bus message that closed the socket dropped it too, so
    // B refuses it now, not after CACHE_TTL (5 s).
    let refused = laptop.client.profile().await;
    assert!(
        matches!(&refused, Err(err) if err.status() == Some(401)),
        "the ended login's token is refused on the other node at once: {refused:?}"
    );

    // Ann's socket is on B, authorised through B; she logs out through A.
    let mut on_b = user_socket(&b, &at(&ann, &b)).await;
    ann.client.logout().await.unwrap();
    assert_eq!(
        closed_code(&mut on_b).await,
        Some(4009),
        "the login's socket on the other node is closed"
    );
    let refused = at(&ann, &b).client.profile().await;
    assert!(
        matches!(&refused, Err(err) if err.status() == Some(401)),
        "the logged-out token is refused on the other node at once: {refused:?}"
    );

    // Friend online on B; B is killed and comes straight back as "b".
    let _friend_socket = user_socket(&b, &at(&friend, &b)).await;
    let online = |url: String, viewer: TestUser, id: i64| async move {
        at(&viewer, &url).client.user(id).await.unwrap().is_online
    };
    let viewer = sign_up_at(&Client::new(&a), &outbox, "Viewer").await;
    assert!(online(a.clone(), viewer.clone(), friend.id).await);
    node_b.kill().await;
    let _node_b = NatterProcess::spawn(&settings("b")).await;
    let mut offline = false;
    for _ in 0..50 {
        if !online(a.clone(), viewer.clone(), friend.id).await {
            offline = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(offline, "a restarted node clears what it counted before");
}

/// Presence in a cluster is Redis's: a socket on one node keeps the other
/// node's writer from pushing; once it closes, the push goes out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_push_to_someone_connected_to_the_other_node() {
    let Some(redis) = redis_url() else { return };
    if !Backend::Postgres.available() {
        return;
    }
    let double = crate::push::Double::start().await;
    let database = Backend::Postgres.scratch().await.expect("scratch database");
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.jsonl");
    let app_id = format!("cluster-{}", natter::secrets::random_token(8));
    let settings = |node: &str| -> Vec<(&'static str, String)> {
        vec![
            ("DATABASE_URL", database.url.clone()),
            ("REDIS_URL", redis.clone()),
            ("REVERB_APP_ID", app_id.clone()),
            ("REVERB_APP_SECRET", "cluster-secret".into()),
            (
                "APP_KEY",
                "cluster-app-key-that-is-at-least-32-chars".into(),
            ),
            ("NODE_ID", node.into()),
            ("SMS_DRIVER", "outbox".into()),
            ("SMS_OUTBOX_PATH", outbox.display().to_string()),
            ("STORAGE_DIR", dir.path().display().to_string()),
            ("OTP_RATE_PER_IP_PER_HOUR", "10000".into()),
            ("PUSH_DRIVER", "webhook".into()),
            ("PUSH_WEBHOOK_SECRET", "cluster-webhook-secret".into()),
            ("PUSH_ALLOW_PRIVATE_TARGETS", "true".into()),
        ]
    };
    let node_a = NatterProcess::spawn(&settings("a")).await;
    let node_b = NatterProcess::spawn(&settings("b")).await;
    let (a, b) = (node_a.url.clone(), node_b.url.clone());
    let ann = sign_up_at(&Client::new(&a), &outbox, "Ann").await;
    let bob = at(&sign_up_at(&Client::new(&b), &outbox, "Bob").await, &b);
    let (_, chat) = ann.client.private_chat(bob.id).await.unwrap();
    let body = json!({"platform": "webhook", "token": format!("{}/bob", double.url)});
    let (status, _) = bob.client.register_device(body).await.unwrap();
    assert_eq!(status, 201);

    let mut bob_socket = user_socket(&b, &bob).await;
    ann.client.send_text(chat.id, "bob is on B").await.unwrap();
    bob_socket
        .expect("App\\Events\\MessageSent", None, WAIT)
        .await
        .expect("delivered on B");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(double.received().is_empty(), "no push while connected to B");

    bob_socket.close().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    ann.client.send_text(chat.id, "bob is away").await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while double.received().is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the push once away");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(double.received()[0].path, "/bob");
    // The first message enqueued nothing (A's writer asked Redis), rather
    // than a job that found Bob online when it ran.
    let page = |url: String| async move {
        reqwest::get(format!("{url}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let (page_a, page_b) = (page(a.clone()).await, page(b.clone()).await);
    let series =
        |outcome: &str| format!("natter_push_jobs_total{{type=\"message\",outcome=\"{outcome}\"}}");
    assert_eq!(counter(&page_a, &series("queued")), 1.0, "{page_a}");
    assert_eq!(
        counter(&page_a, &series("skipped")) + counter(&page_b, &series("skipped")),
        0.0
    );
    node_a.terminate().await;
    node_b.terminate().await;
}
