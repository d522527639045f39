//! natter as a separate process (the `natter` binary cargo built for these
//! tests): for several nodes in one test, and for killing one with SIGKILL.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub struct NatterProcess {
    child: Child,
    pub url: String,
    env: Vec<(String, String)>,
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
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if show {
                    eprintln!("[natter] {line}");
                }
            }
        });
        NatterProcess { child, url, env }
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
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("natter stops within 30 s")
            .expect("exit status")
    }
}
