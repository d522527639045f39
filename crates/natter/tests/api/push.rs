//! The push drivers against local HTTP servers that check what each
//! provider's API expects: the webhook's signature (verified as docs/push.md
//! tells a receiver to), FCM's service-account grant and message, APNs over
//! HTTP/2 with its ES256 provider token, and Web Push decrypted with the
//! subscription's private key as a browser would. Dead tokens, 429 with
//! Retry-After and 5xx answers for each.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use natter::config::{Config, PushDriverKind, Settings};
use natter::push::{Notification, Platform, Push, PushError, PushEvent, Target};
use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::common::test_settings;

/// One request the provider double received.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// An answer to give: status, headers, body.
type Reply = (u16, Vec<(&'static str, &'static str)>, String);

#[derive(Clone, Default)]
struct Provider {
    received: Arc<Mutex<Vec<Received>>>,
    replies: Arc<Mutex<VecDeque<Reply>>>,
}

/// A local provider double on 127.0.0.1: records every request and answers
/// with the queued replies in order (200 `{}` once they run out). Speaks
/// HTTP/1.1 and HTTP/2 with prior knowledge (as APNs's client does over
/// plain HTTP; the real APNs negotiates h2 over TLS).
pub struct Double {
    pub url: String,
    provider: Provider,
}

impl Double {
    pub async fn start() -> Double {
        let provider = Provider::default();
        let app = axum::Router::new()
            .fallback(record)
            .with_state(provider.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Double { url, provider }
    }

    pub fn reply(&self, status: u16, headers: Vec<(&'static str, &'static str)>, body: &str) {
        self.provider
            .replies
            .lock()
            .push_back((status, headers, body.to_string()));
    }

    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.provider.received.lock())
    }

    /// What was received so far, left in place.
    pub fn received(&self) -> Vec<Received> {
        self.provider.received.lock().clone()
    }
}

async fn record(State(provider): State<Provider>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    provider.received.lock().push(Received {
        path: parts.uri.path().to_string(),
        version: parts.version,
        headers: parts.headers,
        body,
    });
    let (status, headers, body) =
        provider
            .replies
            .lock()
            .pop_front()
            .unwrap_or((200, vec![], "{}".into()));
    let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
    for (name, value) in headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

fn message(chat_id: i64) -> Notification {
    Notification {
        event: PushEvent::Message { message_id: 42 },
        chat_id,
        sent_at: 1_795_982_462_345,
        sender_name: None,
        mention: false,
    }
}

fn call() -> Notification {
    Notification {
        event: PushEvent::Call { call_id: 9 },
        chat_id: 3,
        sent_at: 1_795_982_462_345,
        sender_name: Some("Ann".into()),
        mention: false,
    }
}

fn target(platform: Platform, token: &str) -> Target {
    Target {
        platform,
        token: token.to_string(),
        device_id: 7,
    }
}

/// The drivers built from settings, as the server builds them.
fn push_with(dir: &tempfile::TempDir, tweak: impl FnOnce(&mut Settings)) -> Push {
    natter::state::install_tls_provider();
    let mut settings = test_settings(dir.path());
    // The doubles listen on 127.0.0.1.
    settings.push_allow_private_targets = true;
    tweak(&mut settings);
    let config = Config::resolve(settings).unwrap();
    natter::push::from_config(&config).unwrap()
}

/// The three parts of a compact JWT, the claims decoded.
fn jwt_parts(token: &str) -> (Value, Value, Vec<u8>, String) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWT: {token}");
    let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).unwrap();
    let header = serde_json::from_slice(&decode(parts[0])).unwrap();
    let claims = serde_json::from_slice(&decode(parts[1])).unwrap();
    (
        header,
        claims,
        decode(parts[2]),
        format!("{}.{}", parts[0], parts[1]),
    )
}

fn verify_es256(token: &str, public_key: &p256::PublicKey) -> (Value, Value) {
    use p256::ecdsa::signature::Verifier;
    let (header, claims, signature, signed) = jwt_parts(token);
    let signature = p256::ecdsa::Signature::from_slice(&signature).unwrap();
    p256::ecdsa::VerifyingKey::from(public_key)
        .verify(signed.as_bytes(), &signature)
        .expect("ES256 signature verifies with the public key");
    assert_eq!(header["alg"], "ES256");
    (header, claims)
}

fn assert_retry_after(result: Result<(), PushError>, after: Option<Duration>) {
    match result {
        Err(PushError::Retry { after: got, .. }) => assert_eq!(got, after),
        other => panic!("expected a retry, got {other:?}"),
    }
}

fn assert_failed(result: Result<(), PushError>) {
    assert!(matches!(result, Err(PushError::Failed(_))), "{result:?}");
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn webhook_pushes_are_signed_as_docs_tell_receivers_to_check() {
    // The recorder counts from its installation on (a server installs it at start).
    natter::telemetry::handle();
    let double = Double::start().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = "whsec-test-0123456789";
    let push = push_with(&dir, |s| {
        s.push_driver = vec![PushDriverKind::Webhook];
        s.push_webhook_secret = Some(secret.into());
        s.push_webhook_url = Some(format!("{}/relay", double.url));
    });

    // A webhook device's token is its URL; other platforms go to PUSH_WEBHOOK_URL.
    let own_url = format!("{}/devices/7", double.url);
    push.send(&target(Platform::Webhook, &own_url), &message(3))
        .await
        .unwrap();
    push.send(&target(Platform::Fcm, "fcm-token"), &call())
        .await
        .unwrap();
    let received = double.take();
    assert_eq!(received[0].path, "/devices/7");
    assert_eq!(received[1].path, "/relay");
    for request in &received {
        // The receiver's check from docs/push.md.
        let timestamp = request.header("x-natter-timestamp");
        let expected = format!(
            "sha256={}",
            hex::encode(natter::secrets::hmac_sha256(
                secret.as_bytes(),
                &[timestamp.as_bytes(), b".", &request.body].concat()
            ))
        );
        assert!(natter::secrets::constant_time_eq(
            &request.header("x-natter-signature"),
            &expected
        ));
        assert!((now() - timestamp.parse::<i64>().unwrap()).abs() <= 5);
        assert_eq!(request.header("content-type"), "application/json");
    }
    assert_eq!(
        received[0].json(),
        json!({"type": "message", "chat_id": 3, "message_id": 42, "device_id": 7,
            "sent_at": "2026-11-29T20:01:02.345Z"})
    );
    assert_eq!(received[1].json()["type"], "call");
    assert_eq!(received[1].json()["call_id"], 9);
    assert_eq!(received[1].json()["sender_name"], "Ann");

    let device = target(Platform::Webhook, &own_url);
    double.reply(410, vec![], "");
    assert_eq!(
        push.send(&device, &message(3)).await,
        Err(PushError::DeadToken)
    );
    double.reply(429, vec![("retry-after", "7")], "");
    assert_retry_after(
        push.send(&device, &message(3)).await,
        Some(Duration::from_secs(7)),
    );
    double.reply(503, vec![], "");
    assert_retry_after(push.send(&device, &message(3)).await, None);
    double.reply(400, vec![], "bad");
    assert_failed(push.send(&device, &message(3)).await);

    let metrics = natter::telemetry::handle().render();
    for outcome in ["sent", "dead_token", "retry", "failed"] {
        let line = format!("natter_pushes_total{{driver=\"webhook\",outcome=\"{outcome}\"}}");
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
}

#[tokio::test]
async fn fcm_exchanges_a_signed_grant_for_a_token_and_sends_data_messages() {
    let double = Double::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key_pem = include_str!("fixtures/fcm-test-key.pem");
    let account = json!({
        "type": "service_account",
        "project_id": "natter-test",
        "private_key_id": "key-1",
        "private_key": key_pem,
        "client_email": "push@natter-test.iam.gserviceaccount.com",
        "token_uri": format!("{}/token", double.url),
    });
    let account_file = dir.path().join("service-account.json");
    std::fs::write(&account_file, account.to_string()).unwrap();
    let push = push_with(&dir, |s| {
        s.push_driver = vec![PushDriverKind::Fcm];
        s.fcm_service_account_file = Some(account_file.clone());
        s.fcm_api_url = double.url.clone();
    });
    let device = target(Platform::Fcm, "fcm-registration-token");

    double.reply(
        200,
        vec![],
        r#"{"access_token": "ya29.first", "expires_in": 3599, "token_type": "Bearer"}"#,
    );
    push.send(&device, &message(3)).await.unwrap();
    push.send(&device, &call()).await.unwrap();
    let received = double.take();
    assert_eq!(
        received.len(),
        3,
        "one token request, then two sends with it"
    );

    // The grant: an RS256 JWT signed by the service account's key.
    let grant: Vec<(String, String)> = serde_urlencoded::from_bytes(&received[0].body).unwrap();
    assert_eq!(received[0].path, "/token");
    assert_eq!(
        grant[0],
        (
            "grant_type".into(),
            "urn:ietf:params:oauth:grant-type:jwt-bearer".into()
        )
    );
    let (header, claims, signature, signed) = jwt_parts(&grant[1].1);
    let der = base64::engine::general_purpose::STANDARD
        .decode(
            key_pem
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap();
    let key = ring::signature::RsaKeyPair::from_pkcs8(&der).unwrap();
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        key.public().as_ref(),
    )
    .verify(signed.as_bytes(), &signature)
    .expect("the grant is signed by the service account's key");
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], "key-1");
    assert_eq!(claims["iss"], "push@natter-test.iam.gserviceaccount.com");
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/firebase.messaging"
    );
    assert_eq!(claims["aud"], format!("{}/token", double.url));
    let iat = claims["iat"].as_i64().unwrap();
    assert!((now() - iat).abs() <= 5);
    assert_eq!(claims["exp"].as_i64().unwrap() - iat, 3600);

    // The sends: bearer token, a data message with string values.
    for send in &received[1..] {
        assert_eq!(send.path, "/v1/projects/natter-test/messages:send");
        assert_eq!(send.header("authorization"), "Bearer ya29.first");
    }
    let sent = received[1].json();
    assert_eq!(
        sent,
        json!({"message": {
            "token": "fcm-registration-token",
            "data": {"type": "message", "chat_id": "3", "message_id": "42", "device_id": "7",
                "sent_at": "2026-11-29T20:01:02.345Z"},
            "android": {"priority": "high", "ttl": "86400s", "collapse_key": "chat-3"}
        }})
    );
    let ring_call = received[2].json();
    assert_eq!(ring_call["message"]["data"]["type"], "call");
    assert_eq!(ring_call["message"]["data"]["sender_name"], "Ann");
    assert_eq!(
        ring_call["message"]["android"],
        json!({"priority": "high", "ttl": "60s"})
    );

    let unregistered = r#"{"error": {"code": 404, "status": "NOT_FOUND", "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}}"#;
    double.reply(404, vec![], unregistered);
    assert_eq!(
        push.send(&device, &message(3)).await,
        Err(PushError::DeadToken)
    );
    let mismatch = r#"{"error": {"code": 403, "status": "PERMISSION_DENIED", "details": [{"errorCode": "SENDER_ID_MISMATCH"}]}}"#;
    double.reply(403, vec![], mismatch);
    assert_eq!(
        push.send(&device, &message(3)).await,
        Err(PushError::DeadToken)
    );
    double.reply(
        429,
        vec![("retry-after", "30")],
        r#"{"error": {"status": "RESOURCE_EXHAUSTED"}}"#,
    );
    assert_retry_after(
        push.send(&device, &message(3)).await,
        Some(Duration::from_secs(30)),
    );
    double.reply(503, vec![], r#"{"error": {"status": "UNAVAILABLE"}}"#);
    assert_retry_after(push.send(&device, &message(3)).await, None);
    double.reply(400, vec![], r#"{"error": {"status": "INVALID_ARGUMENT"}}"#);
    assert_failed(push.send(&device, &message(3)).await);
    // A refused access token is dropped; the next push asks for a new one.
    double.reply(401, vec![], r#"{"error": {"status": "UNAUTHENTICATED"}}"#);
    assert_retry_after(push.send(&device, &message(3)).await, None);
    double.take();
    double.reply(
        200,
        vec![],
        r#"{"access_token": "ya29.second", "expires_in": 3599}"#,
    );
    push.send(&device, &message(3)).await.unwrap();
    let received = double.take();
    assert_eq!(received[0].path, "/token");
    assert_eq!(received[1].header("authorization"), "Bearer ya29.second");
}

#[tokio::test]
async fn apns_sends_over_http2_with_a_verified_provider_token() {
    use p256::pkcs8::EncodePrivateKey;
    let double = Double::start().await;
    let dir = tempfile::tempdir().unwrap();
    let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let key_file = dir.path().join("AuthKey_ABC123DEFG.p8");
    let pem = secret.to_pkcs8_pem(Default::default()).unwrap();
    std::fs::write(&key_file, pem.as_bytes()).unwrap();
    let push = push_with(&dir, |s| {
        s.push_driver = vec![PushDriverKind::Apns];
        s.apns_key_file = Some(key_file.clone());
        s.apns_key_id = Some("ABC123DEFG".into());
        s.apns_team_id = Some("TEAM123456".into());
        s.apns_topic = Some("app.natter.test".into());
        s.apns_api_url = double.url.clone();
    });
    let token = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
    let device = target(Platform::Apns, token);
    let voip = target(Platform::Apns, &format!("voip:{token}"));

    push.send(&device, &message(3)).await.unwrap();
    push.send(&voip, &call()).await.unwrap();
    push.send(&device, &call()).await.unwrap();
    let received = double.take();
    for request in &received {
        assert_eq!(request.version, Version::HTTP_2);
        assert_eq!(request.path, format!("/3/device/{token}"));
        assert_eq!(request.header("apns-priority"), "10");
        let expires: i64 = request.header("apns-expiration").parse().unwrap();
        assert!(expires > now());
    }
    // One provider token for all three, signed by the .p8 key.
    let bearer = received[0].header("authorization");
    assert!(received.iter().all(|r| r.header("authorization") == bearer));
    let (header, claims) = verify_es256(
        bearer
            .strip_prefix("bearer ")
            .or(bearer.strip_prefix("Bearer "))
            .unwrap(),
        &secret.public_key(),
    );
    assert_eq!(header["kid"], "ABC123DEFG");
    assert_eq!(claims["iss"], "TEAM123456");
    assert!((now() - claims["iat"].as_i64().unwrap()).abs() <= 5);

    let alert = &received[0];
    assert_eq!(alert.header("apns-topic"), "app.natter.test");
    assert_eq!(alert.header("apns-push-type"), "alert");
    assert_eq!(alert.header("apns-collapse-id"), "chat-3");
    let body = alert.json();
    assert_eq!(
        body["aps"]["alert"],
        json!({"body": "New message"}),
        "no content, no name"
    );
    assert_eq!(body["aps"]["mutable-content"], 1);
    assert_eq!(body["natter"]["message_id"], 42);
    let ring = &received[1];
    assert_eq!(ring.header("apns-topic"), "app.natter.test.voip");
    assert_eq!(ring.header("apns-push-type"), "voip");
    assert_eq!(ring.header("apns-collapse-id"), "");
    assert_eq!(ring.json()["natter"]["call_id"], 9);
    let call_alert = received[2].json();
    assert_eq!(
        call_alert["aps"]["alert"],
        json!({"title": "Ann", "body": "Incoming call"})
    );
    assert_eq!(call_alert["aps"]["interruption-level"], "time-sensitive");
    // A VoIP token takes calls only; a token that is not hex is not a token.
    assert_failed(push.send(&voip, &message(3)).await);
    assert_eq!(
        push.send(&target(Platform::Apns, "../../etc"), &message(3))
            .await,
        Err(PushError::DeadToken)
    );
    assert!(double.take().is_empty());

    double.reply(
        410,
        vec![],
        r#"{"reason": "Unregistered", "timestamp": 1700000000000}"#,
    );
    assert_eq!(
        push.send(&device, &message(3)).await,
        Err(PushError::DeadToken)
    );
    double.reply(400, vec![], r#"{"reason": "BadDeviceToken"}"#);
    assert_eq!(
        push.send(&device, &message(3)).await,
        Err(PushError::DeadToken)
    );
    double.reply(
        429,
        vec![("retry-after", "12")],
        r#"{"reason": "TooManyRequests"}"#,
    );
    assert_retry_after(
        push.send(&device, &message(3)).await,
        Some(Duration::from_secs(12)),
    );
    double.reply(503, vec![], r#"{"reason": "ServiceUnavailable"}"#);
    assert_retry_after(push.send(&device, &message(3)).await, None);
    double.reply(403, vec![], r#"{"reason": "ExpiredProviderToken"}"#);
    assert_retry_after(push.send(&device, &message(3)).await, None);
    double.reply(400, vec![], r#"{"reason": "PayloadTooLarge"}"#);
    assert_failed(push.send(&device, &message(3)).await);
}

/// Decrypts an `aes128gcm` Web Push body (RFC 8291, one record) with the
/// subscription's private key and auth secret, as a browser does. Written
/// from the RFC, independently of the crate the server uses.
fn decrypt_web_push(body: &[u8], ua_secret: &p256::SecretKey, auth: &[u8; 16]) -> Vec<u8> {
    use aes_gcm::aead::{Aead, KeyInit};
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let (salt, rest) = body.split_at(16);
    let record_size = u32::from_be_bytes(rest[..4].try_into().unwrap());
    assert!(record_size as usize >= rest.len() - 5 - rest[4] as usize);
    let key_len = rest[4] as usize;
    let (as_public, ciphertext) = rest[5..].split_at(key_len);
    let as_public = p256::PublicKey::from_sec1_bytes(as_public).unwrap();
    let shared = p256::ecdh::diffie_hellman(ua_secret.to_nonzero_scalar(), as_public.as_affine());
    let ua_public = ua_secret.public_key().to_encoded_point(false);
    let mut key_info = b"WebPush: info\0".to_vec();
    key_info.extend_from_slice(ua_public.as_bytes());
    key_info.extend_from_slice(as_public.to_encoded_point(false).as_bytes());
    let mut ikm = [0u8; 32];
    hkdf::Hkdf::<sha2::Sha256>::new(Some(auth), shared.raw_secret_bytes())
        .expand(&key_info, &mut ikm)
        .unwrap();
    let prk = hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek)
        .unwrap();
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce)
        .unwrap();
    let mut plain = aes_gcm::Aes128Gcm::new_from_slice(&cek)
        .unwrap()
        .decrypt(aes_gcm::Nonce::from_slice(&nonce), ciphertext)
        .expect("the body decrypts with the subscription's keys");
    // The last record ends with the delimiter 2, then zero padding.
    while plain.last() == Some(&0) {
        plain.pop();
    }
    assert_eq!(plain.pop(), Some(2), "last-record delimiter");
    plain
}

#[tokio::test]
async fn web_push_bodies_decrypt_with_the_subscription_keys_and_carry_vapid() {
    use p256::elliptic_curve::sec1::ToEncodedPoint;
    let double = Double::start().await;
    let dir = tempfile::tempdir().unwrap();
    let vapid = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let push = push_with(&dir, |s| {
        s.push_driver = vec![PushDriverKind::Webpush];
        s.vapid_private_key = Some(URL_SAFE_NO_PAD.encode(vapid.to_bytes()));
        s.vapid_subject = Some("mailto:ops@natter.test".into());
    });
    // The browser's side: its key pair and auth secret; the server gets the public half.
    let ua_secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
    let auth: [u8; 16] = rand::random();
    let subscription = json!({
        "endpoint": format!("{}/push/subscription-1", double.url),
        "expirationTime": null,
        "keys": {
            "p256dh": URL_SAFE_NO_PAD.encode(ua_secret.public_key().to_encoded_point(false).as_bytes()),
            "auth": URL_SAFE_NO_PAD.encode(auth),
        }
    });
    let device = target(Platform::Webpush, &subscription.to_string());

    push.send(&device, &message(3)).await.unwrap();
    push.send(&device, &call()).await.unwrap();
    let received = double.take();
    assert_eq!(received.len(), 2);
    let (pushed, ringing) = (&received[0], &received[1]);
    assert_eq!(pushed.path, "/push/subscription-1");
    assert_eq!(pushed.header("content-encoding"), "aes128gcm");
    assert_eq!(pushed.header("ttl"), "86400");
    assert_eq!(pushed.header("urgency"), "normal");
    assert_eq!(pushed.header("topic"), "chat-3");
    assert_eq!(ringing.header("ttl"), "60");
    assert_eq!(ringing.header("urgency"), "high");
    assert_eq!(ringing.header("topic"), "");

    let plain = decrypt_web_push(&pushed.body, &ua_secret, &auth);
    assert_eq!(
        serde_json::from_slice::<Value>(&plain).unwrap(),
        json!({"type": "message", "chat_id": 3, "message_id": 42, "device_id": 7,
            "sent_at": "2026-11-29T20:01:02.345Z"})
    );
    let plain = decrypt_web_push(&ringing.body, &ua_secret, &auth);
    assert_eq!(
        serde_json::from_slice::<Value>(&plain).unwrap()["call_id"],
        9
    );

    // VAPID: `vapid t=<JWT>, k=<public key>`, the JWT signed by that key.
    let authorization = pushed.header("authorization");
    let (t, k) = authorization
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.split_once(", k="))
        .expect("vapid t=..., k=...");
    let public = vapid.public_key();
    assert_eq!(
        k,
        URL_SAFE_NO_PAD.encode(public.to_encoded_point(false).as_bytes())
    );
    let (_, claims) = verify_es256(t, &public);
    assert_eq!(claims["aud"], double.url, "the push service's origin");
    assert_eq!(claims["sub"], "mailto:ops@natter.test");
    let exp = claims["exp"].as_i64().unwrap();
    assert!(exp > now() && exp <= now() + 24 * 3600);

    for gone in [404, 410] {
        double.reply(gone, vec![], "");
        assert_eq!(
            push.send(&device, &message(3)).await,
            Err(PushError::DeadToken)
        );
    }
    double.reply(429, vec![("retry-after", "60")], "");
    assert_retry_after(
        push.send(&device, &message(3)).await,
        Some(Duration::from_secs(60)),
    );
    double.reply(502, vec![], "");
    assert_retry_after(push.send(&device, &message(3)).await, None);
    double.reply(400, vec![], "bad VAPID");
    assert_failed(push.send(&device, &message(3)).await);
    // A token that cannot be a subscription never works.
    let broken = target(
        Platform::Webpush,
        r#"{"endpoint": "https://x", "keys": {"p256dh": "AA", "auth": "AA"}}"#,
    );
    assert_eq!(
        push.send(&broken, &message(3)).await,
        Err(PushError::DeadToken)
    );
}

#[tokio::test]
async fn the_log_driver_takes_every_platform_and_routing_names_missing_drivers() {
    let dir = tempfile::tempdir().unwrap();
    let push = push_with(&dir, |_| {});
    for platform in [
        Platform::Fcm,
        Platform::Apns,
        Platform::Webpush,
        Platform::Webhook,
    ] {
        assert!(push.supports(platform));
        push.send(&target(platform, "0123abcd"), &message(1))
            .await
            .unwrap();
    }
    let double = Double::start().await;
    let secret = "whsec-test-0123456789".to_string();
    let only_webpush = push_with(&dir, |s| {
        s.push_driver = vec![PushDriverKind::Webpush];
        s.vapid_private_key = Some(URL_SAFE_NO_PAD.encode([7u8; 32]));
        s.vapid_subject = Some("https://natter.test/contact".into());
    });
    assert!(!only_webpush.supports(Platform::Fcm));
    let refused = only_webpush
        .send(&target(Platform::Fcm, "t"), &message(1))
        .await;
    assert_eq!(
        refused,
        Err(PushError::Failed(
            "no push driver takes fcm devices (PUSH_DRIVER)".into()
        ))
    );
    // Named drivers first, the webhook for the rest.
    let mixed = push_with(&dir, |s| {
        s.push_driver = vec![PushDriverKind::Webpush, PushDriverKind::Webhook];
        s.vapid_private_key = Some(URL_SAFE_NO_PAD.encode([7u8; 32]));
        s.vapid_subject = Some("mailto:ops@natter.test".into());
        s.push_webhook_secret = Some(secret);
        s.push_webhook_url = Some(double.url.clone());
    });
    assert_eq!(
        mixed.driver_for(Platform::Webpush).unwrap().name(),
        "webpush"
    );
    assert_eq!(mixed.driver_for(Platform::Apns).unwrap().name(), "webhook");
    mixed
        .send(&target(Platform::Apns, "0123abcd"), &message(1))
        .await
        .unwrap();
    assert_eq!(double.take().len(), 1);
}

#[test]
fn a_driver_without_its_settings_stops_the_start_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let refused = |tweak: &dyn Fn(&mut Settings)| {
        natter::state::install_tls_provider();
        let mut settings = test_settings(dir.path());
        tweak(&mut settings);
        match Config::resolve(settings) {
            Err(err) => err.name,
            Ok(config) => match natter::push::from_config(&config) {
                Err(err) => err.name,
                Ok(_) => "accepted",
            },
        }
    };
    assert_eq!(
        refused(&|s| s.push_driver = vec![PushDriverKind::Fcm]),
        "FCM_SERVICE_ACCOUNT_FILE"
    );
    let not_json = dir.path().join("account.json");
    std::fs::write(&not_json, "hello").unwrap();
    assert_eq!(
        refused(&|s| {
            s.push_driver = vec![PushDriverKind::Fcm];
            s.fcm_service_account_file = Some(not_json.clone());
        }),
        "FCM_SERVICE_ACCOUNT_FILE"
    );
    assert_eq!(
        refused(&|s| s.push_driver = vec![PushDriverKind::Webhook]),
        "PUSH_WEBHOOK_SECRET"
    );
    assert_eq!(
        refused(&|s| s.push_driver = vec![PushDriverKind::Apns]),
        "APNS_KEY_FILE"
    );
    assert_eq!(
        refused(&|s| {
            s.push_driver = vec![PushDriverKind::Apns];
            s.apns_key_file = Some(not_json.clone());
            s.apns_key_id = Some("K".into());
            s.apns_team_id = Some("T".into());
            s.apns_topic = Some("app".into());
        }),
        "APNS_KEY_FILE"
    );
    assert_eq!(
        refused(&|s| {
            s.push_driver = vec![PushDriverKind::Webpush];
            s.vapid_private_key = Some("not-a-key".into());
            s.vapid_subject = Some("mailto:ops@natter.test".into());
        }),
        "VAPID_PRIVATE_KEY"
    );
    assert_eq!(
        refused(&|s| {
            s.push_driver = vec![PushDriverKind::Webpush];
            s.vapid_private_key = Some(URL_SAFE_NO_PAD.encode([7u8; 32]));
            s.vapid_subject = Some("ops@natter.test".into());
        }),
        "VAPID_SUBJECT"
    );

    // The binary says it in one line.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_natter"))
        .arg("serve")
        .env_clear()
        .env("STORAGE_DIR", dir.path())
        .env("PUSH_DRIVER", "log,apns")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "natter: invalid setting APNS_KEY_FILE: is required when PUSH_DRIVER includes apns"
    );
}
