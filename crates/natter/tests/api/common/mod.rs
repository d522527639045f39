//! The test harness: a real natter server on a free loopback port, on a fresh
//! database of the chosen backend, driven through natter-client.
//!
//! SQLite runs always. PostgreSQL and MySQL run when TEST_POSTGRES_URL and
//! TEST_MYSQL_URL are set; each test gets its own scratch database there,
//! dropped afterwards. A test that cannot run prints `SKIPPED: <test> needs
//! <what>` in cargo test's output ([`skip`]); with CI set it fails instead, so
//! CI can never skip anything silently.

#![allow(dead_code)]

pub mod database;
pub mod process;
pub mod redis_server;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use natter::config::{Command, Config, Settings, SmsDriverKind};
use natter_client::{Client, TokenPair};

pub use database::Backend;
use database::ScratchDatabase;

/// Generates one test per backend from `async fn name(backend: Backend) { ... }`.
#[macro_export]
macro_rules! backend_tests {
    ($(async fn $name:ident($backend:ident : Backend) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn run($backend: $crate::common::Backend) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    run($crate::common::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if $crate::common::Backend::Postgres.available() {
                        run($crate::common::Backend::Postgres).await
                    }
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn mysql() {
                    if $crate::common::Backend::Mysql.available() {
                        run($crate::common::Backend::Mysql).await
                    }
                }
            }
        )*
    };
}

/// A running server and what a test needs to drive it.
pub struct TestServer {
    pub client: Client,
    pub running: Option<natter::Running>,
    pub outbox: PathBuf,
    pub backend: Backend,
    _dir: tempfile::TempDir,
    _database: Option<ScratchDatabase>,
}

/// A signed-up user with a client that carries their access token.
#[derive(Clone)]
pub struct TestUser {
    pub id: i64,
    pub name: String,
    pub phone: String,
    pub client: Client,
    pub tokens: TokenPair,
}

/// Server logs go to the test output when NATTER_TEST_LOG is set (a tracing
/// filter such as `info` or `natter=debug`).
fn init_logging() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("NATTER_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        }
    });
}

static NEXT_PHONE: AtomicU64 = AtomicU64::new(0);

/// A valid, unique US number (212 area code, exchanges 200-999).
pub fn unique_phone() -> String {
    let n = NEXT_PHONE.fetch_add(1, Ordering::Relaxed) + (std::process::id() as u64 % 97) * 10_000;
    let exchange = 200 + (n / 10_000) % 800;
    format!("+1212{exchange}{:04}", n % 10_000)
}

/// Settings for a test server: embedded defaults with a scratch folder, the
/// outbox SMS driver, and rate limits high enough for many sign-ups from 127.0.0.1.
pub fn test_settings(dir: &std::path::Path) -> Settings {
    let (cli, _) = natter::config::parse(["natter", "serve"]).expect("defaults parse");
    let Command::Serve(settings) = cli.command else {
        unreachable!("serve was asked for")
    };
    let mut settings = *settings;
    settings.http_addr = "127.0.0.1:0".parse().expect("address");
    settings.database.storage_dir = dir.to_path_buf();
    settings.database.database_url = None;
    settings.database.db_max_connections = 4;
    settings.redis_url = None;
    settings.node_id = None;
    settings.app_key = Some("test-app-key-that-is-at-least-32-characters".into());
    settings.reverb_app_secret = Some("test-reverb-secret".into());
    settings.sms_driver = SmsDriverKind::Outbox;
    settings.sms_outbox_path = Some(dir.join("outbox.jsonl"));
    settings.otp_resend_seconds = 1;
    settings.otp_rate_per_number_per_hour = 1_000;
    settings.otp_rate_per_ip_per_hour = 100_000;
    settings.contact_sync_per_hour = 1_000;
    settings.statuses_per_day = 100_000;
    settings.calls.calls_per_minute = 100_000;
    settings.otp_verify_per_ip_per_hour = 100_000;
    settings.otp_verify_per_number_per_hour = 1_000;
    settings.sends_per_minute = 100_000;
    settings.typing_per_minute = 100_000;
    settings.user_lookups_per_hour = 100_000;
    settings
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    /// Starts a server after `tweak` adjusts the test settings.
    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestServer {
        init_logging();
        let dir = tempfile::tempdir().expect("temp dir");
        let database = backend.scratch().await;
        let mut settings = test_settings(dir.path());
        settings.database.database_url = database.as_ref().map(|d| d.url.clone());
        tweak(&mut settings);
        Self::start_settings(backend, settings, dir, database).await
    }

    async fn start_settings(
        backend: Backend,
        settings: Settings,
        dir: tempfile::TempDir,
        database: Option<ScratchDatabase>,
    ) -> TestServer {
        let outbox = settings
            .sms_outbox_path
            .clone()
            .unwrap_or_else(|| dir.path().join("outbox.jsonl"));
        let config = Config::resolve(settings).expect("test settings are valid");
        let running = natter::start(config).await.expect("server starts");
        let client = Client::new(&format!("http://{}", running.local_addr));
        TestServer {
            client,
            running: Some(running),
            outbox,
            backend,
            _dir: dir,
            _database: database,
        }
    }

    pub fn url(&self) -> String {
        self.client.base_url().to_string()
    }

    /// A second node on this server's database (a new storage folder, its
    /// own node id), after `tweak`; stop it before this one.
    pub async fn start_second(&self, tweak: impl FnOnce(&mut Settings)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = test_settings(dir.path());
        settings.database.database_url = Some(self.state().config.database_url.clone());
        settings.sms_outbox_path = Some(self.outbox.clone());
        tweak(&mut settings);
        Self::start_settings(self.backend, settings, dir, None).await
    }

    /// STORAGE_DIR of the server (the SQLite database lives there).
    pub fn storage_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    pub fn state(&self) -> &natter::state::AppState {
        &self.running.as_ref().expect("running").state
    }

    /// The code of the last SMS the outbox driver wrote to `e164`.
    pub fn last_code(&self, e164: &str) -> String {
        let text = std::fs::read_to_string(&self.outbox).unwrap_or_default();
        text.lines()
            .rev()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find(|sms| sms["to"] == e164)
            .and_then(|sms| sms["code"].as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("no SMS was sent to {e164}"))
    }

    /// Signs up a new user with a unique number.
    pub async fn sign_up(&self, name: &str) -> TestUser {
        let phone = unique_phone();
        self.sign_in(&phone, Some(name)).await
    }

    /// Runs send-otp and verify-otp for `e164`.
    pub async fn sign_in(&self, e164: &str, name: Option<&str>) -> TestUser {
        // A second sign-in of one number may meet the resend limit: wait it out.
        loop {
            match self.client.send_otp(e164, "1").await {
                Ok(_) => break,
                Err(natter_client::Error::Api {
                    status: 429,
                    retry_after,
                    ..
                }) => {
                    let wait = retry_after.unwrap_or(1).min(5);
                    tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
                }
                Err(err) => panic!("send-otp: {err}"),
            }
        }
        let code = self.last_code(e164);
        let verified = self
            .client
            .verify_otp(e164, "1", &code, name)
            .await
            .expect("verify-otp");
        TestUser {
            id: verified.user.id,
            name: verified.user.name.clone(),
            phone: e164.to_string(),
            client: self.client.with_token(&verified.tokens.access_token),
            tokens: verified.tokens,
        }
    }

    /// Stops the server gracefully.
    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("server stops cleanly");
        }
    }
}

/// Sends one HTTP/1.1 request over a plain socket, writing the body while
/// reading the answer (as curl does), so a server that answers 413 before the
/// upload ends is seen answering rather than as a broken pipe.
pub async fn send_while_reading(
    base_url: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base_url.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let upload = tokio::spawn(async move {
        let _ = writer.write_all(head.as_bytes()).await;
        let _ = writer.write_all(&body).await;
    });
    let mut answer = Vec::new();
    let _ = reader.read_to_end(&mut answer).await;
    upload.abort();
    let text = String::from_utf8_lossy(&answer);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text}"));
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b.trim()).ok())
        .unwrap_or(serde_json::Value::Null);
    (status, json)
}

impl TestServer {
    /// Two new users and their private chat.
    pub async fn pair(&self) -> (TestUser, TestUser, i64) {
        let ann = self.sign_up("Ann").await;
        let bob = self.sign_up("Bob").await;
        let (_, chat) = ann.client.private_chat(bob.id).await.expect("private chat");
        (ann, bob, chat.id)
    }
}

/// New users with these names, signed up in order.
pub async fn users(server: &TestServer, names: &[&str]) -> Vec<TestUser> {
    let mut out = Vec::new();
    for name in names {
        out.push(server.sign_up(name).await);
    }
    out
}

/// Asserts a 422 naming `field` in its errors; the body, for more checks.
pub fn refused_on(err: natter_client::Error, field: &str) -> serde_json::Value {
    assert_eq!(err.status(), Some(422), "{err:?}");
    let body = err.body().cloned().unwrap_or_default();
    assert!(body["errors"][field].is_array(), "422 on {field}: {body}");
    body
}

/// TEST_REDIS_URL, or None after [`skip`] (a failure under CI).
pub fn redis_url() -> Option<String> {
    let url = std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty());
    if url.is_none() {
        skip("TEST_REDIS_URL (a Redis server)");
    }
    url
}

/// Whether this run is CI's: `CI` set to anything but empty, `0` or `false`.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// A test that cannot run here for lack of `need` (a service, a tool) fails under
/// CI, where nothing may be skipped. Elsewhere it says so on the test binary's
/// stderr, which cargo shows: written past the capture of test output (an
/// `eprintln!` of a passing test would vanish behind its "ok"). The caller then
/// returns early.
pub fn skip(need: &str) {
    use std::io::Write;
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    assert!(
        !in_ci(),
        "{test} needs {need}, and CI (CI is set) must run every test"
    );
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED: {test} needs {need}");
}

/// Signs a user up against any server through its outbox file.
pub async fn sign_up_at(client: &Client, outbox: &std::path::Path, name: &str) -> TestUser {
    let phone = unique_phone();
    client.send_otp(&phone, "1").await.expect("send-otp");
    let text = std::fs::read_to_string(outbox).unwrap_or_default();
    let code = text
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|sms| sms["to"] == phone.as_str())
        .and_then(|sms| sms["code"].as_str().map(str::to_string))
        .expect("an SMS was written");
    let verified = client
        .verify_otp(&phone, "1", &code, Some(name))
        .await
        .expect("verify-otp");
    TestUser {
        id: verified.user.id,
        name: verified.user.name.clone(),
        phone,
        client: client.with_token(&verified.tokens.access_token),
        tokens: verified.tokens,
    }
}

/// A socket of `user`'s, connected to the node at `url` and subscribed to
/// their own `private-user.{id}` channel (authorised with their token).
pub async fn user_socket(url: &str, user: &TestUser) -> natter_client::socket::PusherSocket {
    let mut socket = natter_client::socket::PusherSocket::connect(url, "natter-key")
        .await
        .unwrap();
    socket
        .subscribe(&user.client, &format!("private-user.{}", user.id))
        .await
        .unwrap();
    socket
}

/// The close code of `socket` once the server closes it (None after 5 s).
pub async fn closed_code(socket: &mut natter_client::socket::PusherSocket) -> Option<u16> {
    for _ in 0..50 {
        if socket
            .next_frame(std::time::Duration::from_millis(100))
            .await
            .is_none()
            && let Some(closed) = socket.closed()
        {
            return Some(closed.code);
        }
    }
    None
}
