//! The `outbox` driver: one JSON line per SMS appended to a file.

use std::path::PathBuf;

use anyhow::Context;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::Mutex;

use super::{Sms, SmsSender};
use crate::clock;
#[cfg(unix)]
use crate::secrets::PRIVATE_MODE;

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
        // The outbox holds live sign-in codes: the owner's alone, like app.key.
        let mut options = tokio::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        options.mode(PRIVATE_MODE);
        let mut file = options
            .open(&self.path)
            .await
            .with_context(|| format!("cannot open SMS outbox {}", self.path.display()))?;
        file.write_all(&bytes).await?;
        file.flush().await?;
        Ok(())
    }
}

/// One line of the outbox, as [`OutboxSms`] writes it.
#[derive(Debug, Clone, Deserialize)]
pub struct OutboxLine {
    pub to: String,
    pub code: String,
    pub sent_at: String,
}

/// How much of the end of the outbox [`latest_for`] reads: far more than the
/// codes of the last few minutes, however long the file has grown.
const TAIL_BYTES: u64 = 256 * 1024;

/// The newest SMS in the outbox at `path` sent to `to` (E.164), if any. For the
/// web client's development flag (`WEB_DEV_SHOW_CODES`); reads only the tail.
pub async fn latest_for(path: &std::path::Path, to: &str) -> anyhow::Result<Option<OutboxLine>> {
    let mut file = match tokio::fs::File::open(path).await {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).context("cannot open SMS outbox"),
    };
    let length = file.metadata().await?.len();
    let start = length.saturating_sub(TAIL_BYTES);
    file.seek(std::io::SeekFrom::Start(start)).await?;
    let mut tail = Vec::new();
    file.take(TAIL_BYTES).read_to_end(&mut tail).await?;
    let text = String::from_utf8_lossy(&tail);
    // A cut first line fails to parse and is skipped like any other stranger.
    Ok(text
        .lines()
        .rev()
        .filter_map(|line| serde_json::from_str::<OutboxLine>(line).ok())
        .find(|line| line.to == to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_newest_code_for_a_number_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox.jsonl");
        assert!(latest_for(&path, "+12125550100").await.unwrap().is_none());
        let outbox = OutboxSms::new(path.clone());
        for (to, code) in [
            ("+12125550100", "111111"),
            ("+12125550199", "222222"),
            ("+12125550100", "333333"),
        ] {
            let sms = Sms {
                to: to.into(),
                body: format!("code {code}"),
                code: code.into(),
            };
            outbox.send(&sms).await.unwrap();
        }
        let found = latest_for(&path, "+12125550100").await.unwrap().unwrap();
        assert_eq!(found.code, "333333");
        assert!(latest_for(&path, "+12125550111").await.unwrap().is_none());
    }
}
