//! Prometheus metrics: the recorder (installed once per process) and the names
//! natter records, so dashboards have one list to read (docs/operations.md
//! lists them too). What is only a state (process, pools) is read when
//! `/metrics` is scraped ([`refresh`]), not kept up to date on any hot path.

mod process;

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::db::{ACQUIRE_SECONDS, Db};

pub use process::{
    PROCESS_CPU_SECONDS, PROCESS_MAX_FDS, PROCESS_OPEN_FDS, PROCESS_RESIDENT_MEMORY,
    PROCESS_START_TIME, PROCESS_THREADS, PROCESS_VIRTUAL_MEMORY,
};

pub const HTTP_REQUESTS: &str = "natter_http_requests_total";
pub const HTTP_DURATION: &str = "natter_http_request_duration_seconds";
pub const OPEN_SOCKETS: &str = "natter_open_sockets";
pub const MESSAGES_SENT: &str = "natter_messages_sent_total";
pub const FANOUT_DELIVERIES: &str = "natter_fanout_deliveries_total";
pub const WRITER_QUEUE_DEPTH: &str = "natter_writer_queue_depth";
pub const WRITER_BATCH_SIZE: &str = "natter_writer_batch_size";
pub const WRITER_BATCH_DURATION: &str = "natter_writer_batch_duration_seconds";
/// Statements one group-commit batch sent (BEGIN and COMMIT not counted).
pub const WRITER_BATCH_STATEMENTS: &str = "natter_writer_batch_statements";
pub const SLOW_SOCKETS_CLOSED: &str = "natter_slow_sockets_closed_total";
pub const JOB_FAILURES: &str = "natter_job_failures_total";
pub const JOB_RUNS: &str = "natter_job_runs_total";
pub const JOB_DEAD: &str = "natter_jobs_dead_total";
pub const JOB_DEPTH: &str = "natter_jobs";
pub const JOB_OLDEST_DUE: &str = "natter_jobs_oldest_due_seconds";
pub const PUSHES: &str = "natter_pushes_total";
pub const PUSH_JOBS: &str = "natter_push_jobs_total";
/// 1, labelled with the version and the git commit the binary was built from.
pub const BUILD_INFO: &str = "natter_build_info";
/// Connections of each database pool by state (`in_use`, `idle`).
pub const DB_CONNECTIONS: &str = "natter_db_connections";
pub const DB_MAX_CONNECTIONS: &str = "natter_db_max_connections";
/// Waiting for a write connection and BEGIN (recorded by db/, named there).
pub const DB_ACQUIRE: &str = ACQUIRE_SECONDS;
/// COMMIT of a transaction that appends to the sync log (the writer's batches among them).
pub const LOG_COMMIT: &str = "natter_log_commit_seconds";
/// Taking the log lock's row (waiting behind other nodes' log transactions).
pub const LOG_LOCK_WAIT: &str = "natter_log_lock_wait_seconds";
/// The log lock held: from its row taken to the COMMIT's end.
pub const LOG_LOCK_HELD: &str = "natter_log_lock_held_seconds";
/// From an event's commit to its frame being queued on this node's sockets.
pub const FANOUT_DELAY: &str = "natter_fanout_delay_seconds";

/// The commit the binary was built from, when the build said
/// (`NATTER_GIT_SHA=$(git rev-parse --short HEAD) cargo build`); a build
/// script asking git itself would rebuild the crate after every commit.
pub const GIT_SHA: &str = match option_env!("NATTER_GIT_SHA") {
    Some(sha) => sha,
    None => "unknown",
};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder. Installing is global, so every server in a process
/// (tests start several) shares one.
pub fn handle() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(HTTP_DURATION.to_string()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                    ],
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(WRITER_BATCH_DURATION.to_string()),
                        &[
                            0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0,
                        ],
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(WRITER_BATCH_SIZE.to_string()),
                        &[
                            1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
                        ],
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(WRITER_BATCH_STATEMENTS.to_string()),
                        &[4.0, 8.0, 12.0, 16.0, 24.0, 32.0, 64.0, 128.0, 256.0],
                    )
                })
                .and_then(|b| {
                    // Sub-millisecond on a local database; seconds when the
                    // pool is exhausted or a disk stalls.
                    let short = [
                        0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                        0.25, 0.5, 1.0, 2.5, 5.0,
                    ];
                    b.set_buckets_for_metric(Matcher::Full(DB_ACQUIRE.to_string()), &short)?
                        .set_buckets_for_metric(Matcher::Full(LOG_COMMIT.to_string()), &short)?
                        .set_buckets_for_metric(Matcher::Full(LOG_LOCK_WAIT.to_string()), &short)?
                        .set_buckets_for_metric(Matcher::Full(LOG_LOCK_HELD.to_string()), &short)?
                        .set_buckets_for_metric(Matcher::Full(FANOUT_DELAY.to_string()), &short)
                });
            let recorder = match builder {
                Ok(b) => b.build_recorder(),
                Err(_) => PrometheusBuilder::new().build_recorder(),
            };
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; then ours just
            // renders nothing, which the metrics test would catch.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION"), "git_sha" => GIT_SHA)
                .set(1.0);
            handle
        })
        .clone()
}

/// Reads what is only a state at scrape time: the process (memory, CPU,
/// files) and the database pools. Called by `/metrics` before rendering.
pub fn refresh(db: &Db) {
    process::record();
    for pool in db.pool_stats() {
        let in_use = pool.size.saturating_sub(pool.idle);
        let labels = |state: &'static str| [("pool", pool.name), ("state", state)];
        metrics::gauge!(DB_CONNECTIONS, &labels("in_use")).set(f64::from(in_use));
        metrics::gauge!(DB_CONNECTIONS, &labels("idle")).set(f64::from(pool.idle));
        metrics::gauge!(DB_MAX_CONNECTIONS, "pool" => pool.name).set(f64::from(pool.max));
    }
}

fn describe() {
    metrics::describe_counter!(HTTP_REQUESTS, "HTTP requests by route, method and status");
    metrics::describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "HTTP request latency by route"
    );
    metrics::describe_gauge!(OPEN_SOCKETS, "WebSocket connections open on this node");
    metrics::describe_counter!(MESSAGES_SENT, "Messages committed");
    metrics::describe_counter!(FANOUT_DELIVERIES, "Frames queued to sockets");
    metrics::describe_gauge!(
        WRITER_QUEUE_DEPTH,
        "Sends waiting for the group-commit writer"
    );
    metrics::describe_histogram!(WRITER_BATCH_SIZE, "Messages per group-commit transaction");
    metrics::describe_histogram!(
        WRITER_BATCH_STATEMENTS,
        "Statements per group-commit batch, BEGIN and COMMIT not counted"
    );
    metrics::describe_histogram!(
        WRITER_BATCH_DURATION,
        metrics::Unit::Seconds,
        "Time from a group-commit transaction's start to its commit"
    );
    metrics::describe_counter!(
        SLOW_SOCKETS_CLOSED,
        "Sockets closed with 4200 because their queue overflowed"
    );
    metrics::describe_counter!(JOB_FAILURES, "Job runs that failed, by kind");
    metrics::describe_counter!(
        JOB_RUNS,
        "Job runs by kind and outcome (done, retry, dead, released)"
    );
    metrics::describe_counter!(JOB_DEAD, "Jobs that went dead, by kind");
    metrics::describe_gauge!(
        JOB_DEPTH,
        "Jobs in the queue by kind and state (cluster-wide; every node reports it)"
    );
    metrics::describe_gauge!(
        JOB_OLDEST_DUE,
        metrics::Unit::Seconds,
        "How long the earliest due queued job of each kind has waited"
    );
    metrics::describe_counter!(
        PUSHES,
        "Push attempts by driver and outcome (sent, dead_token, retry, failed)"
    );
    metrics::describe_counter!(
        PUSH_JOBS,
        "Push jobs by type (message, call) and outcome (queued, skipped)"
    );
    metrics::describe_gauge!(
        BUILD_INFO,
        "Always 1; its labels say the version and git commit of this binary"
    );
    metrics::describe_gauge!(
        DB_CONNECTIONS,
        "Database connections by pool (write, read on SQLite; shared otherwise) and state (in_use, idle)"
    );
    metrics::describe_gauge!(DB_MAX_CONNECTIONS, "Largest size of each database pool");
    metrics::describe_histogram!(
        DB_ACQUIRE,
        metrics::Unit::Seconds,
        "Time to start a write transaction: waiting for a pooled connection, then BEGIN"
    );
    metrics::describe_histogram!(
        LOG_COMMIT,
        metrics::Unit::Seconds,
        "COMMIT of a transaction that appends to the sync log (each writer batch is one)"
    );
    metrics::describe_histogram!(
        LOG_LOCK_WAIT,
        metrics::Unit::Seconds,
        "Taking the log lock's row in the database: its round trips, plus waiting while another node's log transaction holds it"
    );
    metrics::describe_histogram!(
        LOG_LOCK_HELD,
        metrics::Unit::Seconds,
        "How long a committed log transaction held the log lock, from taking its row to the end of COMMIT (every node's sum over time is the lock's occupancy)"
    );
    metrics::describe_histogram!(
        FANOUT_DELAY,
        metrics::Unit::Seconds,
        "From an event's commit (on any node) to its frames being queued on this node's sockets; one observation per event that had listeners here"
    );
    process::describe();
}
