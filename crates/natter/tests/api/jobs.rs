//! The durable job queue on every backend: transaction-coupled enqueue, safe
//! claiming by several nodes, retries, dead letters, leases, periodic work,
//! graceful stop, the `natter jobs` commands, and kill -9 of a node mid-run.
//! Each "node" is a Db handle of its own on one scratch database.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use natter::config::JobsAction;
use natter::db::Db;
use natter::db::entities::job;
use natter::jobs::{
    self, Backoff, Enqueued, Handler, Job, JobError, NewJob, Periodic, Registry, Runner,
    RunnerOptions,
};
use parking_lot::Mutex;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::backend_tests;
use crate::common::Backend;
use crate::common::database::ScratchDatabase;
use crate::common::process::NatterProcess;

/// One scratch database the test's nodes share.
struct Cluster {
    url: String,
    _dir: tempfile::TempDir,
    _database: Option<ScratchDatabase>,
}

impl Cluster {
    async fn new(backend: Backend) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let database = backend.scratch().await;
        let url = match &database {
            Some(db) => db.url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                dir.path().join("natter.db").display()
            ),
        };
        let cluster = Cluster {
            url,
            _dir: dir,
            _database: database,
        };
        cluster.node().await.migrate().await.unwrap();
        cluster
    }

    /// A node's own connections.
    async fn node(&self) -> Db {
        Db::connect(&self.url, 4).await.unwrap()
    }
}

fn options(node: &str) -> RunnerOptions {
    RunnerOptions {
        node_id: node.to_string(),
        concurrency: 8,
        poll_interval: Duration::from_millis(20),
        lease: Duration::from_secs(3),
        backoff: Backoff {
            base: Duration::from_millis(10),
            cap: Duration::from_millis(40),
        },
        stop_grace: Duration::from_secs(5),
        gauge_interval: Duration::from_millis(100),
    }
}

/// What the test handler does on a run.
#[derive(Clone, Copy)]
enum Mode {
    Succeed,
    /// Fails with Retry on runs 1..=n, then succeeds.
    FailFirst(u32),
    Permanent,
    /// Asks to be retried after this long.
    RetryAfter(Duration),
    /// Panics on the first run, then succeeds.
    PanicFirst,
    /// Takes this long.
    Sleep(Duration),
}

/// Records every run: (key, attempt, node).
type Runs = Arc<Mutex<Vec<(String, u32, String)>>>;

struct TestHandler {
    node: String,
    mode: Mode,
    runs: Runs,
}

#[async_trait::async_trait]
impl Handler for TestHandler {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let key = job.payload["key"].as_str().unwrap_or_default().to_string();
        self.runs
            .lock()
            .push((key.clone(), job.attempt, self.node.clone()));
        match self.mode {
            Mode::Succeed => Ok(()),
            Mode::FailFirst(n) if job.attempt <= n => {
                Err(JobError::Retry(format!("boom {}", job.attempt)))
            }
            Mode::FailFirst(_) => Ok(()),
            Mode::Permanent => Err(JobError::Permanent("no such thing".into())),
            Mode::RetryAfter(after) => Err(JobError::RetryAfter {
                after,
                reason: "slow down".into(),
            }),
            Mode::PanicFirst if job.attempt == 1 => panic!("handler bug on {key}"),
            Mode::PanicFirst => Ok(()),
            Mode::Sleep(d) => {
                tokio::time::sleep(d).await;
                Ok(())
            }
        }
    }
}

/// A runner on `db` for kind `test` (and `other`, which always succeeds).
fn start(db: &Db, node: &str, mode: Mode, runs: &Runs, shutdown: &CancellationToken) -> Runner {
    start_with(db, options(node), mode, runs, shutdown)
}

fn start_with(
    db: &Db,
    options: RunnerOptions,
    mode: Mode,
    runs: &Runs,
    shutdown: &CancellationToken,
) -> Runner {
    let node = options.node_id.clone();
    let mut registry = Registry::new();
    registry.register(
        "test",
        Arc::new(TestHandler {
            node: node.clone(),
            mode,
            runs: runs.clone(),
        }),
    );
    registry.register(
        "other",
        Arc::new(TestHandler {
            node,
            mode: Mode::Succeed,
            runs: runs.clone(),
        }),
    );
    Runner::start(db.clone(), registry, options, shutdown.child_token())
}

fn job(key: &str) -> NewJob {
    NewJob::new("test", json!({ "key": key }))
}

async fn rows(db: &Db) -> Vec<job::Model> {
    job::Entity::find().all(&db.read).await.unwrap()
}

/// Waits until `done` holds, failing after `secs`.
async fn eventually<F, Fut>(secs: u64, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn queue_empty(db: &Db) -> bool {
    job::Entity::find().count(&db.read).await.unwrap() == 0
}

async fn stop(shutdown: CancellationToken, runners: Vec<Runner>) {
    shutdown.cancel();
    for runner in runners {
        runner.task.await.unwrap();
    }
}

backend_tests! {
    async fn a_job_enqueued_in_a_rolled_back_transaction_never_runs(backend: Backend) {
        let cluster = Cluster::new(backend).await;
        let db = cluster.node().await;
        let tx = db.begin().await.unwrap();
        assert!(matches!(jobs::enqueue(&tx, job("rolled-back")).await.unwrap(), Enqueued::New(_)));
        tx.rollback().await.unwrap();
        let tx = db.begin().await.unwrap();
        jobs::enqueue(&tx, job("committed")).await.unwrap();
        tx.commit().await.unwrap();

        let runs = Runs::default();
        let shutdown = CancellationToken::new();
        let runner = start(&db, "a", Mode::Succeed, &runs, &shutdown);
        eventually(20, "the committed job", || queue_empty(&db)).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop(shutdown, vec![runner]).await;
        let keys: Vec<String> = runs.lock().iter().map(|r| r.0.clone()).collect();
        assert_eq!(keys, vec!["committed".to_string()]);
    }

    async fn a_unique_key_collapses_work_until_the_job_is_done(backend: Backend) {
        let cluster = Cluster::new(backend).await;
        let db = cluster.node().await;
        // Inside one transaction the second enqueue is a no-op, and the
        // transaction stays usable (PostgreSQL aborts a transaction on an error).
        let tx = db.begin().await.unwrap();
        let first = jobs::enqueue(&tx, job("a").unique_key("push:1:2")).await.unwrap();
        let second = jobs::enqueue(&tx, job("b").unique_key("push:1:2")).await.unwrap();
        jobs::enqueue(&tx, job("c")).await.unwrap();
        tx.commit().await.unwrap();
        assert!(matches!(first, Enqueued::New(_)));
        assert_eq!(second, Enqueued::AlreadyQueued);
        assert_eq!(rows(&db).await.len(), 2);

        let runs = Runs::default();
        let shutdown = CancellationToken::new();
        let runner = start(&db, "a", Mode::Succeed, &runs, &shutdown);
        eventually(20, "both jobs", || queue_empty(&db)).await;
        // Done frees the key.
        let again = jobs::enqueue(&db.write, job("d").unique_key("push:1:2")).await.unwrap();
        assert!(matches!(again, Enqueued::New(_)));
        runner.waker.wake();
        eventually(20, "the new job", || queue_empty(&db)).await;
        stop(shutdown, vec![runner]).await;
        let keys: BTreeSet<String> = runs.lock().iter().map(|r| r.0.clone()).collect();
        assert_eq!(keys, ["a", "c", "d"].iter().map(|k| k.to_string()).collect());
    }

    async fn enqueue_many_inserts_in_one_statement_and_skips_held_keys(backend: Backend) {
        let cluster = Cluster::new(backend).await;
        let db = cluster.node().await;
        jobs::enqueue(&db.write, job("held").unique_key("k1")).await.unwrap();
        let tx = db.begin().await.unwrap();
        jobs::enqueue_many(&tx, vec![
            job("dup").unique_key("k1"),
            job("new").unique_key("k2"),
            job("free"),
        ]).await.unwrap();
        // The transaction is still usable after the skipped row.
        jobs::enqueue(&tx, job("after")).await.unwrap();
        tx.commit().await.unwrap();
        let keys: BTreeSet<String> = rows(&db).await.iter()
            .map(|r| serde_json::from_str::<serde_json::Value>(&r.payload).unwrap()["key"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(keys, ["after", "free", "held", "new"].iter().map(|k| k.to_string()).collect());
        assert_eq!(jobs::enqueue_many(&db.write, Vec::new()).await.unwrap(), 0);
    }

    async fn a_running_job_can_free_its_key_for_new_work(backend: Backend) {
        let cluster = Cluster::new(backend).await;
        let db = cluster.node().await;
        let queued = jobs::enqueue(&db.write, job("first").unique_key("chat:1")).await.unwrap();
        let Enqueued::New(id) = queued else { panic!("queued") };
        // Only a running job's key is freed.
        jobs::free_unique_key(&db.write, id).await.unwrap();
        assert_eq!(jobs::enqueue(&db.write, job("x").unique_key("chat:1")).await.unwrap(), Enqueued::AlreadyQueued);
        job::Entity::update_many()
            .col_expr(job::Column::State, sea_orm::sea_query::Expr::value("running"))
            .filter(job::Column::Id.eq(id))
            .exec(&db.write)
            .await
            .unwrap();
        jobs::free_unique_key(&db.write, id).await.unwrap();
        let again = jobs::enqueue(&db.write, job("second").unique_key("chat:1")).await.unwrap();
        assert!(matches!(again, Enqueued::New(_)));
    }

    async fn two_nodes_run_200_jobs_exactly_once(backend: Backend) {
        let cluster = Cluster::new(backend).await;
        let (a, b) = (cluster.node().await, cluster.node().await);
        let tx = a.begin().await.unwrap();
        for i in 0..200 {
            jobs::enqueue(&tx, job(&format!("job-{i}"))).await.unwrap();
        }
        tx.commit().await.unwrap();

        let runs = Runs::default();
        let shutdown = CancellationToken::new();
        let slow = Mode::Sleep(Duration::from_millis(5));
        let runners = vec![
            start(&a, "node-a", slow, &runs, &shutdown),
            start(&b, "node-b", slow, &runs, &shutdown),
        ];
        eventually(60, "200 jobs", || queue_empty(&a)).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop(shutdown, runners).await;

        let runs = runs.lock().clone();
        let mut per_key: BTreeMap<String, usize> = BTreeMap::new();
        for (key, _, _) in &runs {
            *per_key.entry(key.clone()).or_default() += 1;
        }
        assert_eq!(per_key.len(), 200, "every job ran");
        assert!(per_key.values().all(|n| *n == 1), "no job ran twice: {per_key:?}");
        let nodes: BTreeSet<&str> = runs.iter().map(|r| r.2.as_str()).collect();
        assert_eq!(nodes.len(), 2, "both nodes took work");
    }

    async fn failures_back_off_and_die_after_max_attempts(backend: Backend) {
        let cluster = Cluster::new(backend).await;
        let db = cluster.node().await;
        let id = match jobs::enqueue(&db.write, job("flaky").max_attempts(3)).await.unwrap() {
            Enqueued::New(id) => id,
            other => panic!("{other:?}"),
        };
        // A unique key is freed when its job dies.
        jobs::enqueue(&db.write, job("flaky-keyed").max_attempts(2).unique_key("k")).await.unwrap();

        let runs = Runs::default();
        let shutdown = CancellationToken::new();
        let runner = start(&db, "a", Mode::FailFirst(10), &runs, &shutdown);
        eventually(20, "the jobs to die", || async {
            rows(&db).await.iter().all(|r| r.state == "dead")
        })
        .await;
        stop(shutdown, vec![runner]).await;

        let dead = job::Entity::find_by_id(id).one(&db.read).await.unwrap().unwrap();
        assert_eq!(dead.attempts, 3);
        assert_eq!(dead.last_error.as_deref(), Some("boom 3"));
        assert_eq!(dead.locked_by, None);
        let attempts: Vec<u32> = runs
            .lock()
            .iter()
            .filter(|r| r.0 == "flaky")
            .map(|r| r.1)
            .collect();
        assert_eq!(attempts, vec![1, 2, 3]);
        let again = jobs::enqueue(&db.write, job("new").unique_key("k")).await.unwrap();
        assert!(matches!(again, Enqueued::New(_)));
    }

    async fn permanent_failures_die_at_once_and_retry_after_is_honoured(backend: Backend) {
        let cluster = Cluster::new(backend).await;
        let db = cluster.node().await;
        let runs = Runs::default();
        let shutdown = CancellationToken::new();
        jobs::enqueue(&db.write, job("permanent")).await.unwrap();
        let runner = start(&db, "a", Mode::Permanent, &runs, &shutdown);
        eventually(20, "the job to die", || async {
            rows(&db).await.iter().all(|r| r.state == "dead")
        })
        .await;
        stop(shutdown, vec![runner]).await;
        let dead = rows(&db).await;
        assert_eq!((dead[0].attempts, dead[0].last_error.as_deref()), (1, Some("no such thing")));
        assert_eq!(runs.lock().len(), 1);

        let cluster = Cluster::new(backend).await;
        let db = cluster.node().await;
        let shutdown = CancellationToken::new();
        jobs::enqueue(&db.write, job("throttled")).await.unwrap();
        let runner = start(&db, "a", Mode::RetryAfter(Duration::from_secs(30)), &runs, &shutdown);
        eventually(20, "the first run", || async {
            rows(&db).await.iter().all(|r| r.state == "queued" && r.attempts == 1)
        })
        .await;
        stop(shutdown, vec![runner]).await;
        let queued = rows(&db).await;
        let wait = queued[0].run_at - queued[0].updated_at;
        assert!((29_000..=30_100).contains(&wait), "retried after {wait} ms");
    }

    async fn a_panicking_handler_counts_as_a_failure_and_the_runner_goes_on(backend: Backend) {
        natter::telemetry::handle();
        let cluster = Cluster::new(backend).await;
        let db = cluster.node().await;
        jobs::enqueue(&db.write, job("panics-once")).await.unwrap();
        jobs::enqueue(&db.write, NewJob::new("other", json!({"key": "other"}))).await.unwrap();
        let runs = Runs::default();
        let shutdown = CancellationToken::new();
        let runner = start(&db, "a", Mode::PanicFirst, &runs, &shutdown);
        eventually(20, "both jobs", || queue_empty(&db)).await;
        // Still running: a new job is taken.
        jobs::enqueue(&db.write, NewJob::new("other", json!({"key": "after"}))).await.unwrap();
        runner.waker.wake();
        eventually(20, "the job after the panic", || queue_empty(&db)).await;
        stop(shutdown, vec![runner]).await;
        let runs = runs.lock().clone();
        let panics: Vec<u32> = runs.iter().filter(|r| r.0 == "panics-once").map(|r| r.1).collect();
        assert_eq!(panics, vec![1, 2]);
        assert!(runs.iter().any(|r| r.0 == "after"));
        let metrics = natter::telemetry::handle().render();
        assert!(metrics.contains("natter_job_failures_total{kind=\"test\"}"), "{metrics}");
    }

    async fn a_dead_nodes_jobs_are_taken_over_when_its_lease_expires(backend: Backend) {
        let cluster = Cluster::new(backend).await;
        let (a, b) = (cluster.node().await, cluster.node().await);
        jobs::enqueue(&a.write, job("orphan")).await.unwrap();
        let runs = Runs::default();
        let shutdown = CancellationToken::new();
        let mut short = options("node-a");
        short.lease = Duration::from_millis(900);
        let doomed = start_with(&a, short, Mode::Sleep(Duration::from_secs(3600)), &runs, &shutdown);
        // Running it, not only claimed: a runner aborted between its claim's
        // commit and the handler's start never runs the job at all.
        eventually(20, "node a to run the job", || async {
            runs.lock().iter().any(|r| r.2 == "node-a")
        })
        .await;
        assert!(rows(&a).await.iter().any(|r| r.locked_by.as_deref() == Some("node-a")));
        // Node a dies: no release, no more renewals.
        doomed.task.abort();
        let _ = doomed.task.await;
        // Renewed leases would keep it; an expired one lets node b take it.
        let mut takeover = options("node-b");
        takeover.lease = Duration::from_millis(900);
        let runner = start_with(&b, takeover, Mode::Succeed, &runs, &shutdown);
        eventually(20, "node b to finish the job", || queue_empty(&b)).await;
        stop(shutdown, vec![runner]).await;
        let runs = runs.lock().clone();
        assert_eq!(
            runs.iter().map(|r| (r.1, r.2.as_str())).collect::<Vec<_>>(),
            vec![(1, "node-a"), (2, "node-b")]
        );
    }

    async fn a_lease_is_renewed_while_the_handler_runs(backend: Backend) {
        let cluster = Cluster::new(backend).await;
        let (a, b) = (cluster.node().await, cluster.node().await);
        jobs::enqueue(&a.write, job("slow")).await.unwrap();
        let runs = Runs::default();
        let shutdown = CancellationToken::new();
        // Renewed every 500 ms: only a stall of a second would lose it.
        let mut short = options("node-a");
        short.lease = Duration::from_millis(1500);
        let slow = start_with(&a, short.clone(), Mode::Sleep(Duration::from_millis(4500)), &runs, &shutdown);
        short.node_id = "node-b".into();
        let other = start_with(&b, short, Mode::Succeed, &runs, &shutdown);
        eventually(20, "the slow job", || queue_empty(&a)).await;
        stop(shutdown, vec![slow, other]).await;
        let runs = runs.lock().clone();
        assert_eq!(runs.len(), 1, "ran once, on one node, three leases long: {runs:?}");
    }

    async fn stopping_finishes_quick_jobs_and_releases_slow_ones(backend: Backend) {
        let cluster = Cluster::new(backend).await;
        let db = cluster.node().await;
        // Within the grace period a running job finishes.
        jobs::enqueue(&db.write, job("quick")).await.unwrap();
        let runs = Runs::default();
        let shutdown = CancellationToken::new();
        let runner = start(&db, "a", Mode::Sleep(Duration::from_millis(500)), &runs, &shutdown);
        eventually(20, "the job to start", || async { !runs.lock().is_empty() }).await;
        stop(shutdown, vec![runner]).await;
        assert!(queue_empty(&db).await, "finished before the runner stopped");

        // Past it, it is released for another node.
        jobs::enqueue(&db.write, job("slow")).await.unwrap();
        let runs = Runs::default();
        let shutdown = CancellationToken::new();
        let mut quick_stop = options("a");
        quick_stop.stop_grace = Duration::from_millis(300);
        let runner = start_with(&db, quick_stop, Mode::Sleep(Duration::from_secs(3600)), &runs, &shutdown);
        eventually(20, "the job to start", || async { !runs.lock().is_empty() }).await;
        let started = tokio::time::Instant::now();
        stop(shutdown, vec![runner]).await;
        assert!(started.elapsed() < Duration::from_secs(5));
        let released = rows(&db).await;
        assert_eq!(released.len(), 1);
        assert_eq!(
            (released[0].state.as_str(), released[0].attempts, released[0].locked_by.as_deref()),
            ("queued", 0, None),
            "released, the interrupted run not counted"
        );
    }

    async fn periodic_work_is_enqueued_once_per_slot_by_any_number_of_nodes(backend: Backend) {
        let cluster = Cluster::new(backend).await;
        let (a, b) = (cluster.node().await, cluster.node().await);
        let every = Periodic { kind: "test".into(), period: Duration::from_secs(60) };
        let now = natter::clock::now_ms();
        let (x, y) = tokio::join!(
            jobs::periodic::tick(&a, &every, now),
            jobs::periodic::tick(&b, &every, now)
        );
        let (x, y) = (x.unwrap(), y.unwrap());
        assert!(x ^ y, "exactly one node enqueued: {x} {y}");
        let queued = rows(&a).await;
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].unique_key.as_deref(), Some("periodic:test"));
        let payload: serde_json::Value = serde_json::from_str(&queued[0].payload).unwrap();
        assert_eq!(payload["slot"], jobs::periodic::slot_of(now, every.period));

        let runs = Runs::default();
        let shutdown = CancellationToken::new();
        let runner = start(&a, "a", Mode::Succeed, &runs, &shutdown);
        eventually(20, "the periodic job", || queue_empty(&a)).await;
        stop(shutdown, vec![runner]).await;
        // A node whose timer fires late, after the run is done and deleted,
        // still finds the slot taken.
        assert!(!jobs::periodic::tick(&b, &every, now).await.unwrap());
        assert!(queue_empty(&a).await);
        // The next slot runs again.
        assert!(jobs::periodic::tick(&b, &every, now + 60_000).await.unwrap());
        assert_eq!(rows(&a).await.len(), 1);
    }

    async fn registered_periodic_work_runs_once_across_two_runners(backend: Backend) {
        let cluster = Cluster::new(backend).await;
        let (a, b) = (cluster.node().await, cluster.node().await);
        let runs = Runs::default();
        let shutdown = CancellationToken::new();
        let mut runners = Vec::new();
        for (db, node) in [(&a, "node-a"), (&b, "node-b")] {
            let mut registry = Registry::new();
            registry.register("test", Arc::new(TestHandler { node: node.into(), mode: Mode::Succeed, runs: runs.clone() }));
            registry.every("test", Duration::from_secs(3600));
            runners.push(Runner::start(db.clone(), registry, options(node), shutdown.child_token()));
        }
        eventually(20, "the periodic run", || async { !runs.lock().is_empty() }).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop(shutdown, runners).await;
        assert_eq!(runs.lock().len(), 1, "one run for the hour across both nodes");
    }

    async fn the_jobs_commands_count_list_retry_and_drop(backend: Backend) {
        let cluster = Cluster::new(backend).await;
        let db = cluster.node().await;
        let dead_id = match jobs::enqueue(&db.write, job("doomed").max_attempts(1)).await.unwrap() {
            Enqueued::New(id) => id,
            other => panic!("{other:?}"),
        };
        let runs = Runs::default();
        let shutdown = CancellationToken::new();
        let runner = start(&db, "a", Mode::Permanent, &runs, &shutdown);
        eventually(20, "the job to die", || async { rows(&db).await.iter().all(|r| r.state == "dead") }).await;
        stop(shutdown, vec![runner]).await;
        let queued_id = match jobs::enqueue(&db.write, NewJob::new("push.send", json!({}))).await.unwrap() {
            Enqueued::New(id) => id,
            other => panic!("{other:?}"),
        };

        let counts = jobs::admin::run(&db, None).await.unwrap();
        assert!(counts[0].starts_with("KIND"), "{counts:?}");
        let line = |kind: &str| counts.iter().find(|l| l.starts_with(kind)).cloned().unwrap_or_default();
        assert_eq!(line("push.send").split_whitespace().take(4).collect::<Vec<_>>(), ["push.send", "1", "0", "0"]);
        assert_eq!(line("test").split_whitespace().take(4).collect::<Vec<_>>(), ["test", "0", "0", "1"]);

        let dead = jobs::admin::run(&db, Some(&JobsAction::Dead { limit: 10 })).await.unwrap();
        assert_eq!(dead.len(), 2, "{dead:?}");
        assert!(dead[1].trim_start().starts_with(&dead_id.to_string()));
        assert!(dead[1].contains("no such thing"));

        let retried = jobs::admin::run(&db, Some(&JobsAction::Retry { id: dead_id })).await.unwrap();
        assert_eq!(retried, vec![format!("job {dead_id} queued again")]);
        let row = job::Entity::find_by_id(dead_id).one(&db.read).await.unwrap().unwrap();
        assert_eq!((row.state.as_str(), row.attempts), ("queued", 0));
        let err = jobs::admin::run(&db, Some(&JobsAction::Retry { id: dead_id })).await.unwrap_err();
        assert!(err.to_string().contains("is queued, not dead"), "{err}");

        let dropped = jobs::admin::run(&db, Some(&JobsAction::Drop { id: queued_id })).await.unwrap();
        assert_eq!(dropped, vec![format!("job {queued_id} dropped")]);
        let err = jobs::admin::run(&db, Some(&JobsAction::Drop { id: queued_id })).await.unwrap_err();
        assert_eq!(err.to_string(), format!("no job {queued_id}"));
        assert_eq!(
            job::Entity::find().filter(job::Column::Kind.eq("push.send")).count(&db.read).await.unwrap(),
            0
        );
        assert_eq!(jobs::admin::run(&db, Some(&JobsAction::Dead { limit: 10 })).await.unwrap(), vec!["no dead jobs"]);
    }

    async fn the_jobs_migration_reverts_and_applies_again(backend: Backend) {
        use sea_orm_migration::MigratorTrait;
        let cluster = Cluster::new(backend).await;
        let db = cluster.node().await;
        jobs::enqueue(&db.write, job("x")).await.unwrap();
        // Revert every migration from m0007_jobs on (later ones depend on nothing of it).
        let migrations = natter::db::migrations::Migrator::migrations();
        let jobs_at = migrations
            .iter()
            .position(|m| m.name() == "m0007_jobs")
            .expect("m0007_jobs is registered");
        let steps = (migrations.len() - jobs_at) as u32;
        natter::db::migrations::Migrator::down(&db.write, Some(steps)).await.unwrap();
        natter::db::migrations::Migrator::up(&db.write, None).await.unwrap();
        assert!(queue_empty(&db).await);
        jobs::enqueue(&db.write, job("y")).await.unwrap();
        assert_eq!(rows(&db).await.len(), 1);
    }

    async fn jobs_in_flight_when_a_node_is_killed_complete_once_after_restart(backend: Backend) {
        let cluster = Cluster::new(backend).await;
        let db = cluster.node().await;
        let storage = tempfile::tempdir().unwrap();
        let keys: Vec<String> = (0..40).map(|i| format!("probe-{i}")).collect();
        let tx = db.begin().await.unwrap();
        for key in &keys {
            let payload = json!({"key": key, "sleep_ms": 300});
            jobs::enqueue(&tx, NewJob::new(jobs::probe::KIND, payload)).await.unwrap();
        }
        tx.commit().await.unwrap();
        let settings = vec![
            ("DATABASE_URL", cluster.url.clone()),
            ("STORAGE_DIR", storage.path().display().to_string()),
            ("APP_KEY", "jobs-crash-test-app-key-of-32-characters".into()),
            ("JOB_PROBE", "true".into()),
            ("JOB_CONCURRENCY", "4".into()),
            ("JOB_LEASE", "3".into()),
        ];
        let probe = storage.path().join(jobs::probe::FILE_NAME);
        let recorded = || std::fs::read_to_string(&probe).unwrap_or_default();
        let mut node = NatterProcess::spawn(&settings).await;
        eventually(60, "some jobs to finish", || async { recorded().lines().count() >= 8 }).await;
        node.kill().await;
        let in_flight = job::Entity::find()
            .filter(job::Column::State.eq("running"))
            .count(&db.read)
            .await
            .unwrap();
        assert!(in_flight > 0, "jobs were running when the node died");

        let node = node.restart().await;
        eventually(60, "every job to finish", || queue_empty(&db)).await;
        node.terminate().await;
        let text = recorded();
        let lines: Vec<(&str, u32)> = text
            .lines()
            .map(|l| {
                let (key, attempt) = l.split_once(' ').unwrap();
                (key, attempt.parse().unwrap())
            })
            .collect();
        let once: BTreeSet<&str> = lines.iter().map(|l| l.0).collect();
        assert_eq!(lines.len(), keys.len(), "each job's effect recorded once: {text}");
        assert_eq!(once, keys.iter().map(String::as_str).collect());
        assert!(lines.iter().any(|l| l.1 >= 2), "a run cut by the kill ran again: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_command_prints_and_fails_with_one_line() {
    let cluster = Cluster::new(Backend::Sqlite).await;
    let db = cluster.node().await;
    jobs::enqueue(&db.write, job("x")).await.unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_natter"))
            .arg("jobs")
            .args(args)
            .env_clear()
            .env("DATABASE_URL", &cluster.url)
            .output()
            .unwrap()
    };
    let counts = run(&[]);
    assert!(counts.status.success());
    let stdout = String::from_utf8_lossy(&counts.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.split_whitespace().take(2).eq(["test", "1"])),
        "{stdout}"
    );
    let missing = run(&["retry", "999999"]);
    assert!(!missing.status.success());
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr).trim(),
        "natter: no job 999999"
    );
}
