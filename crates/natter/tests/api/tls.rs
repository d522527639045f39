//! TLS_CERT and TLS_KEY: HTTPS and WSS on HTTP_ADDR with a self-signed
//! certificate made here, and SIGHUP putting a new certificate in place for
//! new connections while the open ones stay (the real binary, so the signal
//! goes to a server process and not to the test runner).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::common::process::NatterProcess;
use crate::common::{Backend, TestServer};

/// A self-signed certificate for `localhost`: its DER (to trust it) and the
/// two PEM files natter reads.
struct SelfSigned {
    der: CertificateDer<'static>,
    cert_pem: String,
    key_pem: String,
}

fn self_signed() -> SelfSigned {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    SelfSigned {
        der: cert.der().clone(),
        cert_pem: cert.pem(),
        key_pem: signing_key.serialize_pem(),
    }
}

impl SelfSigned {
    /// Writes both files as a renewal would: to a temporary name, then renamed
    /// over the old ones.
    fn install(&self, dir: &Path) {
        for (name, text) in [("cert.pem", &self.cert_pem), ("key.pem", &self.key_pem)] {
            let temporary = dir.join(format!("{name}.new"));
            std::fs::write(&temporary, text).unwrap();
            std::fs::rename(&temporary, dir.join(name)).unwrap();
        }
    }
}

/// A client that trusts `certificate` and nothing else.
fn trusting(certificate: &SelfSigned) -> rustls::ClientConfig {
    natter::state::install_tls_provider();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certificate.der.clone()).unwrap();
    rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

/// A TLS connection to `addr` as `localhost`; the certificate it was shown.
async fn tls_connect(
    addr: SocketAddr,
    config: rustls::ClientConfig,
) -> std::io::Result<(TlsStream<TcpStream>, CertificateDer<'static>)> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    let shown = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    Ok((tls, shown))
}

/// A Pusher socket over WSS, once natter has said `pusher:connection_established`.
async fn wss_pusher(
    addr: SocketAddr,
    config: rustls::ClientConfig,
) -> WebSocketStream<TlsStream<TcpStream>> {
    let (tls, _) = tls_connect(addr, config).await.unwrap();
    let url = format!("wss://localhost:{}/app/natter-key?protocol=7", addr.port());
    let (mut socket, _) = tokio_tungstenite::client_async(url, tls).await.unwrap();
    let first = next_event(&mut socket).await;
    assert_eq!(first["event"], "pusher:connection_established");
    socket
}

async fn next_event(socket: &mut WebSocketStream<TlsStream<TcpStream>>) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("an event within 10 s")
            .expect("the socket is open")
            .unwrap();
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Pings over the socket and expects natter's pong: the socket still works.
async fn assert_alive(socket: &mut WebSocketStream<TlsStream<TcpStream>>) {
    let ping = r#"{"event":"pusher:ping","data":{}}"#;
    socket.send(Message::text(ping)).await.unwrap();
    assert_eq!(next_event(socket).await["event"], "pusher:pong");
}

fn https_client(certificate: &SelfSigned) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_backend_preconfigured(trusting(certificate))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_https_and_wss_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let certificate = self_signed();
    certificate.install(dir.path());
    let server = TestServer::start_with(Backend::Sqlite, |settings| {
        settings.tls_cert = Some(dir.path().join("cert.pem"));
        settings.tls_key = Some(dir.path().join("key.pem"));
    })
    .await;
    let addr: SocketAddr = server.url().trim_start_matches("http://").parse().unwrap();

    let health = https_client(&certificate)
        .get(format!("https://localhost:{}/health", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = reqwest::get(format!("http://{addr}/health")).await;
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");

    // A client that does not trust the certificate is refused by its own TLS.
    let stranger = self_signed();
    assert!(tls_connect(addr, trusting(&stranger)).await.is_err());

    let mut socket = wss_pusher(addr, trusting(&certificate)).await;
    assert_alive(&mut socket).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_certificate_and_keeps_open_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let first = self_signed();
    first.install(dir.path());
    let node = NatterProcess::spawn(&[
        (
            "STORAGE_DIR",
            dir.path().join("storage").display().to_string(),
        ),
        (
            "TLS_CERT",
            dir.path().join("cert.pem").display().to_string(),
        ),
        ("TLS_KEY", dir.path().join("key.pem").display().to_string()),
    ])
    .await;
    let addr: SocketAddr = node.url.trim_start_matches("http://").parse().unwrap();
    let mut open = wss_pusher(addr, trusting(&first)).await;

    let second = self_signed();
    second.install(dir.path());
    // Until the signal, new connections still see the first certificate.
    let (_, shown) = tls_connect(addr, trusting(&first)).await.unwrap();
    assert_eq!(shown, first.der);
    node.hangup().await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tls_connect(addr, trusting(&second)).await {
            Ok((_, shown)) => {
                assert_eq!(shown, second.der);
                break;
            }
            Err(err) if tokio::time::Instant::now() > deadline => {
                panic!("the new certificate was not served 10 s after SIGHUP: {err}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert!(tls_connect(addr, trusting(&first)).await.is_err());
    let health = https_client(&second)
        .get(format!("https://localhost:{}/health", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    wss_pusher(addr, trusting(&second)).await;
    // The socket opened before the reload was not dropped.
    assert_alive(&mut open).await;

    // A broken renewal leaves the certificate in use in place.
    std::fs::write(dir.path().join("cert.pem"), "not a certificate").unwrap();
    node.hangup().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, shown) = tls_connect(addr, trusting(&second)).await.unwrap();
    assert_eq!(shown, second.der);
    assert!(node.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_settings_are_checked_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let certificate = self_signed();
    certificate.install(dir.path());
    let mut settings = crate::common::test_settings(dir.path());
    settings.tls_cert = Some(dir.path().join("cert.pem"));
    let err = natter::config::Config::resolve(settings.clone()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid setting TLS_KEY: must be set with TLS_CERT"
    );

    settings.tls_key = Some(dir.path().join("missing.pem"));
    let config = natter::config::Config::resolve(settings.clone()).unwrap();
    let err = natter::start(config).await.err().expect("start refused");
    assert!(
        format!("{err:#}").starts_with(&format!(
            "cannot read TLS_KEY {}",
            dir.path().join("missing.pem").display()
        )),
        "{err:#}"
    );

    // A key that is not the certificate's.
    let other = self_signed();
    std::fs::write(dir.path().join("other-key.pem"), &other.key_pem).unwrap();
    settings.tls_key = Some(dir.path().join("other-key.pem"));
    let config = natter::config::Config::resolve(settings).unwrap();
    let err = natter::start(config).await.err().expect("start refused");
    assert!(
        format!("{err:#}").contains("does not fit TLS_CERT"),
        "{err:#}"
    );
}
