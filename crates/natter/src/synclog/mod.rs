//! The sync log: every event natter keeps, appended inside the transaction
//! that causes it, in one order that every reader sees the same way.
//!
//! Every transaction that emits events is a [`LogTx`]. It starts by taking
//! **the log lock**: it locks the single `sync_log_counters` row, so such
//! transactions run one at a time across every node sharing the database,
//! each from its first statement to its commit. That makes positions (`seq`)
//! and message ids follow commit order exactly: when a reader sees position N
//! committed, every smaller position was committed before it, so
//! `GET /api/sync` can never skip an event that commits late (the classic
//! stream-ordering trap, DESIGN.md principle 2). Positions and message ids are
//! handed out in memory while the lock is held and written back at commit; a
//! rolled-back transaction hands out nothing. The cost is that log
//! transactions are serialised; the group-commit writer (messages/writer.rs)
//! makes each one carry many sends.
//!
//! The log knows no feature. Who reads an event later is its [`Scope`] (a
//! chat's members within their membership [`Interval`]s, or one user); who
//! hears it live is its [`Audience`], decided by the emitter on the
//! transaction's own connection, so it is exactly the membership as of the
//! commit (membership changes take the log lock too). The events and their
//! payloads are the catalogue in [`events`].

pub mod events;
pub mod origin;
mod store;

use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

use sea_orm::{ConnectionTrait, DatabaseTransaction, DbErr, Statement};
use tokio::sync::OwnedMutexGuard;

use crate::clock::{self, now_ms};
use crate::db::entities::event;
use crate::db::{Db, fixed};
use crate::error::{ApiError, ApiResult};
use crate::telemetry::{LOG_COMMIT, LOG_LOCK_HELD, LOG_LOCK_WAIT};
pub use events::{Event, EventName};
pub use store::{EventRow, page, positions};

/// Who reads an event through the log: everyone in a chat (within their
/// membership interval), or one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Chat(i64),
    User(i64),
}

/// Who hears an event live, beyond `private-chat.{id}` for a chat's event:
/// the users whose `private-user.{id}` channel gets it, the users whose
/// subscriptions to the chat's channels end with it (they left the chat), and
/// other channels named in full (a call's `private-call.{id}`).
/// The log itself needs none of this: it is for the real-time fan-out.
#[derive(Debug, Clone, Default)]
pub struct Audience {
    pub users: Vec<i64>,
    pub revoke: Vec<i64>,
    pub channels: Vec<String>,
}

impl Audience {
    pub fn to(users: Vec<i64>) -> Audience {
        Audience {
            users,
            ..Audience::default()
        }
    }
}

/// A stretch of log positions a chat member may see: `from < seq <= to`
/// (`to` None while they are still a member).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub from: i64,
    pub to: Option<i64>,
}

impl Interval {
    pub fn contains(&self, seq: i64) -> bool {
        seq > self.from && self.to.is_none_or(|to| seq <= to)
    }
}

/// An event that is committed and may now be published.
#[derive(Debug, Clone)]
pub struct CommittedEvent {
    pub seq: i64,
    pub scope: Scope,
    pub name: EventName,
    /// The event's data as JSON text, `"seq"` included: stored once, served by
    /// sync as is, and framed once for every socket.
    pub data: Arc<str>,
    pub audience: Audience,
    /// The socket that caused it (`X-Socket-ID`), spared by the fan-out.
    pub except_socket: Option<Arc<str>>,
    /// When its transaction committed ([`clock::now_us`]): the fan-out
    /// measures its delay from here.
    pub committed_us: i64,
}

/// When a committing [`LogTx`] lets the node's gate go.
#[derive(Clone, Copy)]
enum Gate {
    HeldToTheEnd,
    LetGoFirst,
}

/// A write transaction holding the log lock, which may emit events. See the
/// module docs.
pub struct LogTx {
    txn: DatabaseTransaction,
    _gate: OwnedMutexGuard<()>,
    next_seq: i64,
    next_message_id: i64,
    rows: Vec<event::ActiveModel>,
    /// Inserts that go with the events' at commit (PostgreSQL, [`Self::insert_at_commit`]).
    riders: Vec<Statement>,
    events: Vec<CommittedEvent>,
    now: i64,
    /// The socket the events are spared for ([`origin`]).
    origin: Option<Arc<str>>,
    /// When the log lock's row was taken (for [`LOG_LOCK_HELD`]).
    locked_at: Instant,
}

impl LogTx {
    /// Begins a write transaction and takes the log lock.
    pub async fn begin(db: &Db) -> Result<LogTx, DbErr> {
        let gate = db.log_gate.clone().lock_owned().await;
        let txn = db.begin().await?;
        // Within a node the gate queues log transactions; what is left to
        // wait for here is the other nodes' (docs/scaling.md).
        let asked_at = Instant::now();
        let (last_seq, last_message_id) = store::lock_counters(&txn).await?;
        let locked_at = Instant::now();
        metrics::histogram!(LOG_LOCK_WAIT).record((locked_at - asked_at).as_secs_f64());
        Ok(LogTx {
            txn,
            _gate: gate,
            next_seq: last_seq + 1,
            next_message_id: last_message_id + 1,
            rows: Vec::new(),
            riders: Vec::new(),
            events: Vec::new(),
            now: now_ms(),
            origin: origin::current(),
            locked_at,
        })
    }

    /// Names the socket the events emitted from now on are spared for: the
    /// writer, which batches many requests, sets each one's own.
    pub fn set_origin(&mut self, socket: Option<Arc<str>>) {
        self.origin = socket;
    }

    /// The connection to run this transaction's own statements on.
    pub fn conn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    /// Inserts `rows` in this transaction. On PostgreSQL they are sent with
    /// the events at commit, in the same statement (a data-modifying `WITH`
    /// each): no round trip of their own, and a key they break fails the
    /// commit instead of this call. So nothing in this transaction may read
    /// them back; the group-commit writer's messages and mentions are the
    /// use. Elsewhere they are inserted now.
    pub async fn insert_at_commit<A>(&mut self, rows: &[A]) -> Result<(), DbErr>
    where
        A: sea_orm::ActiveModelTrait + Clone,
    {
        if rows.is_empty() {
            return Ok(());
        }
        if self.txn.get_database_backend() == sea_orm::DbBackend::Postgres {
            // The n-th rider's rows are the statement's n-th parameter.
            let placeholder = self.riders.len() + 1;
            self.riders
                .push(fixed::json_insert(rows, None, placeholder));
            return Ok(());
        }
        fixed::insert_rows(&self.txn, rows, None).await?;
        Ok(())
    }

    /// The time this transaction acts at, shared by all it writes.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// A fresh message id, in commit order.
    pub fn next_message_id(&mut self) -> i64 {
        let id = self.next_message_id;
        self.next_message_id += 1;
        id
    }

    /// The newest message id handed out so far, by this transaction or any
    /// committed before it: a message with a larger id commits after this one.
    pub fn last_message_id(&self) -> i64 {
        self.next_message_id - 1
    }

    /// The position the next emitted event will get.
    pub fn peek_seq(&self) -> i64 {
        self.next_seq
    }

    /// The position of the last event emitted so far (or the one before the first).
    pub fn last_seq(&self) -> i64 {
        self.next_seq - 1
    }

    /// Appends a logged event for `scope`, heard live by `audience`; returns
    /// its position. The payload gets `"seq"` added.
    pub fn emit(&mut self, scope: Scope, audience: Audience, event: Event<'_>) -> ApiResult<i64> {
        let (name, payload) = logged_payload(&event)?;
        Ok(self.append(scope, audience, name, payload))
    }

    /// Appends the same event to each of `users`' own logs (each heard on
    /// their user channel), serialising the payload once; `first` (named
    /// channels, say) goes with the first of them, so it is heard there once.
    pub fn emit_each(&mut self, users: &[i64], first: Audience, event: Event<'_>) -> ApiResult<()> {
        let (name, payload) = logged_payload(&event)?;
        let mut first = Some(first);
        for user in users {
            let audience = first.take().unwrap_or_default();
            self.append(Scope::User(*user), audience, name, payload.clone());
        }
        Ok(())
    }

    fn append(
        &mut self,
        scope: Scope,
        audience: Audience,
        name: EventName,
        payload: String,
    ) -> i64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let data: Arc<str> = with_seq(payload, seq).into();
        let (chat_id, user_id) = match scope {
            Scope::Chat(id) => (Some(id), None),
            Scope::User(id) => (None, Some(id)),
        };
        self.rows.push(event::ActiveModel {
            seq: sea_orm::ActiveValue::Set(seq),
            chat_id: sea_orm::ActiveValue::Set(chat_id),
            user_id: sea_orm::ActiveValue::Set(user_id),
            name: sea_orm::ActiveValue::Set(name.as_str().to_string()),
            data: sea_orm::ActiveValue::Set(data.to_string()),
            created_at: sea_orm::ActiveValue::Set(self.now),
        });
        self.events.push(CommittedEvent {
            seq,
            scope,
            name,
            data,
            audience,
            except_socket: self.origin.clone(),
            committed_us: 0,
        });
        seq
    }

    /// Writes the events and the counters, commits, and hands back what to
    /// publish. The node's gate is held until it returns, so this node's next
    /// log transaction begins after the caller could publish: events reach
    /// the fan-out in log order (its sequencer waits only briefly for a gap).
    pub async fn commit(self) -> Result<Vec<CommittedEvent>, DbErr> {
        self.commit_after(Gate::HeldToTheEnd).await
    }

    /// [`Self::commit`], but the node's gate is let go first: this node's next
    /// log transaction may then begin and ask for the log lock, which the
    /// database grants once this one has committed (or rolled back), as it
    /// does for another node's. For the group-commit writer, whose next
    /// batch so begins while this one commits; it publishes on its own
    /// runtime as soon as the commit returns, and waits for that before its
    /// next batch reads (messages/writer.rs, "overlap").
    pub async fn commit_beside_next(self) -> Result<Vec<CommittedEvent>, DbErr> {
        self.commit_after(Gate::LetGoFirst).await
    }

    async fn commit_after(self, gate_use: Gate) -> Result<Vec<CommittedEvent>, DbErr> {
        let LogTx {
            txn,
            _gate: gate,
            next_seq,
            next_message_id,
            rows,
            riders,
            events,
            locked_at,
            ..
        } = self;
        // Dropped here, or held to the end of this function: shadowing the
        // binding would not drop it.
        let gate = match gate_use {
            Gate::LetGoFirst => {
                drop(gate);
                None
            }
            Gate::HeldToTheEnd => Some(gate),
        };
        store::append(&txn, &rows, riders, next_seq - 1, next_message_id - 1).await?;
        let started = Instant::now();
        txn.commit().await?;
        // Held first: a scrape between the two never sees a commit longer
        // than the hold that contains it.
        metrics::histogram!(LOG_LOCK_HELD).record(locked_at.elapsed().as_secs_f64());
        metrics::histogram!(LOG_COMMIT).record(started.elapsed().as_secs_f64());
        let committed_us = clock::now_us();
        let mut events = events;
        for event in &mut events {
            event.committed_us = committed_us;
        }
        drop(gate);
        Ok(events)
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

/// A logged event's name and payload; an unlogged one is a bug of the caller.
/// Rewrites the stored payloads of logged events of `chat_id` at or after
/// position `from_seq`, named one of `names`, whose payload starts with
/// `prefix`: each gets `event`'s payload (keeping its own name and position).
/// For content that must not outlive its deletion: a deleted or expired
/// message's text and file in the `MessageSent` and `MessageEdited` a sync
/// reader would still page through. Returns how many were rewritten.
pub async fn redact(
    tx: &LogTx,
    chat_id: i64,
    from_seq: i64,
    names: &[EventName],
    prefix: &str,
    event: Event<'_>,
) -> ApiResult<usize> {
    let (_, payload) = logged_payload(&event)?;
    let names: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
    let seqs = store::seqs_starting_with(tx.conn(), chat_id, from_seq, &names, prefix).await?;
    for seq in &seqs {
        store::set_data(tx.conn(), *seq, with_seq(payload.clone(), *seq)).await?;
    }
    Ok(seqs.len())
}

fn logged_payload(event: &Event<'_>) -> ApiResult<(EventName, String)> {
    let name = event.name();
    if !name.is_logged() {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "{} is not a logged event",
            name.as_str()
        )));
    }
    let payload = event
        .data()
        .map_err(|err| ApiError::Internal(anyhow::Error::new(err)))?;
    Ok((name, payload))
}

/// A payload (a JSON object: the catalogue's payloads are all structs) with
/// `"seq"` appended.
fn with_seq(mut payload: String, seq: i64) -> String {
    if payload.ends_with('}') {
        payload.pop();
        if !payload.ends_with('{') {
            payload.push(',');
        }
        let _ = write!(payload, "\"seq\":{seq}}}");
    }
    payload
}

/// Deletes events older than `cutoff_ms`. Positions are marked pruned before
/// the rows go, so a reader either gets 410 or a complete page. Run as
/// periodic work (sync/retention.rs), once per period per cluster.
pub async fn prune(db: &Db, cutoff_ms: i64) -> Result<u64, DbErr> {
    let Some(through) = store::last_seq_before(&db.read, cutoff_ms).await? else {
        return Ok(0);
    };
    store::set_pruned_through(&db.write, through).await?;
    let mut removed = 0;
    loop {
        let batch = store::delete_through(&db.write, through, 5_000).await?;
        removed += batch;
        if batch == 0 {
            break;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::sqlite;

    /// `commit` holds the node's gate until it returns, so its caller
    /// publishes before the node's next log transaction begins;
    /// `commit_beside_next` lets it go as it starts, so the writer's next
    /// batch can begin during the commit.
    #[tokio::test]
    async fn only_a_commit_beside_the_next_lets_the_gate_go_at_once() {
        let (_dir, db) = sqlite().await;
        for beside in [false, true] {
            let tx = LogTx::begin(&db).await.unwrap();
            let commit = tokio::spawn(async move {
                if beside {
                    tx.commit_beside_next().await
                } else {
                    tx.commit().await
                }
            });
            // The commit runs up to its first statement, which waits on
            // SQLite's thread.
            tokio::task::yield_now().await;
            let free = db.log_gate.try_lock().is_ok();
            assert_eq!(
                free, beside,
                "gate free during a commit (beside the next: {beside})"
            );
            commit.await.unwrap().unwrap();
            assert!(db.log_gate.try_lock().is_ok(), "free once committed");
        }
    }

    #[test]
    fn seq_is_appended_to_the_object() {
        assert_eq!(with_seq(r#"{"a":1}"#.into(), 7), r#"{"a":1,"seq":7}"#);
        assert_eq!(with_seq("{}".into(), 8), r#"{"seq":8}"#);
    }

    #[test]
    fn intervals_hold_what_follows_their_start() {
        let open = Interval { from: 5, to: None };
        assert!(!open.contains(5) && open.contains(6) && open.contains(1_000));
        let closed = Interval {
            from: 5,
            to: Some(9),
        };
        assert!(closed.contains(9) && !closed.contains(10));
    }
}
