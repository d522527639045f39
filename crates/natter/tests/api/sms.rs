//! The Twilio driver, against a local server that checks the request Twilio's
//! Messages API expects: POST /2010-04-01/Accounts/{sid}/Messages.json, HTTP basic
//! auth with the account SID and auth token, form fields To, From and Body.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Form, Json, Router};
use base64::Engine;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::common::{Backend, TestServer, unique_phone};

const SID: &str = "AC0123456789abcdef0123456789abcdef";
const TOKEN: &str = "twilio-auth-token";
const FROM: &str = "+15005550006";

#[derive(Clone, Default)]
struct FakeTwilio {
    received: Arc<Mutex<Vec<std::collections::HashMap<String, String>>>>,
    fail: bool,
}

async fn messages(
    State(fake): State<FakeTwilio>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}"))
    );
    let authorised =
        headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str());
    let form_ok = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if fake.fail || sid != SID || !authorised || !form_ok {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"code": 20003, "message": "Authenticate", "status": 401})),
        );
    }
    let to = form.get("To").cloned().unwrap_or_default();
    fake.received.lock().await.push(form);
    (
        StatusCode::CREATED,
        Json(json!({"sid": "SM123", "status": "queued", "to": to})),
    )
}

async fn start_fake(fake: FakeTwilio) -> String {
    let app = Router::new()
        .route("/2010-04-01/Accounts/{sid}/Messages.json", post(messages))
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

async fn twilio_server(api_url: String) -> TestServer {
    TestServer::start_with(Backend::Sqlite, |s| {
        s.sms_driver = natter::config::SmsDriverKind::Twilio;
        s.twilio_sid = Some(SID.into());
        s.twilio_token = Some(TOKEN.into());
        s.twilio_from = Some(FROM.into());
        s.twilio_api_url = api_url;
    })
    .await
}

#[tokio::test]
async fn twilio_receives_the_code_and_it_signs_in() {
    let fake = FakeTwilio::default();
    let server = twilio_server(start_fake(fake.clone()).await).await;
    let phone = unique_phone();
    server.client.send_otp(&phone, "1").await.unwrap();
    let sent = fake.received.lock().await.clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["To"], phone);
    assert_eq!(sent[0]["From"], FROM);
    let body = &sent[0]["Body"];
    let code: String = body.chars().filter(char::is_ascii_digit).take(6).collect();
    assert_eq!(code.len(), 6, "{body}");
    server
        .client
        .verify_otp(&phone, "1", &code, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_refused_sms_is_503_and_leaves_no_usable_code() {
    let fake = FakeTwilio {
        fail: true,
        ..Default::default()
    };
    let server = twilio_server(start_fake(fake).await).await;
    let phone = unique_phone();
    let err = server.client.send_otp(&phone, "1").await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.body().unwrap()["success"], false);
    // Whatever the code was, it is dead: no 6-digit guess can use it.
    let err = server
        .client
        .verify_otp(&phone, "1", "123456", None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
}
