//! Sign-in by phone: OTP codes, tokens, refresh rotation, logout.

use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::common::{Backend, TestServer, unique_phone};

backend_tests! {
    async fn sign_up_then_profile(backend: Backend) {
        let server = TestServer::start(backend).await;
        let phone = unique_phone();
        let national = &phone[2..];
        let sent = server.client.send_otp(national, "+1").await.unwrap();
        assert!(sent.success);
        assert_eq!(sent.message, "OTP sent successfully");
        let code = server.last_code(&phone);
        assert_eq!(code.len(), 6);
        let verified = server.client.verify_otp(national, "1", &code, Some("Ada")).await.unwrap();
        assert_eq!(verified.user.phone_number.as_deref(), Some(phone.as_str()));
        assert_eq!(verified.user.name, "Ada");
        assert_eq!(verified.user.country_code, "1");
        assert!(verified.user.phone_verified_at.is_some());
        let (id, secret) = verified.tokens.access_token.split_once('|').unwrap();
        assert!(id.parse::<i64>().is_ok());
        assert_eq!(secret.len(), 40);
        let me = server.client.with_token(&verified.tokens.access_token).profile().await.unwrap();
        assert_eq!(me, verified.user);
        server.stop().await;
    }

    async fn a_users_country_code_is_their_numbers(backend: Backend) {
        let server = TestServer::start(backend).await;
        // An international number with a code that is not its own ("1" for a
        // UK number): the user gets the number's code, 44.
        let us = unique_phone();
        let uk = format!("+447400{}", &us[us.len() - 6..]);
        server.client.send_otp(&uk, "1").await.unwrap();
        let code = server.last_code(&uk);
        let verified = server.client.verify_otp(&uk, "1", &code, Some("Uma")).await.unwrap();
        assert_eq!(verified.user.phone_number.as_deref(), Some(uk.as_str()));
        assert_eq!(verified.user.country_code, "44");
        server.stop().await;
    }

    async fn codes_die_after_use_and_after_five_wrong_tries(backend: Backend) {
        let server = TestServer::start(backend).await;
        let phone = unique_phone();
        server.client.send_otp(&phone, "1").await.unwrap();
        let code = server.last_code(&phone);
        server.client.verify_otp(&phone, "1", &code, None).await.unwrap();
        let reused = server.client.verify_otp(&phone, "1", &code, None).await.unwrap_err();
        assert_eq!(reused.status(), Some(400));
        assert_eq!(reused.body().unwrap()["message"], "Invalid or expired OTP");
        assert_eq!(reused.body().unwrap()["success"], false);

        let other = unique_phone();
        server.client.send_otp(&other, "1").await.unwrap();
        let code = server.last_code(&other);
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..5 {
            let err = server.client.verify_otp(&other, "1", wrong, None).await.unwrap_err();
            assert_eq!(err.status(), Some(400));
        }
        let too_late = server.client.verify_otp(&other, "1", &code, None).await.unwrap_err();
        assert_eq!(too_late.status(), Some(400), "the right code is dead after 5 wrong tries");
    }

    async fn a_new_code_replaces_the_old_one(backend: Backend) {
        let server = TestServer::start(backend).await;
        let phone = unique_phone();
        server.client.send_otp(&phone, "1").await.unwrap();
        let first = server.last_code(&phone);
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        server.client.send_otp(&phone, "1").await.unwrap();
        let second = server.last_code(&phone);
        if first != second {
            let err = server.client.verify_otp(&phone, "1", &first, None).await.unwrap_err();
            assert_eq!(err.status(), Some(400));
        }
        server.client.verify_otp(&phone, "1", &second, None).await.unwrap();
    }

    async fn expired_codes_are_refused(backend: Backend) {
        let server = TestServer::start_with(backend, |s| s.otp_ttl = 10).await;
        let phone = unique_phone();
        server.client.send_otp(&phone, "1").await.unwrap();
        let code = server.last_code(&phone);
        // Age the code past its expiry directly in the store.
        use sea_orm::{ConnectionTrait, Statement};
        let db = &server.state().db.write;
        db.execute_raw(Statement::from_string(db.get_database_backend(), "UPDATE otp_codes SET expires_at = 1")).await.unwrap();
        let err = server.client.verify_otp(&phone, "1", &code, None).await.unwrap_err();
        assert_eq!(err.status(), Some(400));
    }

    async fn resend_and_hourly_limits_answer_429_with_retry_after(backend: Backend) {
        let server = TestServer::start_with(backend, |s| {
            s.otp_resend_seconds = 60;
            s.otp_rate_per_number_per_hour = 5;
            s.otp_rate_per_ip_per_hour = 3;
        }).await;
        let phone = unique_phone();
        server.client.send_otp(&phone, "1").await.unwrap();
        let again = server.client.send_otp(&phone, "1").await.unwrap_err();
        assert_eq!(again.status(), Some(429));
        assert_eq!(again.body().unwrap()["message"], "Too many requests.");
        let retry_after = again.retry_after().expect("Retry-After header");
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        // The refused request used no quota: two more numbers fit in the IP's 3.
        server.client.send_otp(&unique_phone(), "1").await.unwrap();
        server.client.send_otp(&unique_phone(), "1").await.unwrap();
        let ip_limited = server.client.send_otp(&unique_phone(), "1").await.unwrap_err();
        assert_eq!(ip_limited.status(), Some(429));
    }

    async fn impossible_numbers_are_422(backend: Backend) {
        let server = TestServer::start(backend).await;
        for (number, cc, field) in [("12", "1", "phone_number"), ("hello", "1", "phone_number"), ("4155550123", "999", "country_code")] {
            let err = server.client.send_otp(number, cc).await.unwrap_err();
            assert_eq!(err.status(), Some(422), "{number} {cc}");
            assert!(err.body().unwrap()["errors"][field].is_array(), "{}", err.body().unwrap());
        }
        let raw = server.client.raw(Method::POST, "/api/auth/verify-otp", Some(json!({"phone_number": unique_phone(), "country_code": "1", "otp": "12ab56"}))).await.unwrap();
        assert_eq!(raw.status, 422);
        assert!(raw.body["errors"]["otp"].is_array());
    }

    async fn refresh_rotates_and_reuse_revokes_the_login(backend: Backend) {
        let server = TestServer::start(backend).await;
        let user = server.sign_up("Rey").await;
        let refresher = server.client.with_token(&user.tokens.refresh_token);
        // A refresh token is not an access token, and vice versa.
        assert_eq!(refresher.profile().await.unwrap_err().status(), Some(401));
        assert_eq!(user.client.refresh().await.unwrap_err().status(), Some(401));

        let next = refresher.refresh().await.unwrap();
        assert_ne!(next.access_token, user.tokens.access_token);
        let fresh = server.client.with_token(&next.access_token);
        fresh.profile().await.unwrap();
        // The old access token went with the rotation.
        assert_eq!(user.client.profile().await.unwrap_err().status(), Some(401));

        // Presenting the rotated refresh token again kills the whole login.
        assert_eq!(refresher.refresh().await.unwrap_err().status(), Some(401));
        assert_eq!(fresh.profile().await.unwrap_err().status(), Some(401));
        let next_refresher = server.client.with_token(&next.refresh_token);
        assert_eq!(next_refresher.refresh().await.unwrap_err().status(), Some(401));
    }

    async fn logins_coexist_and_logout_ends_only_its_own(backend: Backend) {
        let server = TestServer::start(backend).await;
        let phone = unique_phone();
        let phone_a = server.sign_in(&phone, Some("Kim")).await;
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        let tablet = server.sign_in(&phone, Some("ignored")).await;
        assert_eq!(phone_a.id, tablet.id);
        assert_eq!(tablet.client.profile().await.unwrap().name, "Kim", "verify ignores name for an existing user");
        let out = phone_a.client.logout().await.unwrap();
        assert_eq!(out["message"], "Logged out successfully");
        assert_eq!(phone_a.client.profile().await.unwrap_err().status(), Some(401));
        let refresher = server.client.with_token(&phone_a.tokens.refresh_token);
        assert_eq!(refresher.refresh().await.unwrap_err().status(), Some(401));
        tablet.client.profile().await.unwrap();
    }

    async fn bad_tokens_are_401_with_laravels_body(backend: Backend) {
        let server = TestServer::start(backend).await;
        let user = server.sign_up("Tok").await;
        let (id, secret) = user.tokens.access_token.split_once('|').unwrap();
        let mut forged = secret.to_string();
        forged.replace_range(0..1, if secret.starts_with('a') { "b" } else { "a" });
        for token in ["", "garbage", "1|short", &format!("{id}|{forged}"), &format!("999999|{secret}")] {
            let client = if token.is_empty() { server.client.clone() } else { server.client.with_token(token) };
            let raw = client.raw(Method::GET, "/api/user/profile", None).await.unwrap();
            assert_eq!(raw.status, 401, "{token}");
            assert_eq!(raw.body, json!({"message": "Unauthenticated."}));
        }
    }
}

#[tokio::test]
async fn a_code_is_used_once_even_by_concurrent_verifications() {
    let server = TestServer::start(Backend::Sqlite).await;
    let phone = unique_phone();
    server.client.send_otp(&phone, "1").await.unwrap();
    let code = server.last_code(&phone);
    let a = server.client.verify_otp(&phone, "1", &code, None);
    let b = server.client.verify_otp(&phone, "1", &code, None);
    let (a, b) = tokio::join!(a, b);
    assert!(
        a.is_ok() != b.is_ok(),
        "exactly one verification wins: {a:?} {b:?}"
    );
}
