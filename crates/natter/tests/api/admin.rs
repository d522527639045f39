//! The operator's commands (issue 16): `natter users`, `natter sessions`,
//! `natter stats`. The in-process tests call the functions the commands call,
//! on the server's own state; the last ones run the binary as a separate
//! process beside a server, as an operator does.

use std::time::Duration;

use natter::admin::{sessions, stats, users};
use natter::config::{SessionsAction, UsersAction};

use crate::backend_tests;
use crate::common::process::run_cli;
use crate::common::{Backend, TestServer, TestUser, closed_code, redis_url, user_socket};

/// send-otp (waiting out the resend limit) then verify-otp: the status and
/// message verify-otp answered.
async fn try_sign_in(server: &TestServer, phone: &str) -> Result<(), (u16, String)> {
    loop {
        match server.client.send_otp(phone, "1").await {
            Ok(_) => break,
            Err(err) if err.status() == Some(429) => {
                tokio::time::sleep(Duration::from_millis(500)).await
            }
            Err(err) => panic!("send-otp: {err}"),
        }
    }
    let code = server.last_code(phone);
    match server.client.verify_otp(phone, "1", &code, None).await {
        Ok(_) => Ok(()),
        Err(err) => Err((
            err.status().unwrap_or(0),
            err.body()
                .and_then(|b| b["message"].as_str())
                .unwrap_or("")
                .to_string(),
        )),
    }
}

async fn is_signed_out(user: &TestUser) -> bool {
    matches!(user.client.profile().await, Err(err) if err.status() == Some(401))
}

/// Polls for 401 for a little longer than CACHE_TTL (5 s in the tests).
async fn signed_out_within_cache_ttl(user: &TestUser) -> bool {
    for _ in 0..14 {
        if is_signed_out(user).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    false
}

backend_tests! {
    async fn users_list_show_ban_unban_and_delete(backend: Backend) {
        let server = TestServer::start(backend).await;
        let state = server.state();
        let ann = server.sign_up("Ann").await;
        let bob = server.sign_up("Bob").await;

        let listed = users(state, &UsersAction::List { limit: 10 }).await.unwrap();
        assert!(listed[0].contains("PHONE") && listed[0].contains("BANNED"), "{listed:?}");
        let ann_line = listed.iter().find(|l| l.contains(&ann.phone)).expect("Ann is listed");
        assert!(ann_line.contains("Ann") && ann_line.contains(&ann.id.to_string()), "{ann_line}");
        assert!(ann_line.trim_end().ends_with('-'), "not banned: {ann_line}");
        let newest = users(state, &UsersAction::List { limit: 1 }).await.unwrap();
        assert_eq!(newest.len(), 2, "a header and one user: {newest:?}");
        assert!(newest[1].contains(&bob.phone), "newest first: {newest:?}");

        let by_id = users(state, &UsersAction::Show { user: ann.id.to_string() }).await.unwrap();
        assert!(by_id.iter().any(|l| l.contains(&ann.phone)), "{by_id:?}");
        let by_phone = users(state, &UsersAction::Show { user: ann.phone.clone() }).await.unwrap();
        assert_eq!(by_id, by_phone);
        let unknown = users(state, &UsersAction::Show { user: "987654321".into() }).await;
        assert_eq!(unknown.unwrap_err().to_string(), "no user 987654321");

        // A ban ends Ann's login and closes her socket, and she cannot sign in.
        let mut socket = user_socket(&server.url(), &ann).await;
        let done = users(state, &UsersAction::Ban { id: ann.id }).await.unwrap();
        assert!(done[0].contains("banned"), "{done:?}");
        assert_eq!(closed_code(&mut socket).await, Some(4009), "her socket is closed");
        assert!(is_signed_out(&ann).await, "her token no longer works");
        assert_eq!(
            try_sign_in(&server, &ann.phone).await,
            Err((403, "This account has been banned.".to_string()))
        );
        let listed = users(state, &UsersAction::List { limit: 10 }).await.unwrap();
        let ann_line = listed.iter().find(|l| l.contains(&ann.phone)).unwrap();
        assert!(!ann_line.trim_end().ends_with('-'), "shown banned: {ann_line}");
        let nobody = users(state, &UsersAction::Ban { id: 987_654_321 }).await;
        assert_eq!(nobody.unwrap_err().to_string(), "user not found");

        users(state, &UsersAction::Unban { id: ann.id }).await.unwrap();
        assert_eq!(try_sign_in(&server, &ann.phone).await, Ok(()), "unbanned, she signs in");

        // Deleting Bob is the API's account deletion: signed out, number freed.
        users(state, &UsersAction::Delete { id: bob.id }).await.unwrap();
        assert!(is_signed_out(&bob).await);
        let shown = users(state, &UsersAction::Show { user: bob.id.to_string() }).await.unwrap();
        let deleted = shown.iter().find(|l| l.starts_with("deleted:")).unwrap();
        assert_ne!(deleted.trim_end(), "deleted:   -", "{shown:?}");
        let by_number = users(state, &UsersAction::Show { user: bob.phone.clone() }).await;
        assert!(by_number.is_err(), "the number is free again");
        let twice = users(state, &UsersAction::Delete { id: bob.id }).await;
        assert_eq!(twice.unwrap_err().to_string(), "user not found");
        server.stop().await;
    }

    async fn sessions_revoke_ends_every_login_of_a_user(backend: Backend) {
        let server = TestServer::start(backend).await;
        let ann = server.sign_up("Ann").await;
        let phone_login = server.sign_in(&ann.phone, None).await;
        let bob = server.sign_up("Bob").await;
        let mut socket = user_socket(&server.url(), &ann).await;
        let done = sessions(server.state(), &SessionsAction::Revoke { user: ann.id }).await.unwrap();
        assert!(done[0].contains("revoked"), "{done:?}");
        assert_eq!(closed_code(&mut socket).await, Some(4009));
        assert!(is_signed_out(&ann).await && is_signed_out(&phone_login).await, "both logins ended");
        assert!(!is_signed_out(&bob).await, "nobody else's");
        assert_eq!(try_sign_in(&server, &ann.phone).await, Ok(()), "she may sign in again");
        let nobody = sessions(server.state(), &SessionsAction::Revoke { user: 987_654_321 }).await;
        assert_eq!(nobody.unwrap_err().to_string(), "user not found");
        server.stop().await;
    }

    async fn stats_counts_users_chats_messages_and_sockets_by_node(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, _bob, chat) = server.pair().await;
        for i in 0..3 {
            ann.client.send_text(chat, &format!("counted {i}")).await.unwrap();
        }
        let _socket = user_socket(&server.url(), &ann).await;
        let node = server.state().config.node_id.clone();
        // Nodes report every 5 s.
        let mut lines = Vec::new();
        for _ in 0..60 {
            lines = stats(server.state()).await.unwrap();
            if lines.iter().any(|l| l.starts_with(&node) && l.split_whitespace().nth(1) == Some("1")) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert_eq!(&lines[..4], ["users     2", "chats     1", "messages  3", "sockets   1"], "{lines:?}");
        let row = lines.iter().find(|l| l.starts_with(&node)).expect("this node's line");
        assert_eq!(row.split_whitespace().nth(1), Some("1"), "{lines:?}");
        server.stop().await;
    }
}

/// The settings a command needs to reach `server`'s database.
fn cli_env(server: &TestServer, extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        (
            "DATABASE_URL",
            format!(
                "sqlite://{}?mode=rwc",
                server.storage_dir().join("natter.db").display()
            ),
        ),
        ("STORAGE_DIR", server.storage_dir().display().to_string()),
        (
            "APP_KEY",
            "test-app-key-that-is-at-least-32-characters".into(),
        ),
        ("REVERB_APP_SECRET", "test-reverb-secret".into()),
    ];
    env.extend_from_slice(extra);
    env
}

/// The binary, a process of its own, bans through Redis: the server closes
/// the socket at once, and `natter stats` sees the server's socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_closes_sockets_on_the_nodes_through_redis() {
    let Some(redis) = redis_url() else { return };
    let app_id = format!("admin-{}", natter::secrets::random_token(8));
    let (redis_for_server, app_for_server) = (redis.clone(), app_id.clone());
    let server = TestServer::start_with(Backend::Sqlite, move |settings| {
        settings.redis_url = Some(redis_for_server);
        settings.reverb_app_id = app_for_server;
    })
    .await;
    let ann = server.sign_up("Ann").await;
    let mut socket = user_socket(&server.url(), &ann).await;
    let env = cli_env(&server, &[("REDIS_URL", redis), ("REVERB_APP_ID", app_id)]);

    let node = server.state().config.node_id.clone();
    let mut seen = String::new();
    for _ in 0..30 {
        let out = run_cli(&["stats"], &env).await;
        assert!(out.success, "{}", out.stderr);
        seen = out.stdout;
        if seen
            .lines()
            .any(|l| l.starts_with(&node) && l.split_whitespace().nth(1) == Some("1"))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(seen.contains("users     1"), "{seen}");
    assert!(
        seen.lines()
            .any(|l| l.starts_with(&node) && l.split_whitespace().nth(1) == Some("1")),
        "{seen}"
    );

    let out = run_cli(&["users", "ban", &ann.id.to_string()], &env).await;
    assert!(out.success, "{}", out.stderr);
    assert_eq!(
        closed_code(&mut socket).await,
        Some(4009),
        "the server closed her socket"
    );
    // The bus message that closed the socket also dropped her tokens from the
    // server's cache (and a banned user is refused besides): at once, not
    // after CACHE_TTL.
    assert!(is_signed_out(&ann).await, "the token stops working at once");
    let missing = run_cli(&["users", "ban", "987654321"], &env).await;
    assert!(!missing.success);
    assert_eq!(missing.stderr.trim(), "natter: user not found");
    server.stop().await;
}

/// Without Redis the command cannot reach the server's sockets (docs say so):
/// the revoked tokens stop working within CACHE_TTL (5 s here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_embedded_mode_a_command_line_revoke_ends_the_tokens_within_cache_ttl() {
    let server = TestServer::start(Backend::Sqlite).await;
    let ann = server.sign_up("Ann").await;
    assert!(!is_signed_out(&ann).await, "cached as live");
    let out = run_cli(
        &["sessions", "revoke", &ann.id.to_string()],
        &cli_env(&server, &[]),
    )
    .await;
    assert!(out.success, "{}", out.stderr);
    assert!(
        signed_out_within_cache_ttl(&ann).await,
        "the token stops working within CACHE_TTL"
    );
    server.stop().await;
}
