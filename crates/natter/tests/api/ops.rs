//! /health, /ready, /metrics, the OpenAPI document, request ids.

use reqwest::Method;

use crate::backend_tests;
use crate::common::TestServer;

backend_tests! {
    async fn health_ready_and_metrics(backend: Backend) {
        let server = TestServer::start(backend).await;
        let raw = server.client.raw(Method::GET, "/health", None).await.unwrap();
        assert_eq!((raw.status, raw.body["status"].as_str()), (200, Some("ok")));
        let raw = server.client.raw(Method::GET, "/ready", None).await.unwrap();
        assert_eq!(raw.status, 200);
        assert_eq!(raw.body["database"], "ok");
        assert_eq!(raw.body["redis"], "not configured");
        server.client.raw(Method::GET, "/api/nothing", None).await.unwrap();
        let text = reqwest::get(format!("{}/metrics", server.url())).await.unwrap().text().await.unwrap();
        assert!(text.contains("natter_http_requests_total"), "{text}");
        assert!(text.contains("route=\"/ready\""), "{text}");
        assert!(text.contains("natter_http_request_duration_seconds_bucket"), "{text}");
    }

    async fn openapi_documents_every_route(backend: Backend) {
        let server = TestServer::start(backend).await;
        let raw = server.client.raw(Method::GET, "/api/openapi.json", None).await.unwrap();
        assert_eq!(raw.status, 200);
        assert!(raw.body["openapi"].as_str().unwrap().starts_with("3.1"));
        let paths = raw.body["paths"].as_object().unwrap();
        for (path, method) in [
            ("/api/auth/send-otp", "post"), ("/api/auth/verify-otp", "post"), ("/api/auth/refresh", "post"),
            ("/api/auth/logout", "post"), ("/api/user/profile", "get"), ("/api/user/profile", "put"),
            ("/api/user/privacy", "put"), ("/api/users/{id}", "get"), ("/api/user", "delete"),
            ("/api/contacts", "get"), ("/api/contacts", "post"), ("/api/contacts/sync", "post"),
            ("/api/contacts/{contact}/block", "put"), ("/api/contacts/{contact}", "delete"),
            ("/health", "get"), ("/ready", "get"), ("/metrics", "get"),
        ] {
            assert!(paths.get(path).and_then(|p| p.get(method)).is_some(), "{method} {path} missing");
        }
    }

    async fn every_response_carries_a_request_id(backend: Backend) {
        let server = TestServer::start(backend).await;
        let response = reqwest::get(format!("{}/health", server.url())).await.unwrap();
        let id = response.headers().get("x-request-id").unwrap().to_str().unwrap().to_string();
        assert!(!id.is_empty());
        let client = reqwest::Client::new();
        let response = client.get(format!("{}/health", server.url())).header("x-request-id", "mine-123").send().await.unwrap();
        assert_eq!(response.headers().get("x-request-id").unwrap(), "mine-123");
    }
}

/// LISTEN_BACKLOG reaches the kernel: `ss` shows a listening socket's backlog
/// as its Send-Q.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listen_backlog_is_the_configured_one() {
    let server =
        TestServer::start_with(crate::common::Backend::Sqlite, |s| s.listen_backlog = 777).await;
    let port = server.url().rsplit(':').next().unwrap().to_string();
    let out = std::process::Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("ss (iproute2) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let send_q: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert_eq!(send_q, ["777"], "{text}");
}
