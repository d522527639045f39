//! Pusher webhooks to every PUSHER_WEBHOOK_URL, batched and signed, delivered
//! through the durable job queue (retried with backoff, surviving restarts).
//!
//! The sockets notice the events (realtime/webhooks.rs); this node's batcher
//! gathers what arrives within [`BATCH_WINDOW`] (at most [`BATCH_MAX`]) into
//! one body, `{"time_ms": ..., "events": [...]}`, and enqueues one job per URL.
//! The job posts it with `X-Pusher-Key` (the app key) and
//! `X-Pusher-Signature` (hex HMAC-SHA256 of the body under the app secret),
//! which a Pusher server library's webhook check verifies. The signature is
//! made when sending, so no secret is stored in the job.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::clock::now_ms;
use crate::db::Db;
use crate::jobs::{self, Handler, Job, JobError, NewJob, Waker};
use crate::realtime::webhooks::HookEvent;
use crate::secrets::hmac_sha256_hex;

/// The job kind.
pub const KIND: &str = "pusher.webhook";
/// How long the batcher gathers events after the first one.
pub const BATCH_WINDOW: Duration = Duration::from_millis(250);
/// Most events in one body.
pub const BATCH_MAX: usize = 100;

/// A job's payload: where, and the body to sign and send.
#[derive(Debug, Serialize, Deserialize)]
struct Delivery {
    url: String,
    body: String,
}

/// The batcher's view of the node.
pub struct Batcher {
    pub db: Db,
    pub waker: Waker,
    pub urls: Vec<String>,
}

impl Batcher {
    /// Runs until `stop`, then sends what it still holds.
    pub async fn run(self, mut events: mpsc::Receiver<HookEvent>, stop: CancellationToken) {
        loop {
            let first = tokio::select! {
                next = events.recv() => match next { Some(event) => event, None => break },
                _ = stop.cancelled() => break,
            };
            let mut batch = vec![first];
            let window = tokio::time::sleep(BATCH_WINDOW);
            tokio::pin!(window);
            while batch.len() < BATCH_MAX {
                tokio::select! {
                    next = events.recv() => match next { Some(event) => batch.push(event), None => break },
                    _ = &mut window => break,
                    _ = stop.cancelled() => break,
                }
            }
            self.enqueue(&batch).await;
        }
        let mut rest = Vec::new();
        while let Ok(event) = events.try_recv() {
            rest.push(event);
        }
        for chunk in rest.chunks(BATCH_MAX) {
            self.enqueue(chunk).await;
        }
    }

    async fn enqueue(&self, events: &[HookEvent]) {
        let body = serde_json::json!({ "time_ms": now_ms(), "events": events }).to_string();
        for url in &self.urls {
            let delivery = Delivery {
                url: url.clone(),
                body: body.clone(),
            };
            let Ok(payload) = serde_json::to_value(&delivery) else {
                continue;
            };
            let job = NewJob::new(KIND, payload);
            if let Err(err) = jobs::enqueue_now(&self.db.write, &self.waker, job).await {
                tracing::warn!(error = %err, events = events.len(), "could not queue a webhook");
            }
        }
    }
}

/// Posts one webhook body.
pub struct Deliver {
    pub http: reqwest::Client,
    pub key: String,
    pub secret: Arc<str>,
}

impl Deliver {
    pub fn new(key: &str, secret: &str) -> Deliver {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Deliver {
            http,
            key: key.to_string(),
            secret: secret.into(),
        }
    }
}

/// The `X-Pusher-Signature` of a body.
pub fn sign(secret: &str, body: &str) -> String {
    hmac_sha256_hex(secret.as_bytes(), body.as_bytes())
}

#[async_trait::async_trait]
impl Handler for Deliver {
    /// At least once: a receiver may see a body twice after a retry (Pusher's
    /// own webhooks make the same promise).
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let delivery: Delivery = job.payload_as()?;
        let response = self
            .http
            .post(&delivery.url)
            .header("Content-Type", "application/json")
            .header("X-Pusher-Key", &self.key)
            .header("X-Pusher-Signature", sign(&self.secret, &delivery.body))
            .body(delivery.body)
            .send()
            .await
            .map_err(|err| JobError::Retry(format!("webhook not delivered: {err}")))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(JobError::Retry(format!("webhook answered {status}")))
        }
    }
}
