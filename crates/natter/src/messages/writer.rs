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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use sea_orm::ActiveValue::Set;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::gate::Gate;
use super::store::{self, MARK_DELIVERED, MARK_READ};
use crate::background::TaskGroup;
use crate::clock::Timestamp;
use crate::db::Db;
use crate::db::entities::message;
use crate::db::unique::MESSAGES_CLIENT_ID;
use crate::devices::{self, SentMessage};
use crate::error::{ApiError, ApiResult};
use crate::jobs::Waker;
use crate::media;
use crate::membership::{self, RosterCache, Watermark};
use crate::realtime::Realtime;
use crate::resources::message::{
    DeliveryStatus, LocationView, MediaView, MessageView, ReceiptUpdate, ReplyView, SenderView,
};
use crate::synclog::{Audience, CommittedEvent, Event, LogTx, Scope, origin};
use crate::telemetry::{
    MESSAGES_SENT, WRITER_BATCH_DURATION, WRITER_BATCH_SIZE, WRITER_QUEUE_DEPTH,
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
    pub realtime: Arc<Realtime>,
    pub waker: Waker,
}

/// The writer's connections to the rest of the node.
struct Env {
    db: Db,
    publish: Publish,
    pushes: Pushes,
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
                let env = Env {
                    db,
                    publish,
                    pushes,
                };
                runtime.block_on(run(env, jobs, max_batch.max(1), stop));
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

async fn run(env: Env, mut jobs: mpsc::Receiver<Job>, max_batch: usize, stop: CancellationToken) {
    let mut rosters = RosterCache::default();
    while let Some(first) = next_job(&mut jobs, &stop).await {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        metrics::gauge!(WRITER_QUEUE_DEPTH).set(jobs.len() as f64);
        metrics::histogram!(WRITER_BATCH_SIZE).record(batch.len() as f64);
        let started = std::time::Instant::now();
        process(&env, &mut rosters, batch).await;
        metrics::histogram!(WRITER_BATCH_DURATION).record(started.elapsed().as_secs_f64());
    }
}

async fn process(env: &Env, rosters: &mut RosterCache, batch: Vec<Job>) {
    match write_batch(env, rosters, &batch).await {
        Ok((written, events)) => {
            (env.publish)(events);
            written.answer(batch);
        }
        Err(err) if batch.len() > 1 => {
            tracing::warn!(
                error = format!("{err:#}"),
                jobs = batch.len(),
                "batch failed; retrying its jobs one by one"
            );
            for job in batch {
                write_one(env, rosters, job).await;
            }
        }
        Err(err) if is_duplicate(&err) => {
            for job in batch {
                write_one(env, rosters, job).await;
            }
        }
        Err(err) => {
            if let Some(job) = batch.into_iter().next() {
                job.fail(err);
            }
        }
    }
}

/// One job alone, answered. A duplicate client message id stored meanwhile by
/// another node is found by the second attempt's lookup.
async fn write_one(env: &Env, rosters: &mut RosterCache, job: Job) {
    let mut attempt = 0;
    let jobs = vec![job];
    loop {
        attempt += 1;
        match write_batch(env, rosters, &jobs).await {
            Ok((written, events)) => {
                (env.publish)(events);
                return written.answer(jobs);
            }
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

/// Writes one batch in one transaction.
async fn write_batch(
    env: &Env,
    rosters: &mut RosterCache,
    jobs: &[Job],
) -> ApiResult<(Written, Vec<CommittedEvent>)> {
    let db = &env.db;
    let drafts = || jobs.iter().filter_map(Job::draft);
    let mut sends = Sends {
        existing: existing_client_ids(db, drafts()).await?,
        in_batch: HashMap::new(),
        rows: Vec::new(),
        sent: Vec::new(),
        references: BTreeMap::new(),
        probes: BTreeSet::new(),
        mentions: Vec::new(),
    };
    let mut tx = LogTx::begin(db).await?;
    let gate = Gate::load(&tx, rosters, drafts()).await?;
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
    store::insert_many(tx.conn(), sends.rows).await?;
    store::insert_mentions(tx.conn(), &sends.mentions).await?;
    // With the messages, or not at all: a push exists if its message does.
    let presence = &env.pushes.realtime.presence;
    let pushes = devices::enqueue_message_pushes(tx.conn(), presence, &sends.sent).await?;
    let events = tx.commit().await?;
    if pushes > 0 {
        env.pushes.waker.wake();
    }
    metrics::counter!(MESSAGES_SENT).increment(sent as u64);
    Ok((written, events))
}

/// The sends of one batch: the client ids already stored, those given in
/// this batch so far, and the rows to insert.
struct Sends {
    existing: HashMap<(i64, String), i64>,
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
        let view = new_view(draft, id, now, expires_at);
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

/// Client message ids of this batch that are already stored.
async fn existing_client_ids<'a>(
    db: &Db,
    drafts: impl Iterator<Item = &'a Draft>,
) -> ApiResult<HashMap<(i64, String), i64>> {
    let pairs: Vec<(i64, String)> = drafts
        .filter_map(|d| d.client_message_id.clone().map(|c| (d.sender.id, c)))
        .collect();
    Ok(store::find_by_client_ids(&db.write, &pairs)
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
