//! Bad input on every kind of route gets the contract's 4xx, never a 500.

use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::common::{TestServer, send_while_reading};

backend_tests! {
    async fn malformed_bodies_are_422_on_body(backend: Backend) {
        let server = TestServer::start(backend).await;
        let user = server.sign_up("Bad").await;
        for (content_type, body) in [
            ("application/json", b"{\"name\": ".to_vec()),
            ("application/json", b"[1,2]".to_vec()),
            ("application/json", b"\"text\"".to_vec()),
            ("text/plain", b"{\"name\": \"x\"}".to_vec()),
            ("application/x-www-form-urlencoded", b"name=x".to_vec()),
        ] {
            let raw = user.client.raw_bytes(Method::PUT, "/api/user/profile", content_type, body.clone()).await.unwrap();
            assert_eq!(raw.status, 422, "{content_type} {}", String::from_utf8_lossy(&body));
            assert!(raw.body["errors"]["body"].is_array(), "{}", raw.body);
            assert!(raw.body["message"].is_string());
        }
    }

    async fn ten_megabyte_bodies_are_413(backend: Backend) {
        let server = TestServer::start(backend).await;
        let user = server.sign_up("Big").await;
        let token = format!("Bearer {}", user.tokens.access_token);
        let huge = format!("{{\"about\": \"{}\"}}", "x".repeat(10 * 1024 * 1024));
        let headers = [("Content-Type", "application/json"), ("Authorization", token.as_str())];
        let (status, body) = send_while_reading(&server.url(), "PUT", "/api/user/profile", &headers, huge.into_bytes()).await;
        assert_eq!(status, 413);
        assert_eq!(body["success"], false);
        let (status, _) = send_while_reading(&server.url(), "POST", "/api/auth/send-otp", &headers[..1], vec![b' '; 11 * 1024 * 1024]).await;
        assert_eq!(status, 413);
        // Nothing was stored from the refused body.
        assert_ne!(user.client.profile().await.unwrap().about.as_deref().map(str::len), Some(10 * 1024 * 1024));
    }

    async fn wrong_types_and_missing_fields_name_the_field(backend: Backend) {
        let server = TestServer::start(backend).await;
        for (body, field) in [
            (json!({}), "phone_number"),
            (json!({"phone_number": "2125550123"}), "country_code"),
            (json!({"phone_number": 2125550123u64, "country_code": "1"}), "phone_number"),
            (json!({"phone_number": null, "country_code": "1"}), "phone_number"),
            (json!({"phone_number": ["x"], "country_code": "1"}), "phone_number"),
            (json!({"phone_number": "x".repeat(5000), "country_code": "1"}), "phone_number"),
        ] {
            let raw = server.client.raw(Method::POST, "/api/auth/send-otp", Some(body.clone())).await.unwrap();
            assert_eq!(raw.status, 422, "{body}");
            assert!(raw.body["errors"][field].is_array(), "{body} -> {}", raw.body);
        }
        let user = server.sign_up("Typer").await;
        let raw = user.client.raw(Method::POST, "/api/contacts", Some(json!({"contact_user_id": 1e30}))).await.unwrap();
        assert_eq!(raw.status, 422);
        assert!(raw.body["errors"]["contact_user_id"].is_array(), "{}", raw.body);
        let raw = user.client.raw(Method::POST, "/api/contacts", Some(json!({"contact_user_id": "7"}))).await.unwrap();
        assert_eq!(raw.status, 422);
    }

    async fn nul_characters_are_422_on_every_backend(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, _bob, chat) = server.pair().await;
        for (path, method, body, field) in [
            (format!("/api/chats/{chat}/messages"), Method::POST, json!({"message_type": "text", "content": "a\u{0}b"}), "content"),
            ("/api/user/profile".to_string(), Method::PUT, json!({"about": "x\u{0}"}), "about"),
            ("/api/groups".to_string(), Method::POST, json!({"name": "g\u{0}", "participants": []}), "name"),
        ] {
            let raw = ann.client.raw(method, &path, Some(body)).await.unwrap();
            assert_eq!(raw.status, 422, "{path}: {}", raw.body);
            assert!(raw.body["errors"][field].is_array(), "{}", raw.body);
        }
        let raw = ann.client.raw(Method::POST, "/api/groups/join/ab%00cd", None).await.unwrap();
        assert_eq!(raw.status, 404);
    }

    async fn unknown_routes_and_methods_answer_json(backend: Backend) {
        let server = TestServer::start(backend).await;
        let raw = server.client.raw(Method::GET, "/api/nothing-here", None).await.unwrap();
        assert_eq!(raw.status, 404);
        assert_eq!(raw.body["success"], false);
        let raw = server.client.raw(Method::DELETE, "/api/auth/send-otp", None).await.unwrap();
        assert_eq!(raw.status, 405);
        assert_eq!(raw.body["success"], false);
        // Unauthenticated beats everything else on protected routes.
        let raw = server.client.raw(Method::GET, "/api/contacts", None).await.unwrap();
        assert_eq!(raw.status, 401);
    }
}
