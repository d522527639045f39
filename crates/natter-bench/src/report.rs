//! What a run prints: one human line and one JSON line per workload.

use serde::Serialize;

use crate::recorder::{Percentiles, Recorder};
use crate::server::Server;

/// What the senders of a throughput run saw.
pub struct Sends {
    /// Sends acknowledged while measuring.
    pub acked: u64,
    /// Seconds measured.
    pub seconds: f64,
    /// Sends that failed (an error, a timeout), the whole run.
    pub failed: u64,
    /// Deliveries of acknowledged sends that never came, the whole run.
    pub lost: u64,
    /// Time from issuing a send to its acknowledgement.
    pub ack: Percentiles,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub workload: String,
    pub server: String,
    pub params: String,
    /// Messages acknowledged by the server per second (W1, W2): natter's
    /// 201, ejabberd's stream-management ack (a room: its echo to the
    /// sender), Synapse's 200.
    pub sent_per_sec: Option<f64>,
    /// Deliveries to sockets per second (W1: messages, W2: member deliveries).
    pub delivered_per_sec: Option<f64>,
    pub failed: Option<u64>,
    /// Acknowledged sends whose deliveries never all arrived.
    pub lost: Option<u64>,
    /// Acknowledgement latency: from issuing a send to its acknowledgement.
    pub ack_p50_ms: Option<f64>,
    pub ack_p90_ms: Option<f64>,
    pub ack_p99_ms: Option<f64>,
    pub ack_max_ms: Option<f64>,
    /// Delivery latency: from issuing a send to the receiver's socket.
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// W2: latency until the last member had a message.
    pub last_p50_ms: Option<f64>,
    pub last_p99_ms: Option<f64>,
    pub last_max_ms: Option<f64>,
    /// W2: messages that reached every member during the run.
    pub completed: Option<u64>,
    /// Server resident memory at the end, KiB.
    pub server_rss_kib: Option<u64>,
    /// W3: sockets held, memory per socket, time to connect them all.
    pub sockets: Option<usize>,
    pub kib_per_socket: Option<f64>,
    pub connect_seconds: Option<f64>,
    /// W4: messages fetched and the time it took.
    pub fetched: Option<usize>,
    pub catch_up_ms: Option<f64>,
}

/// A process's resident memory in KiB, from /proc.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Report {
    fn blank(workload: &str, server: &dyn Server, params: String) -> Report {
        Report {
            workload: workload.to_string(),
            server: server.name(),
            params,
            sent_per_sec: None,
            delivered_per_sec: None,
            failed: None,
            lost: None,
            ack_p50_ms: None,
            ack_p90_ms: None,
            ack_p99_ms: None,
            ack_max_ms: None,
            p50_ms: None,
            p90_ms: None,
            p99_ms: None,
            max_ms: None,
            last_p50_ms: None,
            last_p99_ms: None,
            last_max_ms: None,
            completed: None,
            server_rss_kib: server.pid().and_then(rss_kib),
            sockets: None,
            kib_per_socket: None,
            connect_seconds: None,
            fetched: None,
            catch_up_ms: None,
        }
    }

    pub fn throughput(
        workload: &str,
        server: &dyn Server,
        params: String,
        recorder: &Recorder,
        sends: &Sends,
    ) -> Report {
        let each = recorder.each();
        let mut report = Report::blank(workload, server, params);
        report.sent_per_sec = Some(sends.acked as f64 / sends.seconds);
        report.delivered_per_sec = Some(recorder.delivered() as f64 / sends.seconds);
        report.failed = Some(sends.failed);
        report.lost = Some(sends.lost);
        let ack = sends.ack;
        (
            report.ack_p50_ms,
            report.ack_p90_ms,
            report.ack_p99_ms,
            report.ack_max_ms,
        ) = (Some(ack.p50), Some(ack.p90), Some(ack.p99), Some(ack.max));
        (report.p50_ms, report.p90_ms, report.p99_ms, report.max_ms) = (
            Some(each.p50),
            Some(each.p90),
            Some(each.p99),
            Some(each.max),
        );
        if recorder.copies() > 1 {
            let last = recorder.last();
            (report.last_p50_ms, report.last_p99_ms, report.last_max_ms) =
                (Some(last.p50), Some(last.p99), Some(last.max));
            report.completed = Some(recorder.completed());
        }
        report
    }

    pub fn memory(
        server: &dyn Server,
        sockets: usize,
        before: Option<u64>,
        after: Option<u64>,
        connect_seconds: f64,
    ) -> Report {
        let mut report = Report::blank("W3 idle sockets", server, format!("sockets={sockets}"));
        report.sockets = Some(sockets);
        report.server_rss_kib = after;
        report.kib_per_socket = match (before, after) {
            (Some(b), Some(a)) if sockets > 0 => Some(a.saturating_sub(b) as f64 / sockets as f64),
            _ => None,
        };
        report.connect_seconds = Some(connect_seconds);
        report
    }

    /// W5: time from the HTTP API request to the last subscriber's frame, per round.
    pub fn publish(server: &dyn Server, subscribers: usize, times_ms: &[f64]) -> Report {
        let mut report = Report::blank(
            "W5 HTTP API publish",
            server,
            format!("subscribers={subscribers}"),
        );
        let mut sorted = times_ms.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
            sorted.get(index).copied()
        };
        report.sockets = Some(subscribers);
        report.completed = Some(sorted.len() as u64);
        report.last_p50_ms = at(0.5);
        report.last_p99_ms = at(0.99);
        report.last_max_ms = sorted.last().copied();
        report
    }

    pub fn catch_up(server: &dyn Server, messages: usize, fetched: usize, seconds: f64) -> Report {
        let mut report = Report::blank("W4 catch-up", server, format!("messages={messages}"));
        report.fetched = Some(fetched);
        report.catch_up_ms = Some(seconds * 1000.0);
        report
    }

    /// One line for people.
    pub fn human(&self) -> String {
        let mut parts = vec![format!(
            "{} | {} | {}",
            self.workload, self.server, self.params
        )];
        let f = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "-".into());
        if self.delivered_per_sec.is_some() {
            parts.push(format!(
                "acked/s {} delivered/s {} failed {} lost {}",
                f(self.sent_per_sec),
                f(self.delivered_per_sec),
                self.failed.unwrap_or(0),
                self.lost.unwrap_or(0)
            ));
            parts.push(format!(
                "ack ms p50 {} p90 {} p99 {} max {}",
                f(self.ack_p50_ms),
                f(self.ack_p90_ms),
                f(self.ack_p99_ms),
                f(self.ack_max_ms)
            ));
            parts.push(format!(
                "delivery ms p50 {} p90 {} p99 {} max {}",
                f(self.p50_ms),
                f(self.p90_ms),
                f(self.p99_ms),
                f(self.max_ms)
            ));
        }
        if let Some(completed) = self.completed {
            parts.push(format!(
                "to the last member p50 {} p99 {} max {} ({completed} messages complete)",
                f(self.last_p50_ms),
                f(self.last_p99_ms),
                f(self.last_max_ms)
            ));
        }
        if let Some(sockets) = self.sockets {
            parts.push(format!(
                "sockets {sockets} KiB/socket {} connect {}s",
                f(self.kib_per_socket),
                f(self.connect_seconds)
            ));
        }
        if let Some(fetched) = self.fetched {
            parts.push(format!("fetched {fetched} in {} ms", f(self.catch_up_ms)));
        }
        parts.push(format!(
            "server RSS {} MiB",
            self.server_rss_kib
                .map(|k| format!("{:.1}", k as f64 / 1024.0))
                .unwrap_or_else(|| "-".into())
        ));
        parts.join(" | ")
    }
}
