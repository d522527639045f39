//! `natter.probe`: a job kind for the crash tests, registered only with the
//! hidden setting JOB_PROBE. It is also the model of an idempotent handler:
//! it records its effect under the job's own key and checks that record
//! before acting, so a run repeated after a crash changes nothing.
//!
//! Payload `{"key": "...", "sleep_ms": n}`: waits `sleep_ms`, then appends
//! `"<key> <attempt>"` to the probe file unless a line for `key` is there.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::{Handler, Job, JobError};

pub const KIND: &str = "natter.probe";

/// The file the probe writes, in STORAGE_DIR.
pub const FILE_NAME: &str = "job-probe.log";

#[derive(Deserialize)]
struct Payload {
    key: String,
    #[serde(default)]
    sleep_ms: u64,
}

pub struct Probe {
    path: PathBuf,
    /// Check-then-append must not interleave between this node's runs.
    lock: tokio::sync::Mutex<()>,
}

impl Probe {
    pub fn new(path: PathBuf) -> Probe {
        Probe {
            path,
            lock: tokio::sync::Mutex::new(()),
        }
    }
}

#[async_trait::async_trait]
impl Handler for Probe {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let payload: Payload = job.payload_as()?;
        tokio::time::sleep(Duration::from_millis(payload.sleep_ms)).await;
        let _guard = self.lock.lock().await;
        let existing = match tokio::fs::read_to_string(&self.path).await {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(err) => {
                return Err(JobError::Retry(format!(
                    "cannot read the probe file: {err}"
                )));
            }
        };
        let prefix = format!("{} ", payload.key);
        if existing.lines().any(|line| line.starts_with(&prefix)) {
            return Ok(());
        }
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .await
            .map_err(|e| JobError::Retry(format!("cannot open the probe file: {e}")))?;
        let line = format!("{}{}\n", prefix, job.attempt);
        file.write_all(line.as_bytes())
            .await
            .map_err(|e| JobError::Retry(format!("cannot write the probe file: {e}")))?;
        file.sync_data()
            .await
            .map_err(|e| JobError::Retry(format!("cannot sync the probe file: {e}")))?;
        Ok(())
    }
}
