//! Linked devices as a user meets them: the list of their logins (name,
//! platform, coarse region, which one is this), signing one out from another
//! (its tokens, push devices and socket go at once), and linking a new device
//! with a short-lived code instead of an SMS.

use std::time::Duration;

use natter::config::PushDriverKind;
use natter::db::entities::login_session;
use natter_client::{DeviceLabel, Session};
use reqwest::Method;
use sea_orm::EntityTrait;
use serde_json::json;

use crate::backend_tests;
use crate::common::{TestServer, TestUser, closed_code, unique_phone, user_socket};

const CHROME_ON_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

fn label(name: &str, platform: &str) -> DeviceLabel {
    DeviceLabel {
        device_name: Some(name.into()),
        platform: Some(platform.into()),
    }
}

/// `user`'s account signed in on a new device through a link code made by `user`.
async fn link_device(server: &TestServer, user: &TestUser, device: &DeviceLabel) -> TestUser {
    let code = user.client.create_link_code().await.expect("a link code");
    let linked = server
        .client
        .link(&code.code, device)
        .await
        .expect("the code links");
    TestUser {
        id: linked.user.id,
        name: linked.user.name.clone(),
        phone: user.phone.clone(),
        client: server.client.with_token(&linked.tokens.access_token),
        tokens: linked.tokens,
    }
}

/// The caller's own entry in their list of logins.
async fn own_session(user: &TestUser) -> Session {
    let list = user.client.sessions().await.expect("sessions");
    list.sessions
        .into_iter()
        .find(|s| s.current)
        .expect("the calling login is listed")
}

/// `last_active_at` as stored.
async fn stored_last_active(server: &TestServer, session_id: i64) -> i64 {
    let row = login_session::Entity::find_by_id(session_id)
        .one(&server.state().db.write)
        .await
        .unwrap();
    row.expect("the session row")
        .last_active_at
        .expect("last_active_at is set")
}

backend_tests! {
    async fn the_list_shows_each_login_with_its_device(backend: Backend) {
        let server = TestServer::start(backend).await;
        let phone_number = unique_phone();
        server.client.send_otp(&phone_number, "1").await.unwrap();
        let code = server.last_code(&phone_number);
        let signed_in = server.client.verify_otp_as(&phone_number, "1", &code, &label("Ann's phone", "ios")).await.unwrap();
        let phone = TestUser {
            id: signed_in.user.id,
            name: signed_in.user.name.clone(),
            phone: phone_number,
            client: server.client.with_token(&signed_in.tokens.access_token),
            tokens: signed_in.tokens,
        };
        let laptop = link_device(&server, &phone, &label("Work laptop", "desktop")).await;
        assert_eq!(laptop.id, phone.id, "a linked device is the same user");
        // A browser that names nothing is named from its User-Agent.
        let code = phone.client.create_link_code().await.unwrap();
        let browser = reqwest::Client::new()
            .post(format!("{}/api/auth/link", server.url()))
            .header("user-agent", CHROME_ON_LINUX)
            .json(&json!({"code": code.code}))
            .send()
            .await
            .unwrap();
        assert_eq!(browser.status(), 200);

        let list = phone.client.sessions().await.unwrap().sessions;
        let seen: Vec<(&str, &str, bool)> =
            list.iter().map(|s| (s.device_name.as_str(), s.platform.as_str(), s.current)).collect();
        assert_eq!(seen.len(), 3, "{seen:?}");
        for expected in [("Ann's phone", "ios", true), ("Work laptop", "desktop", false), ("Chrome on Linux", "web", false)] {
            assert!(seen.contains(&expected), "{expected:?} in {seen:?}");
        }
        for session in &list {
            assert_eq!(session.ip_region.as_deref(), Some("127.0.x.x"), "never the whole address");
        }
        let active: Vec<&str> = list.iter().map(|s| s.last_active_at.as_str()).collect();
        let mut newest_first = active.clone();
        newest_first.sort_by(|a, b| b.cmp(a));
        assert_eq!(active, newest_first, "most recently active first");
        assert!(own_session(&laptop).await.device_name == "Work laptop");

        // What a device may say about itself is checked.
        for (body, field) in [
            (json!({"code": "x", "device_name": "n".repeat(65)}), "device_name"),
            (json!({"code": "x", "platform": "toaster"}), "platform"),
            (json!({"code": ""}), "code"),
        ] {
            let raw = server.client.raw(Method::POST, "/api/auth/link", Some(body.clone())).await.unwrap();
            assert_eq!(raw.status, 422, "{body}: {}", raw.body);
            assert!(raw.body["errors"][field].is_array(), "{body}: {}", raw.body);
        }
        let unauthenticated = server.client.raw(Method::GET, "/api/sessions", None).await.unwrap();
        assert_eq!(unauthenticated.status, 401);
    }

    async fn last_active_moves_but_is_written_at_most_once_a_minute(backend: Backend) {
        let server = TestServer::start(backend).await;
        // Signing in writes the time; the login's first request on this node
        // writes it again, later ones within the minute do not.
        let ann = server.sign_up("Ann").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let session = own_session(&ann).await;
        let created = stored_created_at(&server, session.id).await;
        // The write runs beside the request (never delaying it): wait for it.
        let mut written = stored_last_active(&server, session.id).await;
        for _ in 0..100 {
            if written > created {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            written = stored_last_active(&server, session.id).await;
        }
        assert!(written > created, "the first request moved it ({written} > {created})");
        let listed = own_session(&ann).await.last_active_at;
        for _ in 0..5 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            ann.client.profile().await.unwrap();
        }
        // Time for a write that should not happen to land.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(stored_last_active(&server, session.id).await, written, "one write a minute");
        assert_eq!(own_session(&ann).await.last_active_at, listed);
    }

    async fn another_users_or_an_ended_session_is_404(backend: Backend) {
        let server = TestServer::start(backend).await;
        let ann = server.sign_up("Ann").await;
        let bob = server.sign_up("Bob").await;
        let anns = own_session(&ann).await.id;
        for id in [anns, 9_999_999] {
            let err = bob.client.delete_session(id).await.unwrap_err();
            assert_eq!(err.status(), Some(404), "{id}");
            assert_eq!(err.body().unwrap()["message"], "Session not found");
        }
        ann.client.profile().await.expect("Ann is still signed in");
        let tablet = server.sign_in(&ann.phone, None).await;
        let tablets = own_session(&tablet).await.id;
        tablet.client.logout().await.unwrap();
        assert_eq!(ann.client.delete_session(tablets).await.unwrap_err().status(), Some(404), "already ended");
        let listed: Vec<i64> = ann.client.sessions().await.unwrap().sessions.iter().map(|s| s.id).collect();
        assert_eq!(listed, vec![anns], "an ended login is not listed");
    }

    async fn signing_a_session_out_ends_its_tokens_devices_and_socket(backend: Backend) {
        let server = TestServer::start_with(backend, |s| {
            s.push_driver = vec![PushDriverKind::Webhook];
            s.push_webhook_secret = Some("whsec-sessions-0123456789".into());
        })
        .await;
        let phone = server.sign_up("Ann").await;
        let laptop = link_device(&server, &phone, &label("Laptop", "desktop")).await;
        laptop.client.register_device(json!({"platform": "fcm", "token": "laptop-token"})).await.unwrap();
        phone.client.register_device(json!({"platform": "fcm", "token": "phone-token"})).await.unwrap();
        let mut laptop_socket = user_socket(&server.url(), &laptop).await;
        let mut phone_socket = user_socket(&server.url(), &phone).await;
        let laptops = own_session(&laptop).await.id;

        let answer = phone.client.delete_session(laptops).await.unwrap();
        assert_eq!(answer, json!({"success": true}));
        assert_eq!(closed_code(&mut laptop_socket).await, Some(4009), "its socket closes at once");
        assert_eq!(laptop.client.profile().await.unwrap_err().status(), Some(401));
        let refresher = server.client.with_token(&laptop.tokens.refresh_token);
        assert_eq!(refresher.refresh().await.unwrap_err().status(), Some(401));
        let tokens: Vec<String> = phone.client.devices().await.unwrap().into_iter().map(|d| d.token).collect();
        assert_eq!(tokens, vec!["phone-token".to_string()], "its push devices went with it");
        let _ = phone_socket.next_frame(Duration::from_millis(300)).await;
        assert!(phone_socket.closed().is_none(), "the other login's socket stays");

        // Signing out the calling login is logout.
        let phones = own_session(&phone).await.id;
        phone.client.delete_session(phones).await.unwrap();
        assert_eq!(phone.client.profile().await.unwrap_err().status(), Some(401));
        assert_eq!(closed_code(&mut phone_socket).await, Some(4009));
    }

    async fn a_link_code_signs_one_new_device_in_once(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let started = std::time::SystemTime::now();
        let code = ann.client.create_link_code().await.unwrap();
        assert!(code.code.len() >= 22, "at least 128 random bits: {}", code.code);
        assert_eq!(code.qr_payload, format!("natter://link?code={}", code.code));
        assert!(code.expires_at.as_str() > format_time(started + Duration::from_secs(50)).as_str(), "{}", code.expires_at);
        assert!(code.expires_at.as_str() < format_time(started + Duration::from_secs(70)).as_str(), "{}", code.expires_at);

        let laptop = server.client.link(&code.code, &label("Laptop", "web")).await.unwrap();
        assert!(laptop.success);
        assert_eq!(laptop.user.id, ann.id);
        let laptop_client = server.client.with_token(&laptop.tokens.access_token);
        let chats = laptop_client.chats(1, 20).await.unwrap();
        assert!(chats.chats.iter().any(|c| c.id == chat), "the new device sees Ann's chats");
        let refreshed = server.client.with_token(&laptop.tokens.refresh_token).refresh().await.unwrap();
        server.client.with_token(&refreshed.access_token).profile().await.unwrap();

        // Used, unknown: the same answer, naming nothing.
        let used = server.client.link(&code.code, &DeviceLabel::default()).await.unwrap_err();
        let unknown = server.client.link("NotACodeAnyoneWasGiven", &DeviceLabel::default()).await.unwrap_err();
        assert_eq!(used.status(), Some(422));
        assert_eq!(used.body(), unknown.body());
        assert_eq!(used.body().unwrap()["errors"]["code"][0], "The code is invalid or has expired.");
        assert_eq!(bob.client.sessions().await.unwrap().sessions.len(), 1, "Bob's logins are his own");

        // Without a token there is no code; at most five live at once.
        let anonymous = server.client.raw(Method::POST, "/api/sessions/link-codes", None).await.unwrap();
        assert_eq!(anonymous.status, 401);
        for _ in 0..5 {
            ann.client.create_link_code().await.unwrap();
        }
        let sixth = ann.client.raw(Method::POST, "/api/sessions/link-codes", None).await.unwrap();
        assert_eq!(sixth.status, 429, "{}", sixth.body);
        assert!(sixth.retry_after.is_some_and(|s| (1..=60).contains(&s)), "{:?}", sixth.retry_after);
    }

    async fn an_expired_code_is_refused(backend: Backend) {
        let server = TestServer::start_with(backend, |s| s.link_code_ttl = 1).await;
        let ann = server.sign_up("Ann").await;
        let code = ann.client.create_link_code().await.unwrap();
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let err = server.client.link(&code.code, &DeviceLabel::default()).await.unwrap_err();
        assert_eq!(err.status(), Some(422));
        assert_eq!(ann.client.sessions().await.unwrap().sessions.len(), 1, "no login was opened");
        // Spent codes do not count against the five.
        for _ in 0..5 {
            ann.client.create_link_code().await.unwrap();
        }
    }

    async fn two_devices_racing_with_one_code_one_gets_in(backend: Backend) {
        let server = TestServer::start(backend).await;
        let ann = server.sign_up("Ann").await;
        for round in 0..4 {
            let code = ann.client.create_link_code().await.unwrap();
            let (first, second) = (label("A", "web"), label("B", "web"));
            let (a, b) = tokio::join!(
                server.client.link(&code.code, &first),
                server.client.link(&code.code, &second),
            );
            let statuses = [a.as_ref().err().and_then(|e| e.status()), b.as_ref().err().and_then(|e| e.status())];
            let won = statuses.iter().filter(|s| s.is_none()).count();
            assert_eq!(won, 1, "round {round}: exactly one wins: {a:?} / {b:?}");
            assert!(statuses.contains(&Some(422)), "round {round}: {statuses:?}");
        }
        assert_eq!(ann.client.sessions().await.unwrap().sessions.len(), 5, "one login per round");
    }

    async fn a_code_dies_with_its_maker(backend: Backend) {
        let server = TestServer::start(backend).await;
        // The device that made it signed out.
        let ann = server.sign_up("Ann").await;
        let code = ann.client.create_link_code().await.unwrap();
        ann.client.logout().await.unwrap();
        let err = server.client.link(&code.code, &DeviceLabel::default()).await.unwrap_err();
        assert_eq!(err.status(), Some(422));
        // The account was deleted.
        let bob = server.sign_up("Bob").await;
        let code = bob.client.create_link_code().await.unwrap();
        bob.client.delete_account().await.unwrap();
        let err = server.client.link(&code.code, &DeviceLabel::default()).await.unwrap_err();
        assert_eq!(err.status(), Some(422));
        // The account was banned.
        let cat = server.sign_up("Cat").await;
        let code = cat.client.create_link_code().await.unwrap();
        natter::auth::service::ban(server.state(), cat.id).await.unwrap();
        let err = server.client.link(&code.code, &DeviceLabel::default()).await.unwrap_err();
        assert_eq!(err.status(), Some(403), "a banned account is told so, as by verify-otp: {err}");
        assert!(natter::sessions::service::live_sessions(server.state(), cat.id).await.unwrap().is_empty());
    }

    async fn redeeming_is_rate_limited_per_address(backend: Backend) {
        let server = TestServer::start_with(backend, |s| s.otp_verify_per_ip_per_hour = 3).await;
        for _ in 0..3 {
            let err = server.client.link("guess", &DeviceLabel::default()).await.unwrap_err();
            assert_eq!(err.status(), Some(422));
        }
        let err = server.client.link("guess", &DeviceLabel::default()).await.unwrap_err();
        assert_eq!(err.status(), Some(429));
    }
}

/// `created_at` as stored.
async fn stored_created_at(server: &TestServer, session_id: i64) -> i64 {
    let row = login_session::Entity::find_by_id(session_id)
        .one(&server.state().db.write)
        .await
        .unwrap();
    row.expect("the session row").created_at
}

/// A time as the API writes it.
fn format_time(time: std::time::SystemTime) -> String {
    let ms = time
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    natter::clock::format_ms(ms)
}
