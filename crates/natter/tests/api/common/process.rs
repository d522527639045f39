//! natter as a separate process (the `natter` binary cargo built for these
//! tests): for several nodes in one test, and for killing one with SIGKILL.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct NatterProcess {
    child: Child,
    pub url: String,
    env: Vec<(String, String)>,
    /// Every log line written since it listened (JSON, LOG_FORMAT=json).
    pub logs: Arc<Mutex<Vec<String>>>,
    /// The task reading the log; it ends with the process.
    reader: tokio::task::JoinHandle<()>,
}

impl NatterProcess {
    /// Starts `natter serve` with exactly these settings (nothing inherited but
    /// PATH), on a free port, and waits until it listens.
    pub async fn spawn(env: &[(&str, String)]) -> NatterProcess {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        Self::spawn_owned(env).await
    }

    async fn spawn_owned(env: Vec<(String, String)>) -> NatterProcess {
        let mut command = Command::new(env!("CARGO_BIN_EXE_natter"));
        command
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HTTP_ADDR", "127.0.0.1:0")
            .env("LOG_FORMAT", "json")
            .env("LOG_LEVEL", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (key, value) in &env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("natter starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read log") {
                let Ok(entry) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if entry["message"] == "listening" {
                    return format!("http://{}", entry["addr"].as_str().expect("addr"));
                }
            }
            panic!("natter exited before listening");
        })
        .await
        .expect("natter listens within a minute");
        // Keep reading the log so the process never blocks on a full pipe; show
        // it when NATTER_TEST_LOG is set.
        let show = std::env::var("NATTER_TEST_LOG").is_ok();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let kept = logs.clone();
        let reader = tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if show {
                    eprintln!("[natter] {line}");
                }
                kept.lock().unwrap().push(line);
            }
        });
        NatterProcess {
            child,
            url,
            env,
            logs,
            reader,
        }
    }

    /// The log lines so far whose `message` starts with `prefix`, parsed.
    pub fn log_entries(&self, prefix: &str) -> Vec<serde_json::Value> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|entry| {
                entry["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with(prefix))
            })
            .collect()
    }

    /// Waits (up to `within`) for a log entry whose `message` starts with
    /// `prefix` and that `matches`; the log is read by a task of its own, so
    /// a line can arrive a little after what the test saw on the wire.
    pub async fn wait_for_log(
        &self,
        prefix: &str,
        matches: impl Fn(&serde_json::Value) -> bool,
        within: Duration,
    ) -> Option<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(entry) = self.log_entries(prefix).into_iter().find(&matches) {
                return Some(entry);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL: no shutdown, no flushing, as a crash.
    pub async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    /// Starts the same node again (same settings, new port).
    pub async fn restart(&self) -> NatterProcess {
        Self::spawn_owned(self.env.clone()).await
    }

    /// SIGHUP: reload what natter reloads (the TLS certificate).
    pub async fn hangup(&self) {
        let pid = self.child.id().expect("natter is running");
        let sent = Command::new("kill")
            .arg("-HUP")
            .arg(pid.to_string())
            .status()
            .await
            .expect("kill runs");
        assert!(sent.success(), "SIGHUP sent");
    }

    /// SIGTERM, then waits for a clean exit.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
        }
        let exited = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.reader).await;
        let last_lines = || {
            let logs = self.logs.lock().unwrap();
            logs[logs.len().saturating_sub(40)..].join("\n")
        };
        let Ok(status) = exited else {
            panic!(
                "natter did not stop within 30 s; its last log lines:\n{}",
                last_lines()
            );
        };
        // A stop that overran its grace exits anyway, but it is a bug: say
        // which step it was stuck in.
        let overran = self.log_entries("the stop did not finish in time");
        assert!(
            overran.is_empty(),
            "{overran:?}; the last log lines:\n{}",
            last_lines()
        );
        status.expect("exit status")
    }
}

/// What a one-shot `natter` command printed, and how it exited.
pub struct CliOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `natter ARGS` to completion with exactly these settings (nothing
/// inherited but PATH), as an operator would from a shell.
pub async fn run_cli(args: &[&str], env: &[(&str, String)]) -> CliOutput {
    let mut command = Command::new(env!("CARGO_BIN_EXE_natter"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("natter finishes within two minutes")
        .expect("natter runs");
    CliOutput {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
