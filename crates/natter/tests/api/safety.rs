//! Safe defaults and what an operator watches: secret files only the owner
//! reads, CORS only for configured origins, security headers on every
//! response, /metrics behind a token or on its own address, 503 with
//! Retry-After while Redis is down, fan-out that resumes after a Redis
//! restart, and the process, pool, writer and fan-out metrics.

use std::time::Duration;

use natter_client::Client;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};

use crate::backend_tests;
use crate::common::process::NatterProcess;
use crate::common::redis_server::RedisServer;
use crate::common::{Backend, TestServer, TestUser, sign_up_at, unique_phone, user_socket};

const WAIT: Duration = Duration::from_secs(5);

/// The value of the first sample of `name` whose labels include every one
/// of `labels` (`pool="read"`), in Prometheus's text format.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
        .find(|line| labels.iter().all(|label| line.contains(label)))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
}

async fn get(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

fn assert_security_headers(headers: &HeaderMap, what: &str) {
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("x-frame-options", "DENY"),
    ] {
        assert_eq!(
            headers.get(name).map(HeaderValue::as_bytes),
            Some(value.as_bytes()),
            "{name} on {what}"
        );
    }
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'"),
        "CSP on {what}: {csp}"
    );
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Generated secrets, the SMS outbox (live codes) and the SQLite database are
/// written 0600, whatever the umask.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_secrets_and_the_outbox_are_the_owners_alone() {
    let server = TestServer::start_with(Backend::Sqlite, |s| {
        s.app_key = None;
        s.reverb_app_secret = None;
    })
    .await;
    let dir = server.storage_dir().to_path_buf();
    server.sign_up("Ann").await;
    for file in [
        "app.key",
        "reverb.secret",
        "natter.db",
        "natter.db-wal",
        "outbox.jsonl",
    ] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    // An existing key made readable by hand is kept (and warned about): a
    // server starting on this folder uses it, and so tokens stay valid.
    let key = std::fs::read_to_string(dir.join("app.key")).unwrap();
    std::fs::set_permissions(
        dir.join("app.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let mut settings = crate::common::test_settings(&dir);
    settings.app_key = None;
    let config = natter::config::Config::resolve(settings).unwrap();
    assert_eq!(config.app_key, key);
    assert_eq!(
        mode(&dir.join("app.key")),
        0o644,
        "warned about, not changed"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_security_headers() {
    let server = TestServer::start(Backend::Sqlite).await;
    let url = server.url();
    let health = get(&format!("{url}/health"), &[]).await;
    assert_security_headers(health.headers(), "/health");
    assert!(
        health.headers().get("strict-transport-security").is_none(),
        "no HSTS over plain HTTP"
    );
    let missing = get(&format!("{url}/api/nothing"), &[]).await;
    assert_eq!(missing.status(), 404);
    assert_security_headers(missing.headers(), "a 404");
    let invalid = reqwest::Client::new()
        .post(format!("{url}/api/auth/send-otp"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), 422);
    assert_security_headers(invalid.headers(), "a 422");
    // The web client keeps its own, fuller policy.
    let page = get(&format!("{url}/"), &[]).await;
    assert_security_headers(page.headers(), "the page");
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    server.stop().await;

    let tls = TestServer::start_with(Backend::Sqlite, |s| {
        s.app_url = "https://chat.example.com".into()
    })
    .await;
    let health = get(&format!("{}/health", tls.url()), &[]).await;
    assert_eq!(
        health.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    tls.stop().await;
}

/// A preflight as a browser sends it before `fetch` with a bearer token.
async fn preflight(url: &str, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(Method::OPTIONS, format!("{url}/api/user/profile"))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_only_the_configured_origins() {
    // Default: no origin is allowed (the page natter serves is same-origin).
    let closed = TestServer::start(Backend::Sqlite).await;
    let answer = preflight(&closed.url(), "https://evil.example").await;
    assert!(
        answer
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let plain = get(
        &format!("{}/health", closed.url()),
        &[("origin", "https://evil.example")],
    )
    .await;
    assert!(plain.headers().get("access-control-allow-origin").is_none());
    closed.stop().await;

    let listed = TestServer::start_with(Backend::Sqlite, |s| {
        s.cors_allowed_origins = vec!["https://app.example.com".into()];
    })
    .await;
    let answer = preflight(&listed.url(), "https://app.example.com").await;
    assert_eq!(
        answer.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let allowed = answer.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(
        allowed.to_lowercase().contains("authorization"),
        "{allowed}"
    );
    let other = preflight(&listed.url(), "https://evil.example").await;
    assert!(other.headers().get("access-control-allow-origin").is_none());
    let plain = get(
        &format!("{}/health", listed.url()),
        &[("origin", "https://app.example.com")],
    )
    .await;
    assert_eq!(
        plain.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let exposed = plain.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(exposed.contains("x-request-id"), "{exposed}");
    listed.stop().await;

    let any = TestServer::start_with(Backend::Sqlite, |s| {
        s.cors_allowed_origins = vec!["*".into()]
    })
    .await;
    let answer = preflight(&any.url(), "https://anyone.example").await;
    assert_eq!(answer.headers()["access-control-allow-origin"], "*");
    any.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_ask_for_a_token() {
    let token = "a-metrics-token-of-some-length";
    let server =
        TestServer::start_with(Backend::Sqlite, |s| s.metrics_token = Some(token.into())).await;
    let url = format!("{}/metrics", server.url());
    let none = get(&url, &[]).await;
    assert_eq!(none.status(), 401);
    assert_eq!(
        none.headers()["www-authenticate"],
        "Bearer realm=\"metrics\""
    );
    assert_eq!(
        none.json::<serde_json::Value>().await.unwrap()["message"],
        "Unauthenticated."
    );
    let wrong = get(
        &url,
        &[("authorization", "Bearer a-metrics-token-of-some-lengtX")],
    )
    .await;
    assert_eq!(wrong.status(), 401);
    let right = get(&url, &[("authorization", &format!("Bearer {token}"))]).await;
    assert_eq!(right.status(), 200);
    assert!(right.text().await.unwrap().contains("natter_build_info"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_live_on_an_address_of_their_own() {
    let server = TestServer::start_with(Backend::Sqlite, |s| {
        s.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let public = get(&format!("{}/metrics", server.url()), &[]).await;
    assert_eq!(public.status(), 404, "not on the public port");
    let addr = server
        .running
        .as_ref()
        .unwrap()
        .metrics_addr
        .expect("bound");
    let private = get(&format!("http://{addr}/metrics"), &[]).await;
    assert_eq!(private.status(), 200);
    assert!(
        private
            .text()
            .await
            .unwrap()
            .contains("process_resident_memory_bytes")
    );
    let elsewhere = get(&format!("http://{addr}/api/user/profile"), &[]).await;
    assert_eq!(elsewhere.status(), 404, "nothing but /metrics there");
    server.stop().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the metrics listener stops with the server"
    );
}

/// Sockets' lives at debug level with their id, user and close code, and a
/// Redis outage logged once (not once a second) with its length when it ends:
/// read from the JSON log of a natter process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_and_redis_outages_are_logged_once_each() {
    let mut redis = RedisServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox.jsonl");
    let node = NatterProcess::spawn(&[
        ("STORAGE_DIR", dir.path().display().to_string()),
        ("REDIS_URL", redis.url()),
        ("REVERB_APP_SECRET", "logs-secret".into()),
        ("APP_KEY", "logs-app-key-that-is-at-least-32-chars".into()),
        ("SMS_DRIVER", "outbox".into()),
        ("SMS_OUTBOX_PATH", outbox.display().to_string()),
        ("LOG_LEVEL", "info,natter=debug".into()),
        ("CLIENT_EVENTS_PER_SECOND", "1".into()),
        ("WS_MAX_FRAME_BYTES", "256".into()),
    ])
    .await;
    let ann = sign_up_at(&Client::new(&node.url), &outbox, "Ann").await;
    let channel = format!("private-user.{}", ann.id);

    // 4301: the second client event within a second; 1009: a frame too large.
    let mut flooding = user_socket(&node.url, &ann).await;
    for _ in 0..2 {
        flooding
            .whisper(&channel, "client-typing", serde_json::json!({}))
            .await
            .unwrap();
    }
    let refused = flooding
        .expect("pusher:error", None, WAIT)
        .await
        .expect("4301");
    assert_eq!(refused.data["code"], 4301);
    flooding.send_text(&"x".repeat(1024)).await.unwrap();
    flooding.drain(Duration::from_secs(1)).await;
    assert_eq!(flooding.closed().map(|c| c.code), Some(1009));
    // 4009: the login that authorised the socket ends.
    let mut signed_out = user_socket(&node.url, &ann).await;
    ann.client.logout().await.unwrap();
    signed_out.drain(Duration::from_secs(2)).await;
    assert_eq!(signed_out.closed().map(|c| c.code), Some(4009));

    // Log lines are read by a task of their own: each may come a little
    // after what the sockets saw, so each is waited for.
    let socket = |entry: &serde_json::Value, id: &str| entry["socket"].as_str() == Some(id);
    for id in [flooding.socket_id(), signed_out.socket_id()] {
        let connected = node.wait_for_log("socket connected", |e| socket(e, id), WAIT);
        assert!(connected.await.is_some(), "{id} connected");
        let subscribed = node.wait_for_log(
            "socket subscribed",
            |e| socket(e, id) && e["user"] == ann.id && e["channel"] == channel.as_str(),
            WAIT,
        );
        assert!(subscribed.await.is_some(), "{id} subscribed");
    }
    let rejected = node.wait_for_log(
        "socket event rejected",
        |e| socket(e, flooding.socket_id()) && e["code"] == 4301,
        WAIT,
    );
    assert!(rejected.await.is_some(), "4301 logged");
    for (id, code) in [(flooding.socket_id(), 1009), (signed_out.socket_id(), 4009)] {
        let closed = node.wait_for_log(
            "socket closed by the server",
            |e| socket(e, id) && e["user"] == ann.id && e["close_code"] == code,
            WAIT,
        );
        assert!(
            closed.await.is_some(),
            "{id} closed with {code}: {:?}",
            node.log_entries("socket closed by the server")
        );
    }

    // Four seconds without Redis: one warning, not four; then its length.
    redis.kill().await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    redis.restart().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while node.log_entries("Redis subscription restored").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no end of the outage logged"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(node.log_entries("Redis subscription lost").len(), 1);
    assert!(node.log_entries("Redis subscription still down").is_empty());
    let restored = &node.log_entries("Redis subscription restored")[0];
    let lasted = restored["down_for_secs"].as_f64().unwrap();
    assert!((3.5..15.0).contains(&lasted), "{restored}");
    assert!(
        restored["failures"].as_u64().unwrap() >= 3,
        "retried about once a second: {restored}"
    );
    node.terminate().await;
}

/// A client of `user` pointed at another node.
fn at(user: &TestUser, url: &str) -> TestUser {
    let mut moved = user.clone();
    moved.client = Client::new(url).with_token(&user.tokens.access_token);
    moved
}

backend_tests! {
    async fn a_redis_outage_is_503_with_retry_after_not_500(backend: Backend) {
        let mut redis = RedisServer::start().await;
        let server = TestServer::start_with(backend, |s| s.redis_url = Some(redis.url())).await;
        server.client.send_otp(&unique_phone(), "1").await.expect("send-otp with Redis up");

        redis.kill().await;
        let started = std::time::Instant::now();
        let err = server.client.send_otp(&unique_phone(), "1").await.expect_err("Redis is down");
        let natter_client::Error::Api { status, body, retry_after } = err else {
            panic!("an HTTP answer: {err}");
        };
        assert_eq!((status, retry_after), (503, Some(5)), "{body}");
        assert_eq!(body, serde_json::json!({"success": false, "message": "Service temporarily unavailable."}));
        assert!(started.elapsed() < Duration::from_secs(3), "answered at once, not after retries");
        let ready = server.client.raw(Method::GET, "/ready", None).await.unwrap();
        assert_eq!((ready.status, ready.body["redis"].as_str()), (503, Some("unreachable")));

        // Back without a restart of natter.
        redis.restart().await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match server.client.send_otp(&unique_phone(), "1").await {
                Ok(_) => break,
                Err(err) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let _ = err;
                }
                Err(err) => panic!("send-otp still fails after Redis came back: {err}"),
            }
        }
        server.stop().await;
    }

    async fn fan_out_resumes_on_its_own_after_redis_restarts(backend: Backend) {
        let mut redis = RedisServer::start().await;
        let a = TestServer::start_with(backend, |s| s.redis_url = Some(redis.url())).await;
        let b = a.start_second(|s| s.redis_url = Some(redis.url())).await;
        let (ann, bob, chat) = a.pair().await;
        let mut bob_on_b = user_socket(&b.url(), &at(&bob, &b.url())).await;
        let before = ann.client.send_text(chat, "before").await.unwrap();
        let got = bob_on_b.expect("App\\Events\\MessageSent", None, WAIT).await.expect("across nodes");
        assert_eq!(got.data["message"]["id"].as_i64(), Some(before.id));

        redis.kill().await;
        // A send needs Redis (its rate limit): refused with 503, not 500.
        let err = ann.client.send_text(chat, "during").await.expect_err("Redis is down");
        assert!(matches!(err, natter_client::Error::Api { status: 503, .. }), "{err}");
        // Long enough for the subscriber on B to have failed a few times.
        tokio::time::sleep(Duration::from_secs(2)).await;
        redis.restart().await;

        // Messages sent after the restart reach B again, with nothing restarted
        // but Redis: the first may go out before B has subscribed again.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let mut attempt = 0;
        let received = loop {
            attempt += 1;
            if let Ok(sent) = ann.client.send_text(chat, &format!("after {attempt}")).await {
                let frames = bob_on_b.drain(Duration::from_millis(500)).await;
                if let Some(frame) = frames.iter().find(|f| {
                    f.event == "App\\Events\\MessageSent" && f.data["message"]["id"].as_i64() == Some(sent.id)
                }) {
                    break frame.clone();
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "no message reached B within 15 s of the restart");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(received.data["message"]["content"].as_str().map(|c| c.starts_with("after")), Some(true));
        b.stop().await;
        a.stop().await;
    }

    async fn metrics_show_the_process_pools_writer_and_fan_out(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let mut socket = user_socket(&server.url(), &bob).await;
        ann.client.send_text(chat, "watched").await.unwrap();
        socket.expect("App\\Events\\MessageSent", None, WAIT).await.expect("delivered");
        let text = get(&format!("{}/metrics", server.url()), &[]).await.text().await.unwrap();
        let value = |name: &str, labels: &[&str]| {
            sample(&text, name, labels).unwrap_or_else(|| panic!("{name} {labels:?} missing:\n{text}"))
        };

        let version = format!("version=\"{}\"", env!("CARGO_PKG_VERSION"));
        assert_eq!(value("natter_build_info", &[&version, "git_sha=\""]), 1.0);

        let rss = value("process_resident_memory_bytes", &[]);
        assert!(rss > 4.0 * 1024.0 * 1024.0 && rss < 64.0 * 1024.0 * 1024.0 * 1024.0, "{rss}");
        assert!(value("process_cpu_seconds_total", &[]) > 0.0);
        let fds = value("process_open_fds", &[]);
        assert!(fds >= 5.0 && fds <= value("process_max_fds", &[]), "{fds}");
        assert!(value("process_threads", &[]) >= 2.0);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        let started = value("process_start_time_seconds", &[]);
        assert!(started <= now + 1.0 && started > now - 86_400.0, "{started} vs {now}");

        // The pools as configured: on SQLite one write connection and the read pool
        // (DB_MAX_CONNECTIONS=4 in the tests), elsewhere one shared pool.
        let pools: &[(&str, f64)] = match backend {
            Backend::Sqlite => &[("write", 1.0), ("read", 4.0)],
            _ => &[("shared", 4.0)],
        };
        for (pool, max) in pools {
            let label = format!("pool=\"{pool}\"");
            assert_eq!(value("natter_db_max_connections", &[&label]), *max);
            let in_use = value("natter_db_connections", &[&label, "state=\"in_use\""]);
            let idle = value("natter_db_connections", &[&label, "state=\"idle\""]);
            assert!(in_use >= 0.0 && idle >= 0.0 && in_use + idle <= *max, "{pool}: {in_use} + {idle}");
        }
        assert!(value("natter_db_acquire_seconds_count", &[]) >= 1.0);
        assert!(value("natter_db_acquire_seconds_bucket", &["le=\"+Inf\""]) >= 1.0);

        // The writer: batches, their duration, and the COMMIT inside.
        assert!(value("natter_writer_batch_size_count", &[]) >= 1.0);
        assert!(value("natter_writer_batch_duration_seconds_count", &[]) >= 1.0);
        let commits = value("natter_log_commit_seconds_count", &[]);
        assert!(commits >= 1.0);
        assert!(value("natter_log_commit_seconds_sum", &[]) / commits < 5.0);
        // The log lock: taken by every log transaction, held at least
        // through the COMMIT that each of them timed.
        assert!(value("natter_log_lock_wait_seconds_count", &[]) >= commits);
        let held = value("natter_log_lock_held_seconds_count", &[]);
        assert!(held >= 1.0);
        assert!(value("natter_log_lock_held_seconds_sum", &[]) >= value("natter_log_commit_seconds_sum", &[]));

        // Commit to socket: observed (the message reached Bob here), and not
        // absurd (the metrics are per process; other tests' servers add to them).
        let delays = value("natter_fanout_delay_seconds_count", &[]);
        assert!(delays >= 1.0);
        let mean = value("natter_fanout_delay_seconds_sum", &[]) / delays;
        assert!((0.0..5.0).contains(&mean), "{mean}");
        server.stop().await;
    }
}
