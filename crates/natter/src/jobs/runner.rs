//! One node's runner: claims due jobs of the kinds it has handlers for, runs at
//! most `concurrency` at once, renews their leases while they run, records
//! each outcome, and on stop lets running jobs finish for `stop_grace` before
//! releasing the rest to other nodes.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use rand::Rng;
use tokio::sync::Notify;
use tokio::task::{JoinError, JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use super::store::{self, Depth, QUEUED};
use super::{Handler, Job, JobError, Registry, periodic};
use crate::clock::now_ms;
use crate::config::Config;
use crate::db::Db;
use crate::db::entities::job;
use crate::telemetry::{JOB_DEAD, JOB_DEPTH, JOB_FAILURES, JOB_OLDEST_DUE, JOB_RUNS};

/// Exponential backoff with full jitter: the n-th retry waits a random time
/// between zero and `min(cap, base * 2^(n-1))`, so jobs that failed together
/// (a provider's outage) do not come back together.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << doublings).min(self.cap)
    }

    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt).as_millis() as u64;
        Duration::from_millis(rand::rng().random_range(0..=ceiling))
    }
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Written into `locked_by`; unique per node.
    pub node_id: String,
    /// Jobs run at once on this node.
    pub concurrency: usize,
    /// How often an idle runner looks for due jobs (a local enqueue wakes it
    /// at once through its [`Waker`]).
    pub poll_interval: Duration,
    /// How long a claim holds a job without renewal. Renewed every third of
    /// it while the handler runs, so it bounds how long other nodes wait for
    /// the jobs of a node that died, not how long a handler may take.
    pub lease: Duration,
    pub backoff: Backoff,
    /// How long a stopping runner lets running jobs finish before releasing them.
    pub stop_grace: Duration,
    /// How often the queue-depth gauges are refreshed.
    pub gauge_interval: Duration,
}

impl RunnerOptions {
    pub fn from_config(config: &Config) -> RunnerOptions {
        let settings = &config.settings;
        RunnerOptions {
            node_id: config.node_id.clone(),
            concurrency: settings.job_concurrency as usize,
            poll_interval: Duration::from_secs(settings.job_poll_interval),
            lease: Duration::from_secs(settings.job_lease),
            backoff: Backoff::default(),
            stop_grace: Duration::from_secs(10),
            gauge_interval: Duration::from_secs(15),
        }
    }
}

/// Wakes the local runner (and lets it claim at once) after a commit that
/// enqueued jobs. Cheap to clone; waking a runner that is busy costs nothing.
#[derive(Clone, Default)]
pub struct Waker(Arc<Notify>);

impl Waker {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    async fn woken(&self) {
        self.0.notified().await;
    }
}

/// A started runner: its waker, and the task that ends once the shutdown token
/// is cancelled and every running job has finished or been released.
pub struct Runner {
    pub waker: Waker,
    pub task: JoinHandle<()>,
}

impl Runner {
    /// Starts the runner, its periodic scheduler and its gauges on `db`.
    pub fn start(
        db: Db,
        registry: Registry,
        options: RunnerOptions,
        shutdown: CancellationToken,
    ) -> Runner {
        Runner::start_with(db, registry, options, shutdown, Waker::default())
    }

    /// Starts the runner woken by `waker`, made beforehand so that what
    /// enqueues work (`AppState::jobs`) can hold it before the runner exists.
    pub fn start_with(
        db: Db,
        registry: Registry,
        options: RunnerOptions,
        shutdown: CancellationToken,
        waker: Waker,
    ) -> Runner {
        let kinds = registry.kinds();
        let state = Loop {
            db,
            registry: Arc::new(registry),
            kinds,
            options,
            waker: waker.clone(),
            shutdown,
            tasks: JoinSet::new(),
            running: HashMap::new(),
        };
        let task = tokio::spawn(state.run());
        Runner { waker, task }
    }
}

/// A job this runner is running: enough to renew, fence and release it.
#[derive(Debug, Clone)]
struct Run {
    id: i64,
    kind: String,
    attempt: i32,
}

struct Loop {
    db: Db,
    registry: Arc<Registry>,
    kinds: Vec<String>,
    options: RunnerOptions,
    waker: Waker,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    running: HashMap<tokio::task::Id, Run>,
}

impl Loop {
    async fn run(mut self) {
        let helpers = self.spawn_helpers();
        let mut renew = tokio::time::interval(self.options.lease / 3);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tracing::debug!(kinds = ?self.kinds, node = %self.options.node_id, "job runner started");
        while !self.shutdown.is_cancelled() {
            self.fill().await;
            let shutdown = self.shutdown.clone();
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.waker.woken() => {}
                _ = tokio::time::sleep(self.options.poll_interval) => {}
                Some(done) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    let _ = self.finished(done);
                }
                _ = renew.tick() => self.renew().await,
            }
        }
        self.drain(&mut renew).await;
        for helper in helpers {
            let _ = helper.await;
        }
        tracing::debug!(node = %self.options.node_id, "job runner stopped");
    }

    /// The periodic scheduler and the gauge refresher, stopped by the same token.
    fn spawn_helpers(&self) -> Vec<JoinHandle<()>> {
        let mut helpers = Vec::new();
        if !self.registry.periodic.is_empty() {
            helpers.push(tokio::spawn(periodic::run(
                self.db.clone(),
                self.registry.periodic.clone(),
                self.waker.clone(),
                self.shutdown.clone(),
            )));
        }
        helpers.push(tokio::spawn(refresh_gauges(
            self.db.clone(),
            self.options.gauge_interval,
            self.shutdown.clone(),
        )));
        helpers
    }

    /// Claims as many due jobs as there are free slots and starts them.
    async fn fill(&mut self) {
        let free = self.options.concurrency.saturating_sub(self.tasks.len());
        if free == 0 {
            return;
        }
        let claimed = match self.claim(free as u64).await {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(error = %err, "could not claim jobs; trying again at the next poll");
                return;
            }
        };
        for row in claimed {
            self.start_one(row).await;
        }
    }

    async fn claim(&self, limit: u64) -> Result<Vec<job::Model>, sea_orm::DbErr> {
        if !store::any_claimable(&self.db, &self.kinds).await? {
            return Ok(Vec::new());
        }
        let lease_until = now_ms() + self.options.lease.as_millis() as i64;
        store::claim(
            &self.db,
            &self.kinds,
            limit,
            &self.options.node_id,
            lease_until,
        )
        .await
    }

    async fn start_one(&mut self, row: job::Model) {
        let run = Run {
            id: row.id,
            kind: row.kind.clone(),
            attempt: row.attempts,
        };
        let recorder = Recorder {
            db: self.db.clone(),
            node: self.options.node_id.clone(),
            backoff: self.options.backoff,
            run: run.clone(),
            max_attempts: row.max_attempts,
        };
        // A job claimed back from a dead node after its last allowed attempt
        // is not run again: that node may have died of it.
        if row.attempts > row.max_attempts {
            let reason = "its node stopped during its last attempt".to_string();
            recorder.record(Err(JobError::Permanent(reason))).await;
            return;
        }
        let Some(handler) = self.registry.handler(&row.kind) else {
            return;
        };
        let job = match to_job(row) {
            Ok(job) => job,
            Err(err) => {
                recorder.record(Err(err)).await;
                return;
            }
        };
        tracing::debug!(job_id = job.id, kind = %job.kind, attempt = job.attempt, "job started");
        let handle = self.tasks.spawn(execute(handler, job, recorder));
        self.running.insert(handle.id(), run);
    }

    /// Forgets a finished task; returns its run when it was stopped mid-run.
    fn finished(&mut self, done: Result<(tokio::task::Id, ()), JoinError>) -> Option<Run> {
        let (id, interrupted) = match done {
            Ok((id, ())) => (id, false),
            Err(err) => (err.id(), err.is_cancelled()),
        };
        let run = self.running.remove(&id);
        if interrupted { run } else { None }
    }

    async fn renew(&self) {
        let ids: Vec<i64> = self.running.values().map(|run| run.id).collect();
        let lease_until = now_ms() + self.options.lease.as_millis() as i64;
        if let Err(err) = store::renew(&self.db, &ids, &self.options.node_id, lease_until).await {
            tracing::warn!(error = %err, "could not renew job leases");
        }
    }

    /// Lets running jobs finish for `stop_grace`, then stops the rest and
    /// queues them again for any node.
    async fn drain(&mut self, renew: &mut tokio::time::Interval) {
        let deadline = tokio::time::sleep(self.options.stop_grace);
        tokio::pin!(deadline);
        while !self.tasks.is_empty() {
            tokio::select! {
                Some(done) = self.tasks.join_next_with_id() => {
                    let _ = self.finished(done);
                }
                _ = &mut deadline => break,
                _ = renew.tick() => self.renew().await,
            }
        }
        self.tasks.abort_all();
        let mut interrupted = Vec::new();
        while let Some(done) = self.tasks.join_next_with_id().await {
            interrupted.extend(self.finished(done));
        }
        // Stopped mid-run (or while recording its outcome: the fence makes
        // releasing a recorded run a no-op).
        for run in interrupted {
            match store::release(&self.db, run.id, &self.options.node_id, run.attempt).await {
                Ok(true) => {
                    metrics::counter!(JOB_RUNS, "kind" => run.kind.clone(), "outcome" => "released")
                        .increment(1);
                    tracing::info!(job_id = run.id, kind = %run.kind, "job released at stop");
                }
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(job_id = run.id, error = %err, "could not release a job at stop; it runs again when its lease expires");
                }
            }
        }
    }
}

fn to_job(row: job::Model) -> Result<Job, JobError> {
    let payload = serde_json::from_str(&row.payload)
        .map_err(|e| JobError::Permanent(format!("payload is not JSON: {e}")))?;
    Ok(Job {
        id: row.id,
        kind: row.kind,
        payload,
        attempt: u32::try_from(row.attempts).unwrap_or(0),
        max_attempts: u32::try_from(row.max_attempts).unwrap_or(0),
        created_at: row.created_at,
    })
}

/// Runs the handler; a panic is a failed run like any other.
async fn execute(handler: Arc<dyn Handler>, job: Job, recorder: Recorder) {
    let outcome = AssertUnwindSafe(handler.run(&job)).catch_unwind().await;
    let result = outcome.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        Err(JobError::Retry(format!("handler panicked: {what}")))
    });
    recorder.record(result).await;
}

/// Writes a run's outcome, fenced to that run.
struct Recorder {
    db: Db,
    node: String,
    backoff: Backoff,
    run: Run,
    max_attempts: i32,
}

impl Recorder {
    async fn record(&self, result: Result<(), JobError>) {
        let Run { id, kind, attempt } = &self.run;
        let (id, attempt) = (*id, *attempt);
        let (outcome, written) = match &result {
            Ok(()) => (
                "done",
                store::complete(&self.db, id, &self.node, attempt).await,
            ),
            Err(err) => {
                metrics::counter!(JOB_FAILURES, "kind" => kind.clone()).increment(1);
                match self.next_run_at(err, attempt) {
                    Some(run_at) => (
                        "retry",
                        store::reschedule(
                            &self.db,
                            id,
                            &self.node,
                            attempt,
                            run_at,
                            &err.to_string(),
                        )
                        .await,
                    ),
                    None => {
                        metrics::counter!(JOB_DEAD, "kind" => kind.clone()).increment(1);
                        (
                            "dead",
                            store::bury(&self.db, id, &self.node, attempt, &err.to_string()).await,
                        )
                    }
                }
            }
        };
        metrics::counter!(JOB_RUNS, "kind" => kind.clone(), "outcome" => outcome).increment(1);
        match (written, &result) {
            (Ok(true), Ok(())) => tracing::debug!(job_id = id, kind = %kind, "job done"),
            (Ok(true), Err(err)) if outcome == "dead" => {
                tracing::warn!(job_id = id, kind = %kind, attempt, error = %err, "job dead");
            }
            (Ok(true), Err(err)) => {
                tracing::info!(job_id = id, kind = %kind, attempt, error = %err, "job failed; will retry");
            }
            (Ok(false), _) => tracing::warn!(
                job_id = id,
                kind = %kind,
                "job's lease was lost before its outcome was recorded; another run owns it"
            ),
            (Err(err), _) => tracing::warn!(
                job_id = id,
                kind = %kind,
                error = %err,
                "could not record a job's outcome; it runs again when its lease expires"
            ),
        }
    }

    /// When to try again, or None when the job is dead.
    fn next_run_at(&self, err: &JobError, attempt: i32) -> Option<i64> {
        let delay = match err {
            JobError::Permanent(_) => return None,
            _ if attempt >= self.max_attempts => return None,
            JobError::RetryAfter { after, .. } => *after,
            JobError::Retry(_) => self.backoff.delay(u32::try_from(attempt).unwrap_or(1)),
        };
        Some(now_ms() + delay.as_millis() as i64)
    }
}

/// Sets the depth and oldest-due gauges from one grouped query every
/// `interval`, zeroing groups that emptied. Each node reports the same
/// cluster-wide figures: use max(), not sum(), across nodes.
async fn refresh_gauges(db: Db, interval: Duration, shutdown: CancellationToken) {
    let mut seen: HashMap<(String, String), ()> = HashMap::new();
    loop {
        match store::depth(&db.read).await {
            Ok(rows) => set_gauges(&rows, &mut seen),
            Err(err) => tracing::debug!(error = %err, "could not read job queue depth"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

fn set_gauges(rows: &[Depth], seen: &mut HashMap<(String, String), ()>) {
    let now = now_ms();
    let mut current = HashMap::new();
    for row in rows {
        metrics::gauge!(JOB_DEPTH, "kind" => row.kind.clone(), "state" => row.state.clone())
            .set(row.count as f64);
        if row.state == QUEUED {
            let age = (now - row.earliest_run_at).max(0) as f64 / 1000.0;
            metrics::gauge!(JOB_OLDEST_DUE, "kind" => row.kind.clone()).set(age);
        }
        current.insert((row.kind.clone(), row.state.clone()), ());
    }
    for (kind, state) in seen.keys() {
        if !current.contains_key(&(kind.clone(), state.clone())) {
            metrics::gauge!(JOB_DEPTH, "kind" => kind.clone(), "state" => state.clone()).set(0.0);
            if state == QUEUED {
                metrics::gauge!(JOB_OLDEST_DUE, "kind" => kind.clone()).set(0.0);
            }
        }
    }
    *seen = current;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitters_below_it() {
        let backoff = Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
        };
        assert_eq!(backoff.ceiling(1), Duration::from_secs(1));
        assert_eq!(backoff.ceiling(2), Duration::from_secs(2));
        assert_eq!(backoff.ceiling(6), Duration::from_secs(32));
        assert_eq!(backoff.ceiling(7), Duration::from_secs(60));
        assert_eq!(backoff.ceiling(200), Duration::from_secs(60));
        let delays: Vec<Duration> = (0..200).map(|_| backoff.delay(6)).collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(32)));
        // Full jitter spreads: 200 draws from [0, 32 s] are not all alike.
        assert!(delays.iter().any(|d| *d < Duration::from_secs(16)));
        assert!(delays.iter().any(|d| *d >= Duration::from_secs(16)));
    }
}
