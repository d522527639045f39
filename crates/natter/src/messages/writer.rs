//! Group commit: one writer task per node writes sends and receipts in batched
//! transactions (DESIGN.md principle 3).
//!
//! Request handlers validate, then hand a job to the writer and wait. The
//! writer takes every job waiting (up to WRITER_MAX_BATCH), writes them all in
//! one [`LogTx`], commits (one fsync on SQLite, one WAL flush on PostgreSQL),
//! and only then answers each handler: a 201 always means committed. Under load
//! batches grow by themselves; with one request in flight a batch is that one
//! request, so nothing waits for a timer.
//!
//! If a batch fails (say a client message id another node just stored), the
//! writer retries its jobs one by one, so one bad job fails alone.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use sea_orm::ActiveValue::Set;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::gate::Gate;
use super::store::{self, MARK_DELIVERED, MARK_READ};
use crate::background::TaskGroup;
use crate::clock::Timestamp;
use crate::db::entities::message;
use crate::db::unique::MESSAGES_CLIENT_ID;
use crate::db::{Db, StatementCount};
use crate::devices::{self, OnlineHint, QueuedPushes, SentMessage};
use crate::error::{ApiError, ApiResult};
use crate::jobs::Waker;
use crate::media;
use crate::membership::{self, RosterCache, Watermark};
use crate::realtime::presence::Presence;
use crate::resources::message::{
    DeliveryStatus, LocationView, MediaView, MessageView, ReceiptUpdate, ReplyView, SenderView,
};
use crate::synclog::{Audience, CommittedEvent, Event, LogTx, Scope, origin};
use crate::telemetry::{
    MESSAGES_SENT, WRITER_BATCH_DURATION, WRITER_BATCH_SIZE, WRITER_BATCH_STATEMENTS,
    WRITER_QUEUE_DEPTH,
};

/// A validated message, ready to store.
#[derive(Debug, Clone)]
pub struct Draft {
    pub chat_id: i64,
    pub sender: SenderView,
    pub client_message_id: Option<String>,
    pub reply_to: Option<ReplyView>,
    pub message_type: &'static str,
    pub content: Option<String>,
    pub location: Option<LocationView>,
    /// The contact card as JSON text.
    pub contact_data: Option<String>,
    /// The stored file of a media message.
    pub media: Option<DraftMedia>,
    /// The file opens once per recipient; no message resource shows it.
    pub view_once: bool,
    /// Users the message mentions (groups only; checked by the gate against
    /// the roster the message is admitted with).
    pub mentions: Vec<i64>,
}

/// A media message's file: the row it references (one reference per message,
/// taken in the transaction that stores the message) and what the message shows.
#[derive(Debug, Clone)]
pub struct DraftMedia {
    pub id: i64,
    /// The sender's file name (documents).
    pub file_name: Option<String>,
    /// Signed when the request was handled, for the `MessageSent` event.
    pub view: MediaView,
    /// Ask for an ffmpeg probe (a video or audio file not probed yet).
    pub probe: bool,
}

#[derive(Debug)]
pub enum SendOutcome {
    /// Stored now.
    Created(Box<MessageView>),
    /// The sender had already sent this client message id: this is the first message.
    Existing(i64),
    /// Refused as of the commit: membership and blocks are checked here, in the
    /// transaction, so no cache or race can let a message through.
    Refused(Refusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The sender is not (or no longer) a member of the chat.
    NotMember,
    /// The other person of the private chat blocked the sender.
    BlockedByRecipient,
    /// The sender blocked the other person.
    SenderBlocks,
    /// A mentioned user is not (or no longer) a member of the group.
    MentionsNonMember,
    /// Mentions were sent in a private chat.
    MentionInPrivateChat,
}

/// A watermark move for one member.
#[derive(Debug, Clone, Copy)]
pub struct ReceiptRequest {
    pub chat_id: i64,
    pub user_id: i64,
    pub which: Watermark,
    pub message_id: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct ReceiptOutcome {
    pub moved: bool,
    pub at: i64,
}

/// A job for the writer: what to write, and where its answer goes, typed per
/// kind so that a send can only be answered with a [`SendOutcome`].
enum Job {
    Send {
        draft: Box<Draft>,
        origin: Option<Arc<str>>,
        reply: oneshot::Sender<ApiResult<SendOutcome>>,
    },
    Receipt {
        request: ReceiptRequest,
        origin: Option<Arc<str>>,
        reply: oneshot::Sender<ApiResult<ReceiptOutcome>>,
    },
}

impl Job {
    fn draft(&self) -> Option<&Draft> {
        match self {
            Job::Send { draft, .. } => Some(draft),
            Job::Receipt { .. } => None,
        }
    }

    /// The socket the request spoke for (`X-Socket-ID`), captured on the
    /// request's task when it was handed to the writer.
    fn origin(&self) -> Option<Arc<str>> {
        match self {
            Job::Send { origin, .. } | Job::Receipt { origin, .. } => origin.clone(),
        }
    }

    fn fail(self, err: ApiError) {
        match self {
            Job::Send { reply, .. } => {
                let _ = reply.send(Err(err));
            }
            Job::Receipt { reply, .. } => {
                let _ = reply.send(Err(err));
            }
        }
    }
}

/// What a batch wrote: one outcome per send and per receipt, each in the
/// order of its kind's jobs.
#[derive(Default)]
struct Written {
    sends: Vec<SendOutcome>,
    receipts: Vec<ReceiptOutcome>,
}

impl Written {
    /// Answers each job with its own outcome (after the commit).
    fn answer(self, jobs: Vec<Job>) {
        let mut sends = self.sends.into_iter();
        let mut receipts = self.receipts.into_iter();
        for job in jobs {
            match job {
                Job::Send { reply, .. } => {
                    if let Some(outcome) = sends.next() {
                        let _ = reply.send(Ok(outcome));
                    }
                }
                Job::Receipt { reply, .. } => {
                    if let Some(outcome) = receipts.next() {
                        let _ = reply.send(Ok(outcome));
                    }
                }
            }
        }
    }
}

/// Where committed events go (the real-time fan-out).
pub type Publish = std::sync::Arc<dyn Fn(Vec<CommittedEvent>) + Send + Sync>;

/// What the writer needs to push to recipients who are away: who has a
/// socket open (presence, on every node), and the job runner to wake once a
/// batch that enqueued pushes commits.
#[derive(Clone)]
pub struct Pushes {
    pub presence: Arc<Presence>,
    pub waker: Waker,
}

/// The writer's connections to the rest of the node.
struct Env {
    db: Db,
    publish: Publish,
    pushes: Pushes,
    /// Commit a small batch ([`OVERLAP_UP_TO`]) on a task of its own while
    /// the next begins: on the server databases, where the next batch's
    /// BEGIN and its wait for the log lock are round trips that can go out
    /// during the commit's. SQLite has one write connection, which the next
    /// batch could only wait for.
    overlap: bool,
}

/// The handle request handlers use; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    queue: mpsc::Sender<Job>,
}

/// Jobs that may wait for the writer; beyond this, handlers wait to enqueue.
const QUEUE_CAPACITY: usize = 16_384;

impl Writer {
    /// Starts the writer on a thread of its own, with its own small runtime.
    ///
    /// Why not a task among the others: a batch makes several round trips to
    /// the database, and each wake-up of a task waits its turn behind every
    /// other runnable task; under load that is hundreds of request handlers,
    /// and sqlx also returns the connection to its pool through a spawned task.
    /// On its own runtime the writer and those tasks run as soon as the
    /// database answers (measured: 17 of a batch's 41 ms went to that wait,
    /// docs/benchmarks.md).
    ///
    /// On PostgreSQL and MySQL it writes through two connections of its own,
    /// opened on its runtime ([`Db::with_own_write_connections`]): its
    /// statements, whose texts do not depend on a batch's size
    /// ([`crate::db::fixed`]), are prepared once and stay prepared, and a
    /// small batch commits on one while the next begins on the other.
    ///
    /// The thread counts in `tasks` while it runs; when `tasks` is stopped the
    /// writer takes no new job, finishes those queued, and ends.
    pub fn spawn(
        db: Db,
        max_batch: usize,
        publish: Publish,
        pushes: Pushes,
        tasks: &TaskGroup,
    ) -> std::io::Result<(Writer, WriterThread)> {
        let (queue, jobs) = mpsc::channel(QUEUE_CAPACITY);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (alive, stop) = (tasks.token(), tasks.stop_token());
        let thread = std::thread::Builder::new()
            .name("natter-writer".into())
            .spawn(move || {
                runtime.block_on(async {
                    let (db, overlap) = db.with_own_write_connections().await;
                    let env = Env {
                        db,
                        publish,
                        pushes,
                        overlap,
                    };
                    run(&env, jobs, max_batch.max(1), stop).await;
                    env.db.close_own_write_connection().await;
                });
                drop(alive);
            })?;
        Ok((Writer { queue }, WriterThread(thread)))
    }

    /// Stores a message once its batch commits.
    pub async fn send(&self, draft: Draft) -> ApiResult<SendOutcome> {
        let (reply, answer) = oneshot::channel();
        let draft = Box::new(draft);
        let origin = origin::current();
        self.submit(
            Job::Send {
                draft,
                origin,
                reply,
            },
            answer,
        )
        .await
    }

    /// Moves a watermark once its batch commits.
    pub async fn receipt(&self, request: ReceiptRequest) -> ApiResult<ReceiptOutcome> {
        let (reply, answer) = oneshot::channel();
        let origin = origin::current();
        self.submit(
            Job::Receipt {
                request,
                origin,
                reply,
            },
            answer,
        )
        .await
    }

    async fn submit<T>(&self, job: Job, answer: oneshot::Receiver<ApiResult<T>>) -> ApiResult<T> {
        self.queue
            .send(job)
            .await
            .map_err(|_| ApiError::Unavailable("The server is shutting down.".into()))?;
        answer
            .await
            .map_err(|_| ApiError::Internal(anyhow::anyhow!("the writer dropped a job")))?
    }
}

/// The writer's thread, for the server to wait for once it has stopped the
/// writer's task group.
pub struct WriterThread(std::thread::JoinHandle<()>);

impl WriterThread {
    pub async fn join(self) {
        let thread = self.0;
        if !matches!(
            tokio::task::spawn_blocking(move || thread.join()).await,
            Ok(Ok(()))
        ) {
            tracing::error!("the writer thread panicked");
        }
    }
}

/// The next job; once `stop` is cancelled, no new job is taken but those
/// already queued are still handed out, then None.
async fn next_job(jobs: &mut mpsc::Receiver<Job>, stop: &CancellationToken) -> Option<Job> {
    tokio::select! {
        job = jobs.recv() => job,
        _ = stop.cancelled() => {
            jobs.close();
            jobs.recv().await
        }
    }
}

/// What the writer keeps between batches (it is their only user).
#[derive(Default)]
struct Kept {
    rosters: RosterCache,
    /// Recipients an earlier batch found with a push device: those whose
    /// presence is worth asking about before the next batch's transaction.
    device_holders: HashSet<i64>,
}

/// Device holders remembered at most; beyond it the set starts over.
const DEVICE_HOLDERS_KEPT: usize = 100_000;

/// The most members a batch's chats may have for presence to be asked about
/// all of them; beyond it (a large group), it is asked only about those
/// known to have a device.
const ASK_ALL_MEMBERS_UP_TO: usize = 256;

impl Kept {
    /// The batch's likely push recipients, to ask presence about before its
    /// transaction: the members of its chats as last read, when they are few
    /// (one-to-one chats, small groups: a batch whose recipients are all
    /// connected then needs no device query at all); in larger chats only
    /// those who had a device when an earlier batch looked. A guess; whoever
    /// it misses is asked about inside the transaction.
    fn likely_push_recipients(&self, jobs: &[Job]) -> Vec<i64> {
        let chat_ids: Vec<i64> = jobs
            .iter()
            .filter_map(Job::draft)
            .map(|d| d.chat_id)
            .collect();
        let members: HashSet<i64> = self.rosters.cached_members(&chat_ids).collect();
        if members.len() <= ASK_ALL_MEMBERS_UP_TO {
            return members.into_iter().collect();
        }
        members
            .into_iter()
            .filter(|u| self.device_holders.contains(u))
            .collect()
    }

    fn remember_device_holders(&mut self, users: &[i64]) {
        if self.device_holders.len() + users.len() > DEVICE_HOLDERS_KEPT {
            self.device_holders.clear();
        }
        self.device_holders.extend(users.iter().copied());
    }
}

async fn run(env: &Env, mut jobs: mpsc::Receiver<Job>, max_batch: usize, stop: CancellationToken) {
    let mut kept = Kept::default();
    let mut committing: Option<Committing> = None;
    loop {
        let next = match committing.as_mut() {
            None => Next::Job(next_job(&mut jobs, &stop).await),
            // A commit under way may fail and hand its jobs back: they are
            // retried as soon as it ends, not when the next job comes.
            Some(commit) => tokio::select! {
                job = next_job(&mut jobs, &stop) => Next::Job(job),
                failed = commit.outcome() => Next::Committed(failed),
            },
        };
        let first = match next {
            Next::Job(Some(job)) => job,
            Next::Job(None) => break,
            Next::Committed(failed) => {
                committing = None;
                retry_one_by_one(env, &mut kept, failed).await;
                continue;
            }
        };
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        metrics::gauge!(WRITER_QUEUE_DEPTH).set(jobs.len() as f64);
        committing = process(env, &mut kept, batch, committing.take()).await;
    }
    if let Some(mut commit) = committing {
        let failed = commit.outcome().await;
        retry_one_by_one(env, &mut kept, failed).await;
    }
}

/// The largest batch that commits while the next begins. A small batch is
/// light load, where a send's wait is the batch's round trips and the
/// overlap takes two of them off (BEGIN, the log lock). A large one is heavy
/// load, where the core is the limit and a batch begun during the commit
/// would leave the jobs that arrive meanwhile for one more batch: W1 on
/// PostgreSQL with 50 pairs, every batch overlapped, made batches of 128
/// instead of 189 and lost 10-18 % (docs/benchmarks.md, issue 20, seventh part).
const OVERLAP_UP_TO: usize = 32;

/// What the writer waits for next.
enum Next {
    /// A job, or None once the writer is stopped and its queue is empty.
    Job(Option<Job>),
    /// The batch committing on its own task ended; the jobs to retry.
    Committed(Vec<Job>),
}

/// Writes one batch. With `overlap` (PostgreSQL, MySQL) the commit goes on a
/// task of its own and is returned, so the next batch can begin meanwhile;
/// `previous`, such a commit still under way, is waited for once this
/// batch's transaction holds the log lock, which the database grants only
/// after that commit, so the previous batch is published before this one.
async fn process(
    env: &Env,
    kept: &mut Kept,
    batch: Vec<Job>,
    previous: Option<Committing>,
) -> Option<Committing> {
    let clock = BatchClock::start(batch.len());
    let mut begun = clock.count.counting(begin(env, kept, &batch)).await;
    if let Some(mut previous) = previous {
        let failed = previous.outcome().await;
        if !failed.is_empty() {
            // Its jobs go first, alone; this batch begins again after them.
            if let (_, Ok(tx)) = begun {
                let _ = tx.rollback().await;
            }
            retry_one_by_one(env, kept, failed).await;
            begun = clock.count.counting(begin(env, kept, &batch)).await;
        }
    }
    let staged = clock.count.counting(stage_begun(env, kept, begun, &batch));
    let staged = match staged.await {
        Ok(staged) => staged,
        Err(err) => {
            clock.record();
            retry_one_by_one(env, kept, to_retry(batch, err)).await;
            return None;
        }
    };
    if env.overlap && batch.len() <= OVERLAP_UP_TO {
        return Some(Committing::start(env, staged, batch, clock));
    }
    let stored = clock.count.counting(staged.commit()).await;
    clock.record();
    match stored {
        Ok(stored) => finish(&env.publish, &env.pushes.waker, stored, batch),
        Err(err) => retry_one_by_one(env, kept, to_retry(batch, err)).await,
    }
    None
}

/// A batch's start, size and statements, for its metrics (a job retried
/// alone is a batch of one).
struct BatchClock {
    started: std::time::Instant,
    jobs: usize,
    count: StatementCount,
}

impl BatchClock {
    fn start(jobs: usize) -> BatchClock {
        BatchClock {
            started: std::time::Instant::now(),
            jobs,
            count: StatementCount::default(),
        }
    }

    fn record(&self) {
        metrics::histogram!(WRITER_BATCH_SIZE).record(self.jobs as f64);
        metrics::histogram!(WRITER_BATCH_DURATION).record(self.started.elapsed().as_secs_f64());
        let statements = self.count.get();
        metrics::histogram!(WRITER_BATCH_STATEMENTS).record(statements as f64);
        tracing::debug!(jobs = self.jobs, statements, "writer batch");
    }
}

/// A batch committing on a task of its own, on the writer's runtime, while
/// the writer begins the next. The task publishes and answers once
/// committed; if the commit fails, it hands the jobs back to be retried one
/// by one ([`to_retry`]).
struct Committing(tokio::task::JoinHandle<Vec<Job>>);

impl Committing {
    fn start(env: &Env, staged: Staged, jobs: Vec<Job>, clock: BatchClock) -> Committing {
        let (publish, waker) = (env.publish.clone(), env.pushes.waker.clone());
        Committing(tokio::spawn(async move {
            let stored = clock.count.counting(staged.commit_beside_next()).await;
            clock.record();
            match stored {
                Ok(stored) => {
                    finish(&publish, &waker, stored, jobs);
                    Vec::new()
                }
                Err(err) => to_retry(jobs, err),
            }
        }))
    }

    /// The jobs to retry, once the commit has ended. Polled again after it
    /// ended, it panics: the caller drops it.
    async fn outcome(&mut self) -> Vec<Job> {
        match (&mut self.0).await {
            Ok(failed) => failed,
            Err(err) => {
                tracing::error!(error = %err, "a writer commit task ended without an answer");
                Vec::new()
            }
        }
    }
}

/// After a batch failed with `err`, the jobs to retry one by one: all of a
/// batch of several, so one bad job fails alone; a lone job only when its
/// client message id was stored meanwhile by another node (the retry's lookup
/// finds it); otherwise it is answered with `err` here.
fn to_retry(jobs: Vec<Job>, err: ApiError) -> Vec<Job> {
    if jobs.len() > 1 {
        tracing::warn!(
            error = format!("{err:#}"),
            jobs = jobs.len(),
            "batch failed; retrying its jobs one by one"
        );
        return jobs;
    }
    if is_duplicate(&err) {
        return jobs;
    }
    if let Some(job) = jobs.into_iter().next() {
        job.fail(err);
    }
    Vec::new()
}

async fn retry_one_by_one(env: &Env, kept: &mut Kept, jobs: Vec<Job>) {
    for job in jobs {
        write_one(env, kept, job).await;
    }
}

/// One job alone, committed before anything else and answered. A duplicate
/// client message id stored meanwhile by another node is found by the second
/// attempt's lookup.
async fn write_one(env: &Env, kept: &mut Kept, job: Job) {
    let mut attempt = 0;
    let jobs = vec![job];
    loop {
        attempt += 1;
        let clock = BatchClock::start(1);
        let alone = async {
            let begun = begin(env, kept, &jobs).await;
            stage_begun(env, kept, begun, &jobs).await?.commit().await
        };
        let stored = clock.count.counting(alone).await;
        clock.record();
        match stored {
            Ok(stored) => return finish(&env.publish, &env.pushes.waker, stored, jobs),
            Err(err) if is_duplicate(&err) && attempt < 3 => continue,
            Err(err) => {
                if let Some(job) = jobs.into_iter().next() {
                    job.fail(err);
                }
                return;
            }
        }
    }
}

/// Begins a batch's transaction. Presence is asked about the likely push
/// recipients meanwhile, so the transaction (which holds the log lock) does
/// not wait on Redis in the common case.
async fn begin(
    env: &Env,
    kept: &Kept,
    jobs: &[Job],
) -> (OnlineHint, Result<LogTx, sea_orm::DbErr>) {
    let lookup = OnlineHint::lookup(&env.pushes.presence, kept.likely_push_recipients(jobs));
    // A hint not back in time is no hint: the batch asks about its push
    // recipients itself, rather than hold the log lock for a slow Redis.
    let hint = async {
        tokio::time::timeout(HINT_WAIT, lookup)
            .await
            .unwrap_or_default()
    };
    tokio::join!(hint, LogTx::begin(&env.db))
}

/// How long a batch waits for its [`OnlineHint`] (one pipelined Redis round
/// trip, or a lock in this process).
const HINT_WAIT: std::time::Duration = std::time::Duration::from_millis(20);

/// The batch's statements on the transaction [`begin`] gave, or its error.
async fn stage_begun(
    env: &Env,
    kept: &mut Kept,
    (hint, tx): (OnlineHint, Result<LogTx, sea_orm::DbErr>),
    jobs: &[Job],
) -> ApiResult<Staged> {
    stage_batch(tx?, kept, &env.pushes.presence, &hint, jobs).await
}

/// A committed batch, published and answered: the job runner woken for its
/// pushes, its events to the fan-out, then each request its answer.
fn finish(publish: &Publish, waker: &Waker, stored: Stored, jobs: Vec<Job>) {
    if stored.pushes > 0 {
        waker.wake();
    }
    publish(stored.events);
    stored.written.answer(jobs);
}

/// What a committed batch produced.
struct Stored {
    written: Written,
    events: Vec<CommittedEvent>,
    /// Push jobs queued.
    pushes: u64,
}

/// A batch whose statements are all sent, but not its commit's.
struct Staged {
    tx: LogTx,
    written: Written,
    pushes: QueuedPushes,
    /// Messages stored.
    sent: usize,
}

impl Staged {
    async fn commit(self) -> ApiResult<Stored> {
        self.commit_with(LogTx::commit).await
    }

    /// Commits with this node's next log transaction already begun beside
    /// it ([`LogTx::commit_beside_next`]).
    async fn commit_beside_next(self) -> ApiResult<Stored> {
        self.commit_with(LogTx::commit_beside_next).await
    }

    async fn commit_with<F, Fut>(self, commit: F) -> ApiResult<Stored>
    where
        F: FnOnce(LogTx) -> Fut,
        Fut: std::future::Future<Output = Result<Vec<CommittedEvent>, sea_orm::DbErr>>,
    {
        let events = commit(self.tx).await?;
        self.pushes.count_committed();
        metrics::counter!(MESSAGES_SENT).increment(self.sent as u64);
        Ok(Stored {
            written: self.written,
            events,
            pushes: self.pushes.queued,
        })
    }
}

/// A batch's statements and its commit, in one go (the tests').
#[cfg(test)]
async fn store_batch(
    tx: LogTx,
    kept: &mut Kept,
    presence: &Presence,
    hint: &OnlineHint,
    jobs: &[Job],
) -> ApiResult<Stored> {
    stage_batch(tx, kept, presence, hint, jobs)
        .await?
        .commit()
        .await
}

/// The batch's statements, on its transaction, all but the commit's. Every
/// step is one statement for the whole batch (or one per 200 rows), none per
/// message or per recipient; receipts are the exception (a few each).
async fn stage_batch(
    mut tx: LogTx,
    kept: &mut Kept,
    presence: &Presence,
    hint: &OnlineHint,
    jobs: &[Job],
) -> ApiResult<Staged> {
    let drafts = || jobs.iter().filter_map(Job::draft);
    let mut sends = Sends {
        // Inside the transaction: the log lock orders it after every batch
        // that could have stored these ids, and it needs no second connection.
        existing: existing_client_ids(tx.conn(), drafts()).await?,
        quotes: quoted_now(tx.conn(), drafts()).await?,
        in_batch: HashMap::new(),
        rows: Vec::new(),
        sent: Vec::new(),
        references: BTreeMap::new(),
        probes: BTreeSet::new(),
        mentions: Vec::new(),
    };
    let gate = Gate::load(&tx, &mut kept.rosters, drafts()).await?;
    let mut written = Written::default();
    for job in jobs {
        tx.set_origin(job.origin());
        match job {
            Job::Send { draft, .. } => {
                let outcome = sends.write(&mut tx, &gate, draft)?;
                written.sends.push(outcome);
            }
            Job::Receipt { request, .. } => {
                let moved = apply_receipt(&mut tx, request).await?;
                let at = tx.now();
                written.receipts.push(ReceiptOutcome { moved, at });
            }
        }
    }
    let sent = sends.rows.len();
    // A row that cannot take its references fails the batch; the retry one by
    // one fails only the send that carried it.
    for (media_id, count) in &sends.references {
        media::service::add_references(tx.conn(), *media_id, *count).await?;
    }
    for media_id in &sends.probes {
        media::jobs::enqueue_probe(tx.conn(), *media_id).await?;
    }
    // With the events at commit on PostgreSQL (no round trip of their own):
    // nothing below reads them back.
    store::insert_at_commit(&mut tx, &sends.rows, &sends.mentions).await?;
    // With the messages, or not at all: a push exists if its message does.
    let pushes = devices::enqueue_message_pushes(tx.conn(), presence, hint, &sends.sent).await?;
    kept.remember_device_holders(&pushes.with_devices);
    Ok(Staged {
        tx,
        written,
        pushes,
        sent,
    })
}

/// The sends of one batch: the client ids already stored, those given in
/// this batch so far, and the rows to insert.
struct Sends {
    existing: HashMap<(i64, String), i64>,
    /// The messages the drafts quote, as they are now ([`quoted_now`]).
    quotes: HashMap<i64, ReplyView>,
    /// (sender, client id) -> the id given to it earlier in this batch.
    in_batch: HashMap<(i64, String), i64>,
    rows: Vec<message::ActiveModel>,
    /// The messages stored, for their pushes.
    sent: Vec<SentMessage>,
    /// Media row -> references the admitted messages take on it.
    references: BTreeMap<i64, i64>,
    /// Media rows to probe once committed.
    probes: BTreeSet<i64>,
    /// (message, mentioned user) of the admitted messages.
    mentions: Vec<(i64, i64)>,
}

impl Sends {
    /// A retried client id is the first message; a refused draft stores
    /// nothing; anything else becomes a message and its `MessageSent`, heard
    /// by the roster the gate admitted it against.
    fn write(&mut self, tx: &mut LogTx, gate: &Gate, draft: &Draft) -> ApiResult<SendOutcome> {
        let key = draft
            .client_message_id
            .clone()
            .map(|c| (draft.sender.id, c));
        if let Some(key) = &key
            && let Some(id) = self.existing.get(key).or_else(|| self.in_batch.get(key))
        {
            return Ok(SendOutcome::Existing(*id));
        }
        let members = match gate.admit(draft) {
            Ok(members) => members,
            Err(refusal) => return Ok(SendOutcome::Refused(refusal)),
        };
        let now = tx.now();
        let id = tx.next_message_id();
        let expires_at = gate.expires_at(draft.chat_id, now);
        let mut view = new_view(draft, id, now, expires_at);
        if let Some(quoted) = &draft.reply_to {
            view.reply_to = self.quotes.get(&quoted.id).cloned();
        }
        self.sent.push(SentMessage {
            chat_id: draft.chat_id,
            message_id: id,
            sender_id: draft.sender.id,
            sent_at: now,
            members: members.clone(),
            mentioned: draft.mentions.clone(),
        });
        self.mentions
            .extend(draft.mentions.iter().map(|user_id| (id, *user_id)));
        let seq = tx.emit(
            Scope::Chat(draft.chat_id),
            Audience::to(members),
            Event::MessageSent(&view),
        )?;
        self.rows.push(new_row(draft, id, seq, now, expires_at));
        if let Some(media) = &draft.media {
            *self.references.entry(media.id).or_default() += 1;
            if media.probe {
                self.probes.insert(media.id);
            }
        }
        if let Some(key) = key {
            self.in_batch.insert(key, id);
        }
        Ok(SendOutcome::Created(Box::new(view)))
    }
}

/// The messages this batch's drafts quote, read inside the transaction: the
/// draft's quote was read before it, and a delete committed in between has
/// already rewritten the replies it found (this one did not exist yet), so
/// the reply must quote the message deleted, as it now is. A delete after
/// this commit finds the reply and rewrites it. No statement without replies.
async fn quoted_now<'a>(
    conn: &impl sea_orm::ConnectionTrait,
    drafts: impl Iterator<Item = &'a Draft>,
) -> ApiResult<HashMap<i64, ReplyView>> {
    let ids: Vec<i64> = drafts
        .filter_map(|d| d.reply_to.as_ref().map(|r| r.id))
        .collect();
    Ok(store::find_many(conn, &ids)
        .await?
        .iter()
        .map(|m| (m.id, super::render::reply_view(m)))
        .collect())
}

/// Client message ids of this batch that are already stored.
async fn existing_client_ids<'a>(
    conn: &impl sea_orm::ConnectionTrait,
    drafts: impl Iterator<Item = &'a Draft>,
) -> ApiResult<HashMap<(i64, String), i64>> {
    let pairs: Vec<(i64, String)> = drafts
        .filter_map(|d| d.client_message_id.clone().map(|c| (d.sender.id, c)))
        .collect();
    Ok(store::find_by_client_ids(conn, &pairs)
        .await?
        .into_iter()
        .filter_map(|m| m.client_message_id.map(|c| ((m.sender_id, c), m.id)))
        .collect())
}

/// The `MessageSent` view of a new message (a view-once message shows no file).
pub(super) fn new_view(draft: &Draft, id: i64, now: i64, expires_at: Option<i64>) -> MessageView {
    MessageView {
        id,
        chat_id: draft.chat_id,
        sender_id: draft.sender.id,
        sender: draft.sender.clone(),
        client_message_id: draft.client_message_id.clone(),
        reply_to: draft.reply_to.clone(),
        message_type: draft.message_type.to_string(),
        content: match draft.message_type {
            // System messages carry a structured object, stored as JSON text.
            "system" => draft
                .content
                .as_deref()
                .and_then(|t| serde_json::from_str(t).ok()),
            _ => draft.content.clone().map(serde_json::Value::String),
        },
        media: draft
            .media
            .as_ref()
            .filter(|_| !draft.view_once)
            .map(|m| m.view.clone()),
        location: draft.location.clone(),
        contact_data: draft
            .contact_data
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok()),
        status: DeliveryStatus::Sent,
        reactions: Vec::new(),
        sent_at: Timestamp(now),
        delivered_at: None,
        read_at: None,
        edited_at: None,
        deleted: false,
        expires_at: expires_at.map(Timestamp),
        view_once: draft.view_once,
        viewed: false,
        // A new message: nobody has starred it yet.
        starred: false,
        mentions: draft.mentions.clone(),
    }
}

pub(super) fn new_row(
    draft: &Draft,
    id: i64,
    seq: i64,
    now: i64,
    expires_at: Option<i64>,
) -> message::ActiveModel {
    message::ActiveModel {
        id: Set(id),
        chat_id: Set(draft.chat_id),
        sender_id: Set(draft.sender.id),
        seq: Set(seq),
        client_message_id: Set(draft.client_message_id.clone()),
        reply_to_message_id: Set(draft.reply_to.as_ref().map(|r| r.id)),
        message_type: Set(draft.message_type.to_string()),
        content: Set(draft.content.clone()),
        media_url: Set(None),
        media_size: Set(None),
        media_duration: Set(None),
        media_mime_type: Set(None),
        file_name: Set(draft.media.as_ref().and_then(|m| m.file_name.clone())),
        thumbnail_url: Set(None),
        latitude: Set(draft.location.as_ref().map(|l| l.latitude)),
        longitude: Set(draft.location.as_ref().map(|l| l.longitude)),
        location_name: Set(draft.location.as_ref().and_then(|l| l.name.clone())),
        contact_data: Set(draft.contact_data.clone()),
        sent_at: Set(now),
        edited_at: Set(None),
        deleted_at: Set(None),
        media_id: Set(draft.media.as_ref().map(|m| m.id)),
        expires_at: Set(expires_at),
        view_once: Set(draft.view_once),
    }
}

/// Moves a watermark (reading also delivers), records the marks, and emits the
/// receipt event for the chat and the senders it concerns.
async fn apply_receipt(tx: &mut LogTx, request: &ReceiptRequest) -> ApiResult<bool> {
    let ReceiptRequest {
        chat_id,
        user_id,
        which,
        message_id,
    } = *request;
    let now = tx.now();
    let (delivered_before, read_before) =
        membership::watermarks(tx.conn(), chat_id, user_id).await?;
    let delivered_moved = membership::advance_watermark(
        tx.conn(),
        chat_id,
        user_id,
        Watermark::Delivered,
        message_id,
    )
    .await?;
    if delivered_moved {
        store::insert_mark(tx.conn(), chat_id, user_id, MARK_DELIVERED, message_id, now).await?;
    }
    let (moved, from) = match which {
        Watermark::Delivered => (delivered_moved, delivered_before.max(read_before)),
        Watermark::Read => {
            let read_moved = membership::advance_watermark(
                tx.conn(),
                chat_id,
                user_id,
                Watermark::Read,
                message_id,
            )
            .await?;
            if read_moved {
                store::insert_mark(tx.conn(), chat_id, user_id, MARK_READ, message_id, now).await?;
            }
            (read_moved, read_before)
        }
    };
    if !moved {
        return Ok(false);
    }
    let senders: Vec<i64> = store::senders_between(tx.conn(), chat_id, from, message_id)
        .await?
        .into_iter()
        .filter(|s| *s != user_id)
        .collect();
    let at = Some(Timestamp(now));
    let payload = ReceiptUpdate {
        chat_id,
        user_id,
        message_id,
        read_at: if which == Watermark::Read { at } else { None },
        delivered_at: if which == Watermark::Delivered {
            at
        } else {
            None
        },
    };
    let event = match which {
        Watermark::Read => Event::MessageRead(&payload),
        Watermark::Delivered => Event::MessageDelivered(&payload),
    };
    tx.emit(Scope::Chat(chat_id), Audience::to(senders), event)?;
    Ok(true)
}

/// A concurrent insert of the same client message id (another node's batch).
fn is_duplicate(err: &ApiError) -> bool {
    matches!(err, ApiError::Db(db) if MESSAGES_CLIENT_ID.violated_by(db))
}

#[cfg(test)]
mod tests {
    //! What one batch costs in statements (round trips), counted on the
    //! batch's own thread: the same whatever the number of messages; and what
    //! a batch reads inside its transaction.

    use super::*;
    use crate::db::testing::{drop_scratch, execute, scratch, sqlite, user};
    use crate::membership::insert_private;
    use crate::realtime::presence::PresenceKey;
    use sea_orm::{ConnectionTrait, Statement};

    /// Private chats the batches spread their messages over.
    const CHATS: usize = 10;

    /// Statements of a batch of sends once the rosters are cached, besides
    /// its multi-row INSERTs (messages, push jobs, events; on PostgreSQL the
    /// messages and the counters ride in the events' statement, counted
    /// there): the log lock (one UPDATE that returns the counters where the
    /// backend can return rows, an UPDATE and a SELECT on MySQL), client ids
    /// already stored, roster versions, blocks, recipients with devices,
    /// their mutes, and elsewhere the counters. Plus BEGIN and COMMIT, not
    /// counted here.
    fn send_batch_statements(backend: sea_orm::DbBackend) -> u64 {
        let log_lock = if backend.support_returning() { 1 } else { 2 };
        let counters = u64::from(backend != sea_orm::DbBackend::Postgres);
        log_lock + 5 + counters
    }

    /// Statements a multi-row INSERT of `rows` takes ([`crate::db::fixed`]):
    /// one on PostgreSQL, one per power of two in `rows` on SQLite and MySQL.
    fn inserts(backend: sea_orm::DbBackend, rows: usize) -> u64 {
        match backend {
            sea_orm::DbBackend::Postgres => 1,
            _ => u64::from(rows.count_ones()),
        }
    }

    /// A batch of `n` sends over the CHATS chats: one push job per chat;
    /// SQLite adds its search index's one statement (messages/store.rs,
    /// `index_for_search`). On PostgreSQL the messages go with the events
    /// at commit, one statement for both (`LogTx::insert_at_commit`).
    fn batch_statements(backend: sea_orm::DbBackend, n: usize) -> u64 {
        let search_index = u64::from(backend == sea_orm::DbBackend::Sqlite);
        let messages_and_events = match backend {
            sea_orm::DbBackend::Postgres => 1,
            _ => 2 * inserts(backend, n),
        };
        send_batch_statements(backend)
            + messages_and_events
            + inserts(backend, n.min(CHATS))
            + search_index
    }

    fn send(chat_id: i64, sender: i64, client_id: String) -> Job {
        let (reply, _) = oneshot::channel();
        let draft = Draft {
            chat_id,
            sender: SenderView {
                id: sender,
                name: String::new(),
                avatar_url: None,
            },
            client_message_id: Some(client_id),
            reply_to: None,
            message_type: "text",
            content: Some("hi".into()),
            location: None,
            contact_data: None,
            media: None,
            view_once: false,
            mentions: Vec::new(),
        };
        Job::Send {
            draft: Box::new(draft),
            origin: None,
            reply,
        }
    }

    /// Ann and her private chats with CHATS people who each have a push
    /// device and no socket, so a batch takes every step of the push path.
    async fn ann_and_chats(db: &Db) -> (i64, Vec<i64>) {
        let ann = user(db, "ann").await;
        let mut others = Vec::new();
        for i in 0..CHATS {
            let other = user(db, &format!("u{i}")).await;
            execute(db, &format!(
                "INSERT INTO devices (user_id, platform, token, push_content, created_at, token_hash, last_used_at) VALUES ({other}, 'android', 't{other}', true, 0, 'h{other}', 0)"
            ))
            .await;
            others.push(other);
        }
        let mut tx = LogTx::begin(db).await.unwrap();
        let mut chats = Vec::new();
        for other in others {
            let pair = format!("{ann}:{other}");
            chats.push(insert_private(&mut tx, ann, other, pair).await.unwrap().id);
        }
        tx.commit().await.unwrap();
        (ann, chats)
    }

    /// What one batch of Ann's messages cost and did.
    struct Batch {
        statements: u64,
        created: usize,
    }

    /// One batch of `n` of Ann's messages (client ids `{label}-{i}`), its
    /// recipients looked up in `presence` first, as the writer does.
    async fn one_batch(
        db: &Db,
        kept: &mut Kept,
        presence: &Presence,
        (ann, chats): (i64, &[i64]),
        (label, n): (&str, usize),
    ) -> Batch {
        let jobs: Vec<Job> = (0..n)
            .map(|i| {
                let client_id = format!("{label}-{i}");
                send(chats[i % chats.len()], ann, client_id)
            })
            .collect();
        let hint = OnlineHint::lookup(presence, kept.likely_push_recipients(&jobs)).await;
        let count = StatementCount::default();
        let stored = count
            .counting(async {
                let tx = LogTx::begin(db).await.unwrap();
                store_batch(tx, kept, presence, &hint, &jobs).await
            })
            .await
            .unwrap();
        let created = stored
            .written
            .sends
            .iter()
            .filter(|s| matches!(s, SendOutcome::Created(_)))
            .count();
        Batch {
            statements: count.get(),
            created,
        }
    }

    async fn a_batch_costs_the_same_statements_for_1_10_and_100_messages(db: &Db) {
        let (ann, chats) = ann_and_chats(db).await;
        let mut kept = Kept::default();
        let nobody_online = Presence::local();
        // The first batch also reads the rosters it then keeps.
        let ann_chats = (ann, chats.as_slice());
        let warm_up = one_batch(db, &mut kept, &nobody_online, ann_chats, ("warm-up", CHATS)).await;
        assert_eq!(warm_up.statements, batch_statements(db.backend, CHATS) + 1);
        for n in [1, 10, 100] {
            let label = n.to_string();
            let batch = one_batch(db, &mut kept, &nobody_online, ann_chats, (&label, n)).await;
            assert_eq!(batch.created, n, "every message of the batch stored");
            assert_eq!(
                batch.statements,
                batch_statements(db.backend, n),
                "{n} messages over {} chats",
                n.min(CHATS)
            );
        }
        if db.backend == sea_orm::DbBackend::Postgres {
            assert_eq!(batch_statements(db.backend, 100), 8, "8 whatever the size");
        }
        let pushes = kept.device_holders.len();
        assert_eq!(pushes, CHATS, "the batches saw every recipient's device");
    }

    /// A batch whose recipients presence found connected before it began
    /// asks nothing about their devices: no device query, no mutes query, no
    /// push jobs' INSERT.
    async fn connected_recipients_cost_no_push_statements(db: &Db) {
        let (ann, chats) = ann_and_chats(db).await;
        let mut kept = Kept::default();
        let presence = Presence::local();
        let ann_chats = (ann, chats.as_slice());
        one_batch(db, &mut kept, &presence, ann_chats, ("warm-up", CHATS)).await;
        let others: Vec<i64> = kept
            .rosters
            .cached_members(&chats)
            .filter(|u| *u != ann)
            .collect();
        assert_eq!(others.len(), CHATS);
        for user in others {
            presence
                .join(&PresenceKey::Online(user), "{}")
                .await
                .unwrap();
        }
        for n in [1, 10, 100] {
            let label = n.to_string();
            let batch = one_batch(db, &mut kept, &presence, ann_chats, (&label, n)).await;
            assert_eq!(batch.created, n, "every message of the batch stored");
            let without_pushes =
                batch_statements(db.backend, n) - 2 - inserts(db.backend, n.min(CHATS));
            assert_eq!(batch.statements, without_pushes, "{n} messages");
        }
    }

    #[tokio::test]
    async fn connected_recipients_no_push_statements_sqlite() {
        let (_dir, db) = sqlite().await;
        connected_recipients_cost_no_push_statements(&db).await;
    }

    #[tokio::test]
    async fn connected_recipients_no_push_statements_postgres() {
        on_scratch(
            "TEST_POSTGRES_URL",
            connected_recipients_cost_no_push_statements,
        )
        .await;
    }

    #[tokio::test]
    async fn connected_recipients_no_push_statements_mysql() {
        on_scratch(
            "TEST_MYSQL_URL",
            connected_recipients_cost_no_push_statements,
        )
        .await;
    }

    #[tokio::test]
    async fn batch_statements_sqlite() {
        let (_dir, db) = sqlite().await;
        a_batch_costs_the_same_statements_for_1_10_and_100_messages(&db).await;
    }

    #[tokio::test]
    async fn batch_statements_postgres() {
        on_scratch(
            "TEST_POSTGRES_URL",
            a_batch_costs_the_same_statements_for_1_10_and_100_messages,
        )
        .await;
    }

    #[tokio::test]
    async fn batch_statements_mysql() {
        on_scratch(
            "TEST_MYSQL_URL",
            a_batch_costs_the_same_statements_for_1_10_and_100_messages,
        )
        .await;
    }

    async fn on_scratch(variable: &str, check: impl AsyncFn(&Db)) {
        let Some((name, _, db)) = scratch(variable).await else {
            return;
        };
        check(&db).await;
        drop_scratch(variable, &name, db).await;
    }

    /// `job`, alone in a batch, stored as a new message.
    async fn created(db: &Db, kept: &mut Kept, job: Job) -> MessageView {
        let tx = LogTx::begin(db).await.unwrap();
        let presence = Presence::local();
        let stored = store_batch(tx, kept, &presence, &OnlineHint::default(), &[job])
            .await
            .unwrap();
        match stored.written.sends.into_iter().next() {
            Some(SendOutcome::Created(view)) => *view,
            other => panic!("not stored as a new message: {other:?}"),
        }
    }

    /// A reply whose draft quoted its target before the sender deleted it
    /// (the delete rewrote the replies it found; this one did not exist yet)
    /// quotes it deleted: in the answer and in the logged `MessageSent` a
    /// sync reader pages through.
    async fn a_reply_quotes_its_target_as_it_is_at_commit(db: &Db) {
        let (ann, chats) = ann_and_chats(db).await;
        let mut kept = Kept::default();
        let target = created(db, &mut kept, send(chats[0], ann, "target".into())).await;
        let mut reply = send(chats[0], ann, "reply".into());
        if let Job::Send { draft, .. } = &mut reply {
            draft.reply_to = Some(ReplyView {
                id: target.id,
                sender_id: ann,
                message_type: "text".into(),
                content: Some("quoted before the delete".into()),
            });
        }
        let tx = LogTx::begin(db).await.unwrap();
        assert!(
            store::soft_delete(tx.conn(), target.id, tx.now())
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
        let view = created(db, &mut kept, reply).await;
        let quote = view.reply_to.expect("the reply still names its target");
        assert_eq!(quote.id, target.id);
        assert_eq!(quote.content, None, "quoted as deleted");
        let sql = "SELECT COUNT(*) FROM events WHERE data LIKE '%quoted before the delete%'";
        let logged = number(db, sql).await;
        assert_eq!(logged, 0, "no logged event keeps the deleted content");
    }

    #[tokio::test]
    async fn reply_quotes_as_at_commit_sqlite() {
        let (_dir, db) = sqlite().await;
        a_reply_quotes_its_target_as_it_is_at_commit(&db).await;
    }

    #[tokio::test]
    async fn reply_quotes_as_at_commit_postgres() {
        on_scratch(
            "TEST_POSTGRES_URL",
            a_reply_quotes_its_target_as_it_is_at_commit,
        )
        .await;
    }

    #[tokio::test]
    async fn reply_quotes_as_at_commit_mysql() {
        on_scratch(
            "TEST_MYSQL_URL",
            a_reply_quotes_its_target_as_it_is_at_commit,
        )
        .await;
    }

    /// Ann's group, with her its only member.
    async fn ann_group(db: &Db, ann: i64) -> i64 {
        let mut tx = LogTx::begin(db).await.unwrap();
        let group = membership::insert_group(&mut tx, ann, "g".into(), None)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        group.id
    }

    /// 200 sends through a running writer (batches of up to 16, each
    /// committing while the next begins on PostgreSQL and MySQL), four of
    /// them bad: a mention listed twice breaks `uq_message_mentions`, which
    /// PostgreSQL reports at the commit and the others at the insert. Each
    /// bad send fails alone, every other one is stored once, and the fan-out
    /// hears the stored messages' events once each, in log order, as it must
    /// with the next batch under way before the previous one has published.
    async fn batches_fail_alone_and_publish_in_log_order(db: &Db) {
        let (ann, chats) = ann_and_chats(db).await;
        let group = ann_group(db, ann).await;
        let published = Arc::new(std::sync::Mutex::new(Vec::new()));
        let heard = published.clone();
        let publish: Publish = Arc::new(move |events: Vec<CommittedEvent>| {
            let mut heard = heard.lock().unwrap();
            heard.extend(events.iter().map(|e| e.seq));
        });
        let pushes = Pushes {
            presence: Arc::new(Presence::local()),
            waker: Waker::default(),
        };
        let tasks = TaskGroup::new();
        let (writer, thread) = Writer::spawn(db.clone(), 16, publish, pushes, &tasks).unwrap();
        let bad = |i: usize| i % 50 == 7;
        let sends = (0..200).map(|i| {
            let Job::Send { mut draft, .. } = send(chats[i % CHATS], ann, format!("m{i}")) else {
                unreachable!("send makes a send")
            };
            if bad(i) {
                draft.chat_id = group;
                draft.mentions = vec![ann, ann];
            }
            let writer = writer.clone();
            async move { writer.send(*draft).await }
        });
        let outcomes = futures::future::join_all(sends).await;
        tasks.stop().await;
        thread.join().await;
        let mut stored = Vec::new();
        for (i, outcome) in outcomes.into_iter().enumerate() {
            match outcome {
                Err(_) if bad(i) => {}
                Ok(SendOutcome::Created(view)) if !bad(i) => stored.push(view.id),
                other => panic!("send {i}: {other:?}"),
            }
        }
        assert_eq!(stored.len(), 196, "every good send stored");
        let rows = number(db, "SELECT COUNT(*) FROM messages").await;
        assert_eq!(rows, 196, "each once, none of the bad ones");
        let heard = published.lock().unwrap().clone();
        assert_eq!(heard.len(), 196, "one event heard per stored message");
        assert!(
            heard.windows(2).all(|w| w[0] < w[1]),
            "heard in log order: {heard:?}"
        );
    }

    #[tokio::test]
    async fn batches_fail_alone_in_order_sqlite() {
        let (_dir, db) = sqlite().await;
        batches_fail_alone_and_publish_in_log_order(&db).await;
    }

    #[tokio::test]
    async fn batches_fail_alone_in_order_postgres() {
        on_scratch(
            "TEST_POSTGRES_URL",
            batches_fail_alone_and_publish_in_log_order,
        )
        .await;
    }

    #[tokio::test]
    async fn batches_fail_alone_in_order_mysql() {
        on_scratch(
            "TEST_MYSQL_URL",
            batches_fail_alone_and_publish_in_log_order,
        )
        .await;
    }

    /// The number a one-row, one-column query answers, on the write connection.
    async fn number(db: &Db, sql: &str) -> i64 {
        db.write
            .query_one_raw(Statement::from_string(db.backend, sql))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index(0)
            .unwrap()
    }

    /// Ann's message `label` in `chat`, on `tx`, with its `MessageSent`,
    /// stored with a mention of each of `mentioned` through the writer's insert.
    async fn stored_with_mentions(
        tx: &mut LogTx,
        (ann, chat): (i64, i64),
        label: &str,
        mentioned: &[i64],
    ) -> Result<i64, sea_orm::DbErr> {
        let Job::Send { draft, .. } = send(chat, ann, label.to_string()) else {
            unreachable!("send makes a send")
        };
        let (id, now) = (tx.next_message_id(), tx.now());
        let view = new_view(&draft, id, now, None);
        let seq = tx
            .emit(
                Scope::Chat(chat),
                Audience::default(),
                Event::MessageSent(&view),
            )
            .unwrap();
        let row = new_row(&draft, id, seq, now, None);
        let mentions: Vec<(i64, i64)> = mentioned.iter().map(|user| (id, *user)).collect();
        store::insert_at_commit(tx, &[row], &mentions).await?;
        Ok(id)
    }

    /// The writer's messages and mentions are inserted with the events (on
    /// PostgreSQL in the commit's one statement): a mention of a message of
    /// the same transaction passes its foreign key, and a mention that breaks
    /// a key fails the transaction with its message and events, wherever the
    /// backend reports it (at the insert, or at commit).
    async fn messages_and_mentions_commit_together_or_not_at_all(db: &Db) {
        let (ann, chats) = ann_and_chats(db).await;
        let mut tx = LogTx::begin(db).await.unwrap();
        let kept = stored_with_mentions(&mut tx, (ann, chats[0]), "kept", &[ann])
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mentions = format!("SELECT COUNT(*) FROM message_mentions WHERE message_id = {kept}");
        assert_eq!(number(db, &mentions).await, 1, "the mention was stored");
        let last_seq = "SELECT last_seq FROM sync_log_counters";
        let (seq_before, events_before) = (
            number(db, last_seq).await,
            number(db, "SELECT COUNT(*) FROM events").await,
        );
        let mut tx = LogTx::begin(db).await.unwrap();
        let twice = [ann, ann];
        let failed = match stored_with_mentions(&mut tx, (ann, chats[1]), "lost", &twice).await {
            Ok(_) => tx.commit().await.is_err(),
            // Dropped unfinished, as the writer's `?` drops it: rolled back.
            Err(_) => {
                drop(tx);
                true
            }
        };
        assert!(failed, "a mention stored twice breaks uq_message_mentions");
        let lost = "SELECT COUNT(*) FROM messages WHERE client_message_id = 'lost'";
        assert_eq!(number(db, lost).await, 0, "its message is not stored");
        assert_eq!(
            number(db, last_seq).await,
            seq_before,
            "no position handed out"
        );
        assert_eq!(
            number(db, "SELECT COUNT(*) FROM events").await,
            events_before,
            "no event stored"
        );
    }

    #[tokio::test]
    async fn messages_and_mentions_together_sqlite() {
        let (_dir, db) = sqlite().await;
        messages_and_mentions_commit_together_or_not_at_all(&db).await;
    }

    #[tokio::test]
    async fn messages_and_mentions_together_postgres() {
        on_scratch(
            "TEST_POSTGRES_URL",
            messages_and_mentions_commit_together_or_not_at_all,
        )
        .await;
    }

    #[tokio::test]
    async fn messages_and_mentions_together_mysql() {
        on_scratch(
            "TEST_MYSQL_URL",
            messages_and_mentions_commit_together_or_not_at_all,
        )
        .await;
    }

    /// Server-side prepared statements of the connection `db` has (one).
    async fn prepared(db: &Db) -> i64 {
        number(db, "SELECT COUNT(*) FROM pg_prepared_statements").await
    }

    /// Round trips beyond the statements: the driver prepares each statement
    /// text once per connection (Parse and Describe, a round trip of its
    /// own) and caches it. On PostgreSQL a batch's texts do not depend on
    /// how many messages, recipients or chats it carries (lists and rows go
    /// as one parameter each), so once one batch has run on the connection,
    /// a batch of any size prepares nothing.
    #[tokio::test]
    async fn batch_prepares_postgres() {
        let variable = "TEST_POSTGRES_URL";
        let Some((name, url, db)) = scratch(variable).await else {
            return;
        };
        db.disconnect().await;
        // One connection, so every statement of every batch is prepared on it.
        let db = Db::connect(&url, 1).await.unwrap();
        let (ann, chats) = ann_and_chats(&db).await;
        let mut kept = Kept::default();
        let presence = Presence::local();
        let ann_chats = (ann, chats.as_slice());
        // Counting prepares this count's own statement once.
        prepared(&db).await;
        let before = prepared(&db).await;
        one_batch(&db, &mut kept, &presence, ann_chats, ("warm-up", CHATS)).await;
        assert!(
            prepared(&db).await > before,
            "the first batch prepares its texts"
        );
        let mut new_statements = Vec::new();
        for (label, n) in [("a", 1), ("b", 10), ("c", 100), ("d", 37), ("e", 200)] {
            let before = prepared(&db).await;
            one_batch(&db, &mut kept, &presence, ann_chats, (label, n)).await;
            new_statements.push((n, prepared(&db).await - before));
        }
        let expected: Vec<(usize, i64)> = [1, 10, 100, 37, 200].map(|n| (n, 0)).to_vec();
        assert_eq!(new_statements, expected, "(messages, statements prepared)");
        drop_scratch(variable, &name, db).await;
    }
}
