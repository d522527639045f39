//! HTTPS and WSS on HTTP_ADDR when TLS_CERT and TLS_KEY are set (rustls, the
//! ring provider every other TLS use in natter has).
//!
//! The certificate is held by [`Certificates`], which rustls asks for on every
//! handshake, so replacing it (on SIGHUP, [`reload_on_hangup`]) changes what
//! new connections see while the connections already open keep theirs: a
//! renewed certificate goes live without dropping a socket.
//!
//! Handshakes run in their own tasks, each with a deadline, so one slow or
//! silent client never holds up the accept loop.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use parking_lot::RwLock;
use rustls::ServerConfig;
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::background::TaskGroup;

/// How long a client gets to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for the HTTP server to take them.
const ACCEPT_QUEUE: usize = 256;

/// The certificate and key files, and what was last loaded from them.
#[derive(Debug)]
pub struct Certificates {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificates {
    /// Loads both files; an unreadable file, a file without a certificate or
    /// key, or a key that does not belong to the certificate stops the start.
    pub fn load(cert_path: &Path, key_path: &Path) -> anyhow::Result<Arc<Certificates>> {
        let current = load_pair(cert_path, key_path)?;
        Ok(Arc::new(Certificates {
            cert_path: cert_path.to_path_buf(),
            key_path: key_path.to_path_buf(),
            current: RwLock::new(current),
        }))
    }

    /// Reads the files again. On failure the certificate in use stays, so a
    /// half-copied renewal never takes the server off the air.
    pub fn reload(&self) -> anyhow::Result<()> {
        let fresh = load_pair(&self.cert_path, &self.key_path)?;
        *self.current.write() = fresh;
        Ok(())
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().clone())
    }
}

fn load_pair(cert_path: &Path, key_path: &Path) -> anyhow::Result<Arc<CertifiedKey>> {
    let chain = CertificateDer::pem_file_iter(cert_path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read TLS_CERT {}", cert_path.display()))?;
    if chain.is_empty() {
        anyhow::bail!("TLS_CERT {} holds no certificate", cert_path.display());
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .with_context(|| format!("cannot read TLS_KEY {}", key_path.display()))?;
    let certified = CertifiedKey::from_der(chain, key, &provider()).with_context(|| {
        format!(
            "TLS_KEY {} does not fit TLS_CERT {}",
            key_path.display(),
            cert_path.display()
        )
    })?;
    Ok(Arc::new(certified))
}

fn provider() -> CryptoProvider {
    ring::default_provider()
}

/// The TLS settings for every connection, with the certificate looked up per
/// handshake. HTTP/1.1 only, as on plain HTTP: the Pusher socket is an HTTP/1.1
/// upgrade, and a browser that spoke HTTP/2 would try WebSocket over HTTP/2,
/// which the socket route does not take.
fn server_config(certificates: Arc<Certificates>) -> anyhow::Result<Arc<ServerConfig>> {
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_cert_resolver(certificates);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A listener whose connections are TLS streams, for `axum::serve`.
pub struct TlsListener {
    connections: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
}

impl TlsListener {
    /// Takes over `tcp`: accepts on it, in a task of `group`, until the group
    /// stops or the listener is dropped, handshaking each connection in a task
    /// of its own.
    pub fn new(
        tcp: TcpListener,
        certificates: Arc<Certificates>,
        group: &TaskGroup,
    ) -> anyhow::Result<TlsListener> {
        let local_addr = tcp.local_addr()?;
        let acceptor = TlsAcceptor::from(server_config(certificates)?);
        let (sender, connections) = mpsc::channel(ACCEPT_QUEUE);
        group.spawn(accept_loop(tcp, acceptor, sender, group.clone()));
        Ok(TlsListener {
            connections,
            local_addr,
        })
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    sender: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    group: TaskGroup,
) {
    let stop = group.stop_token();
    loop {
        let accepted = tokio::select! {
            accepted = tcp.accept() => accepted,
            () = sender.closed() => return,
            () = stop.cancelled() => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                super::without_delay(&accepted.0);
                accepted
            }
            Err(err) => {
                // Out of file descriptors and the like: wait, as axum does.
                tracing::warn!(error = %err, "accepting a TCP connection failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        group.spawn(handshake(
            acceptor.clone(),
            stream,
            peer,
            sender.clone(),
            stop.clone(),
        ));
    }
}

async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    sender: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    stop: CancellationToken,
) {
    let handshaken = tokio::select! {
        handshaken = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => handshaken,
        () = stop.cancelled() => return,
    };
    match handshaken {
        Ok(Ok(tls)) => {
            let _ = sender.send((tls, peer)).await;
        }
        // A failed handshake is the client's business (an untrusted
        // certificate, a port scan): debug, not a warning.
        Ok(Err(err)) => tracing::debug!(%peer, error = %err, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.connections.recv().await {
            Some(connection) => connection,
            // The accept loop has stopped (the server is stopping): accept
            // nothing more, as a closed listener would.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

/// Reloads the certificate whenever the process gets SIGHUP, until `stop`.
pub async fn reload_on_hangup(certificates: Arc<Certificates>, stop: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; TLS certificates will not be reloaded");
            return;
        };
        loop {
            tokio::select! {
                received = hangups.recv() => if received.is_none() { return },
                () = stop.cancelled() => return,
            }
            match certificates.reload() {
                Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                Err(err) => tracing::error!(
                    error = format!("{err:#}"),
                    "SIGHUP: TLS certificate not reloaded; the previous one stays in use"
                ),
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (certificates, stop);
    }
}
