//! The process itself: it serves until asked to stop, and stops cleanly.

use std::time::{Duration, Instant};

use natter_client::Client;
use natter_client::socket::PusherSocket;
use reqwest::Method;

use crate::common::process::NatterProcess;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_until_sigterm_then_closes_sockets_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let node = NatterProcess::spawn(&[("STORAGE_DIR", dir.path().display().to_string())]).await;
    let client = Client::new(&node.url);
    // Well past any start-up or grace timer: a server must not stop on its own.
    tokio::time::sleep(Duration::from_secs(45)).await;
    assert_eq!(
        client
            .raw(Method::GET, "/health", None)
            .await
            .unwrap()
            .status,
        200
    );
    let mut socket = PusherSocket::connect(&node.url, "natter-key")
        .await
        .unwrap();
    let asked = Instant::now();
    let terminate = tokio::spawn(node.terminate());
    // Open sockets are told to reconnect (elsewhere) rather than left hanging.
    let _ = socket.drain(Duration::from_secs(5)).await;
    assert_eq!(socket.closed().map(|c| c.code), Some(4200));
    let status = terminate.await.unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "stopped in {:?}",
        asked.elapsed()
    );
}
