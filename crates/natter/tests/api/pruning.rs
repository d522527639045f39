//! Periodic work on the job queue: the kinds every node registers, and the
//! pruning handlers (spent OTP codes, expired tokens, dead sessions) on every
//! backend, run as the runner runs them.

use std::time::Duration;

use natter::db::Db;
use natter::jobs::{Handler, Job};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::backend_tests;
use crate::common::{TestServer, unique_phone};

fn job(kind: &str) -> Job {
    Job {
        id: 0,
        kind: kind.into(),
        payload: json!({"slot": 0, "period_secs": 3600}),
        attempt: 1,
        max_attempts: 10,
        created_at: 0,
    }
}

async fn execute(db: &Db, sql: &str) {
    db.write
        .execute_raw(Statement::from_string(db.backend, sql))
        .await
        .unwrap();
}

async fn count(db: &Db, sql: &str) -> i64 {
    let row = db
        .read
        .query_one_raw(Statement::from_string(db.backend, sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// Waits until the server's own start-up run of `kind` has been scheduled and
/// has finished, so it cannot race the rows a test writes next.
async fn startup_run_done(db: &Db, kind: &str) {
    let scheduled =
        format!("SELECT COUNT(*) FROM job_periods WHERE last_slot > 0 AND kind = '{kind}'");
    let pending = format!("SELECT COUNT(*) FROM jobs WHERE kind = '{kind}'");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while count(db, &scheduled).await == 0 || count(db, &pending).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{kind} ran at start-up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

backend_tests! {
    async fn every_node_schedules_retention_and_pruning_once_per_period(backend: Backend) {
        let server = TestServer::start(backend).await;
        let db = &server.state().db;
        let sql = "SELECT COUNT(*) FROM job_periods WHERE last_slot > 0 AND kind IN \
            ('sync.retention', 'sessions.prune', 'auth.prune_otp_codes')";
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while count(db, sql).await < 3 {
            assert!(tokio::time::Instant::now() < deadline, "each kind scheduled at start-up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn pruning_removes_spent_codes_and_keeps_the_live_one(backend: Backend) {
        let server = TestServer::start(backend).await;
        let db = &server.state().db;
        startup_run_done(db, natter::auth::prune::KIND).await;
        // Used (a sign-up), expired, and live codes.
        server.sign_up("Ann").await;
        let expired = unique_phone();
        server.client.send_otp(&expired, "1").await.unwrap();
        execute(db, &format!("UPDATE otp_codes SET expires_at = 1 WHERE phone_number = '{expired}'")).await;
        let live = unique_phone();
        server.client.send_otp(&live, "1").await.unwrap();
        assert_eq!(count(db, "SELECT COUNT(*) FROM otp_codes").await, 3);

        let prune = natter::auth::prune::PruneOtpCodes { db: db.clone(), max_attempts: 5 };
        prune.run(&job(natter::auth::prune::KIND)).await.unwrap();
        let left = format!("SELECT COUNT(*) FROM otp_codes WHERE phone_number = '{live}'");
        assert_eq!(count(db, "SELECT COUNT(*) FROM otp_codes").await, 1);
        assert_eq!(count(db, &left).await, 1);
        // The live code still signs in.
        let code = server.last_code(&live);
        server.client.verify_otp(&live, "1", &code, Some("Live")).await.unwrap();
    }

    async fn pruning_removes_expired_tokens_and_dead_sessions_but_keeps_reuse_detection(backend: Backend) {
        let server = TestServer::start(backend).await;
        let db = &server.state().db;
        startup_run_done(db, natter::sessions::prune::KIND).await;
        let ann = server.sign_up("Ann").await;
        let bob = server.sign_up("Bob").await;
        let cat = server.sign_up("Cat").await;
        // Ann rotates her pair: the old refresh token is revoked, not expired.
        let old_refresh = server.client.with_token(&ann.tokens.refresh_token);
        let next = old_refresh.refresh().await.unwrap();
        // Bob signs out; every token of Cat's session runs out.
        bob.client.logout().await.unwrap();
        execute(db, &format!("UPDATE access_tokens SET expires_at = 1 WHERE user_id = {}", cat.id)).await;

        let prune = natter::sessions::prune::PruneSessions { db: db.clone() };
        prune.run(&job(natter::sessions::prune::KIND)).await.unwrap();
        for (user, sessions, tokens) in [(ann.id, 1, 4), (bob.id, 0, 0), (cat.id, 0, 0)] {
            let s = count(db, &format!("SELECT COUNT(*) FROM login_sessions WHERE user_id = {user}")).await;
            let t = count(db, &format!("SELECT COUNT(*) FROM access_tokens WHERE user_id = {user}")).await;
            assert_eq!((s, t), (sessions, tokens), "user {user}");
        }
        // Ann's new pair works, and her rotated refresh token, presented again,
        // still ends the session.
        let fresh = server.client.with_token(&next.access_token);
        fresh.profile().await.unwrap();
        assert_eq!(old_refresh.refresh().await.unwrap_err().status(), Some(401));
        assert_eq!(fresh.profile().await.unwrap_err().status(), Some(401));
        // A second run finds what that revocation left dead.
        prune.run(&job(natter::sessions::prune::KIND)).await.unwrap();
        let sql = format!("SELECT COUNT(*) FROM login_sessions WHERE user_id = {}", ann.id);
        assert_eq!(count(db, &sql).await, 0);
    }
}
