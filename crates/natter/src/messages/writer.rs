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

use std::collections::HashMap;

use sea_orm::ActiveValue::Set;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::store::{self, MARK_DELIVERED, MARK_READ};
use crate::background::TaskGroup;
use crate::clock::Timestamp;
use crate::db::Db;
use crate::db::entities::message;
use crate::db::unique::MESSAGES_CLIENT_ID;
use crate::error::{ApiError, ApiResult};
use crate::membership::{self, Roster, RosterCache, Watermark};
use crate::resources::message::{
    DeliveryStatus, LocationView, MessageView, ReceiptUpdate, ReplyView, SenderView,
};
use crate::synclog::{Audience, CommittedEvent, Event, LogTx, Scope};
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

enum Work {
    Send(Box<Draft>),
    Receipt(ReceiptRequest),
}

enum Done {
    Send(SendOutcome),
    Receipt(ReceiptOutcome),
}

struct Job {
    work: Work,
    reply: oneshot::Sender<ApiResult<Done>>,
}

/// Where committed events go (the real-time fan-out).
pub type Publish = std::sync::Arc<dyn Fn(Vec<CommittedEvent>) + Send + Sync>;

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
                runtime.block_on(run(db, jobs, max_batch.max(1), publish, stop));
                drop(alive);
            })?;
        Ok((Writer { queue }, WriterThread(thread)))
    }

    pub async fn send(&self, draft: Draft) -> ApiResult<SendOutcome> {
        match self.submit(Work::Send(Box::new(draft))).await? {
            Done::Send(outcome) => Ok(outcome),
            Done::Receipt(_) => Err(ApiError::Internal(anyhow::anyhow!(
                "writer answered a send with a receipt"
            ))),
        }
    }

    pub async fn receipt(&self, request: ReceiptRequest) -> ApiResult<ReceiptOutcome> {
        match self.submit(Work::Receipt(request)).await? {
            Done::Receipt(outcome) => Ok(outcome),
            Done::Send(_) => Err(ApiError::Internal(anyhow::anyhow!(
                "writer answered a receipt with a send"
            ))),
        }
    }

    async fn submit(&self, work: Work) -> ApiResult<Done> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job { work, reply })
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

async fn run(
    db: Db,
    mut jobs: mpsc::Receiver<Job>,
    max_batch: usize,
    publish: Publish,
    stop: CancellationToken,
) {
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
        process(&db, &mut rosters, batch, &publish).await;
        metrics::histogram!(WRITER_BATCH_DURATION).record(started.elapsed().as_secs_f64());
    }
}

async fn process(db: &Db, rosters: &mut RosterCache, batch: Vec<Job>, publish: &Publish) {
    let (works, replies): (Vec<Work>, Vec<_>) =
        batch.into_iter().map(|j| (j.work, j.reply)).unzip();
    match write_batch(db, rosters, &works).await {
        Ok((done, events)) => {
            publish(events);
            for (reply, done) in replies.into_iter().zip(done) {
                let _ = reply.send(Ok(done));
            }
        }
        Err(err) if works.len() > 1 => {
            tracing::warn!(
                error = format!("{err:#}"),
                jobs = works.len(),
                "batch failed; retrying its jobs one by one"
            );
            for (work, reply) in works.into_iter().zip(replies) {
                let _ = reply.send(write_one(db, rosters, &work, publish).await);
            }
        }
        Err(err) => {
            if let (Some(work), Some(reply)) = (works.first(), replies.into_iter().next()) {
                let result = if is_duplicate(&err) {
                    write_one(db, rosters, work, publish).await
                } else {
                    Err(err)
                };
                let _ = reply.send(result);
            }
        }
    }
}

/// One job alone. A duplicate client message id stored meanwhile by another
/// node is found by the second attempt's lookup.
async fn write_one(
    db: &Db,
    rosters: &mut RosterCache,
    work: &Work,
    publish: &Publish,
) -> ApiResult<Done> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match write_batch(db, rosters, std::slice::from_ref(work)).await {
            Ok((mut done, events)) => {
                publish(events);
                return Ok(done.remove(0));
            }
            Err(err) if is_duplicate(&err) && attempt < 3 => continue,
            Err(err) => return Err(err),
        }
    }
}

/// Writes one batch in one transaction; outcomes are in job order.
async fn write_batch(
    db: &Db,
    rosters: &mut RosterCache,
    works: &[Work],
) -> ApiResult<(Vec<Done>, Vec<CommittedEvent>)> {
    let existing = existing_client_ids(db, works).await?;
    let mut tx = LogTx::begin(db).await?;
    let now = tx.now();
    let gate = Gate::load(&tx, rosters, works).await?;
    let mut rows = Vec::new();
    let mut done = Vec::with_capacity(works.len());
    // (sender, client id) -> the id given to it earlier in this batch.
    let mut in_batch: HashMap<(i64, String), i64> = HashMap::new();
    for work in works {
        match work {
            Work::Send(draft) => {
                let key = draft
                    .client_message_id
                    .clone()
                    .map(|c| (draft.sender.id, c));
                if let Some(key) = &key
                    && let Some(id) = existing.get(key).or_else(|| in_batch.get(key))
                {
                    done.push(Done::Send(SendOutcome::Existing(*id)));
                    continue;
                }
                let members = match gate.admit(draft) {
                    Ok(members) => members,
                    Err(refusal) => {
                        done.push(Done::Send(SendOutcome::Refused(refusal)));
                        continue;
                    }
                };
                let id = tx.next_message_id();
                let view = new_view(draft, id, now);
                let seq = tx.emit(
                    Scope::Chat(draft.chat_id),
                    Audience::to(members),
                    Event::MessageSent(&view),
                )?;
                rows.push(new_row(draft, id, seq, now));
                if let Some(key) = key {
                    in_batch.insert(key, id);
                }
                done.push(Done::Send(SendOutcome::Created(Box::new(view))));
            }
            Work::Receipt(request) => {
                let moved = apply_receipt(&mut tx, request).await?;
                done.push(Done::Receipt(ReceiptOutcome { moved, at: now }));
            }
        }
    }
    let sent = rows.len();
    store::insert_many(tx.conn(), rows).await?;
    let events = tx.commit().await?;
    metrics::counter!(MESSAGES_SENT).increment(sent as u64);
    Ok((done, events))
}

/// Who may send where, as of this batch's transaction: the rosters of the
/// batch's chats (kept between batches while their version holds) and the
/// blocks between the people of its private chats. Two or three queries per
/// batch, whatever its size.
struct Gate {
    rosters: HashMap<i64, std::sync::Arc<Roster>>,
    blocks: std::collections::HashSet<(i64, i64)>,
}

impl Gate {
    async fn load(tx: &LogTx, cache: &mut RosterCache, works: &[Work]) -> ApiResult<Gate> {
        let mut chat_ids: Vec<i64> = works
            .iter()
            .filter_map(|w| match w {
                Work::Send(d) => Some(d.chat_id),
                Work::Receipt(_) => None,
            })
            .collect();
        chat_ids.sort_unstable();
        chat_ids.dedup();
        let rosters = cache.rosters(tx.conn(), &chat_ids).await?;
        let mut pairs = Vec::new();
        for work in works {
            if let Work::Send(draft) = work
                && let Some(other) = rosters
                    .get(&draft.chat_id)
                    .and_then(|r| other_in_private(r, draft.sender.id))
            {
                pairs.push((other, draft.sender.id));
                pairs.push((draft.sender.id, other));
            }
        }
        let blocks = crate::contacts::service::blocks_among(tx.conn(), &pairs).await?;
        Ok(Gate { rosters, blocks })
    }

    /// The chat's members if the draft may be sent.
    fn admit(&self, draft: &Draft) -> Result<Vec<i64>, Refusal> {
        let sender = draft.sender.id;
        let roster = self.rosters.get(&draft.chat_id).ok_or(Refusal::NotMember)?;
        if !roster.members.contains(&sender) {
            return Err(Refusal::NotMember);
        }
        if let Some(other) = other_in_private(roster, sender) {
            if self.blocks.contains(&(other, sender)) {
                return Err(Refusal::BlockedByRecipient);
            }
            if self.blocks.contains(&(sender, other)) {
                return Err(Refusal::SenderBlocks);
            }
        }
        Ok(roster.members.clone())
    }
}

fn other_in_private(roster: &Roster, me: i64) -> Option<i64> {
    roster
        .private
        .then(|| roster.members.iter().copied().find(|m| *m != me))
        .flatten()
}

/// Client message ids of this batch that are already stored.
async fn existing_client_ids(db: &Db, works: &[Work]) -> ApiResult<HashMap<(i64, String), i64>> {
    let pairs: Vec<(i64, String)> = works
        .iter()
        .filter_map(|w| match w {
            Work::Send(d) => d.client_message_id.clone().map(|c| (d.sender.id, c)),
            Work::Receipt(_) => None,
        })
        .collect();
    Ok(store::find_by_client_ids(&db.write, &pairs)
        .await?
        .into_iter()
        .filter_map(|m| m.client_message_id.map(|c| ((m.sender_id, c), m.id)))
        .collect())
}

pub(super) fn new_view(draft: &Draft, id: i64, now: i64) -> MessageView {
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
        media: None,
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
    }
}

pub(super) fn new_row(draft: &Draft, id: i64, seq: i64, now: i64) -> message::ActiveModel {
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
        file_name: Set(None),
        thumbnail_url: Set(None),
        latitude: Set(draft.location.as_ref().map(|l| l.latitude)),
        longitude: Set(draft.location.as_ref().map(|l| l.longitude)),
        location_name: Set(draft.location.as_ref().and_then(|l| l.name.clone())),
        contact_data: Set(draft.contact_data.clone()),
        sent_at: Set(now),
        edited_at: Set(None),
        deleted_at: Set(None),
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
