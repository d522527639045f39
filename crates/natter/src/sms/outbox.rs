//! The `outbox` driver: one JSON line per SMS appended to a file.

use std::path::PathBuf;

use anyhow::Context;
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use super::{Sms, SmsSender};
use crate::clock;

pub struct OutboxSms {
    path: PathBuf,
    /// Appends are serialised so concurrent lines never interleave.
    lock: Mutex<()>,
}

impl OutboxSms {
    pub fn new(path: PathBuf) -> OutboxSms {
        OutboxSms {
            path,
            lock: Mutex::new(()),
        }
    }
}

#[async_trait::async_trait]
impl SmsSender for OutboxSms {
    async fn send(&self, sms: &Sms) -> anyhow::Result<()> {
        let line = serde_json::json!({
            "to": sms.to,
            "body": sms.body,
            "code": sms.code,
            "sent_at": clock::format_ms(clock::now_ms()),
        });
        let mut bytes = serde_json::to_vec(&line)?;
        bytes.push(b'\n');
        let _guard = self.lock.lock().await;
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .with_context(|| format!("cannot open SMS outbox {}", self.path.display()))?;
        file.write_all(&bytes).await?;
        file.flush().await?;
        Ok(())
    }
}
