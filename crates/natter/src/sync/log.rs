//! Appending to the sync log, inside the transaction that causes the events.
//!
//! Every transaction that emits events is an [`EventTx`]. It starts by locking
//! the single `stream_counters` row, so such transactions run one at a time
//! across every node sharing the database, each from its first statement to its
//! commit. That makes positions (`seq`) and message ids follow commit order
//! exactly: when a reader sees position N committed, every smaller position was
//! committed before it, so `GET /api/sync` can never skip an event that commits
//! late (the classic stream-ordering trap, DESIGN.md principle 2). Positions and
//! message ids are handed out in memory while the lock is held and written back
//! at commit; a rolled-back transaction hands out nothing.
//!
//! The cost is that event transactions are serialised; the group-commit writer
//! (messages/writer.rs) makes each one carry many sends.

use std::sync::Arc;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, QuerySelect,
};
use serde::Serialize;

use crate::clock::now_ms;
use crate::db::Db;
use crate::db::entities::{event, stream_counter};

/// Who an event is for: everyone in a chat (within their membership interval),
/// or one user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Chat(i64),
    User(i64),
}

/// The Laravel event names of API.md; the same strings go on the socket and in
/// `GET /api/sync`.
pub mod names {
    pub const MESSAGE_SENT: &str = "App\\Events\\MessageSent";
    pub const MESSAGE_EDITED: &str = "App\\Events\\MessageEdited";
    pub const MESSAGE_DELETED: &str = "App\\Events\\MessageDeleted";
    pub const MESSAGE_READ: &str = "App\\Events\\MessageRead";
    pub const MESSAGE_DELIVERED: &str = "App\\Events\\MessageDelivered";
    pub const REACTION_UPDATED: &str = "App\\Events\\ReactionUpdated";
    pub const CHAT_UPDATED: &str = "App\\Events\\ChatUpdated";
    pub const USER_TYPING: &str = "App\\Events\\UserTyping";
    pub const USER_ONLINE: &str = "App\\Events\\UserOnline";
}

/// Which user channels a chat event goes to live, beyond `private-chat.{id}`,
/// and whose subscriptions it ends. (The sync log needs none of this: it reads
/// chat events through membership intervals.)
#[derive(Debug, Clone, Default)]
pub struct Route {
    /// Exactly these users' channels. None: the chat's current members.
    pub only: Option<Vec<i64>>,
    /// Also these users (a member just removed still hears of their removal).
    pub also: Vec<i64>,
    /// These users' subscriptions to the chat's channels end with this event.
    pub revoke: Vec<i64>,
}

/// An event that is committed and may now be published.
#[derive(Debug, Clone)]
pub struct CommittedEvent {
    pub seq: i64,
    pub scope: Scope,
    pub name: &'static str,
    /// The event's data as JSON text, `"seq"` included: stored once, served by
    /// sync as is, and framed once for every socket.
    pub data: Arc<str>,
    pub route: Route,
}

/// A write transaction that may emit events. See the module docs.
pub struct EventTx {
    txn: DatabaseTransaction,
    _gate: tokio::sync::OwnedMutexGuard<()>,
    next_seq: i64,
    next_message_id: i64,
    rows: Vec<event::ActiveModel>,
    events: Vec<CommittedEvent>,
    now: i64,
}

const COUNTER_ROW: i32 = 1;

impl EventTx {
    /// Begins a write transaction and takes the stream lock.
    pub async fn begin(db: &Db) -> Result<EventTx, DbErr> {
        let gate = db.stream_gate.clone().lock_owned().await;
        let txn = db.begin().await?;
        // A no-op update takes the row lock on every backend (SQLite's
        // BEGIN IMMEDIATE already holds the database's write lock).
        stream_counter::Entity::update_many()
            .col_expr(
                stream_counter::Column::LastSeq,
                Expr::col(stream_counter::Column::LastSeq),
            )
            .filter(stream_counter::Column::Id.eq(COUNTER_ROW))
            .exec(&txn)
            .await?;
        let (last_seq, last_message_id): (i64, i64) = stream_counter::Entity::find()
            .select_only()
            .column(stream_counter::Column::LastSeq)
            .column(stream_counter::Column::LastMessageId)
            .filter(stream_counter::Column::Id.eq(COUNTER_ROW))
            .into_tuple()
            .one(&txn)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("stream_counters row".into()))?;
        Ok(EventTx {
            txn,
            _gate: gate,
            next_seq: last_seq + 1,
            next_message_id: last_message_id + 1,
            rows: Vec::new(),
            events: Vec::new(),
            now: now_ms(),
        })
    }

    /// The connection to run this transaction's own statements on.
    pub fn conn(&self) -> &DatabaseTransaction {
        &self.txn
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

    /// The position the next emitted event will get.
    pub fn peek_seq(&self) -> i64 {
        self.next_seq
    }

    /// The position of the last event emitted so far (or the one before the first).
    pub fn last_seq(&self) -> i64 {
        self.next_seq - 1
    }

    /// Emits an event: `payload` must serialise to a JSON object; `"seq"` is added.
    /// Returns the event's position.
    pub fn emit(
        &mut self,
        scope: Scope,
        name: &'static str,
        payload: &impl Serialize,
    ) -> Result<i64, DbErr> {
        self.emit_routed(scope, name, payload, Route::default())
    }

    /// Like [`EventTx::emit`], choosing who gets it live (see [`Route`]).
    pub fn emit_routed(
        &mut self,
        scope: Scope,
        name: &'static str,
        payload: &impl Serialize,
        route: Route,
    ) -> Result<i64, DbErr> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let data: Arc<str> = with_seq(payload, seq)?.into();
        let (chat_id, user_id) = match scope {
            Scope::Chat(id) => (Some(id), None),
            Scope::User(id) => (None, Some(id)),
        };
        self.rows.push(event::ActiveModel {
            seq: sea_orm::ActiveValue::Set(seq),
            chat_id: sea_orm::ActiveValue::Set(chat_id),
            user_id: sea_orm::ActiveValue::Set(user_id),
            name: sea_orm::ActiveValue::Set(name.to_string()),
            data: sea_orm::ActiveValue::Set(data.to_string()),
            created_at: sea_orm::ActiveValue::Set(self.now),
        });
        self.events.push(CommittedEvent {
            seq,
            scope,
            name,
            data,
            route,
        });
        Ok(seq)
    }

    /// Writes the events and the counters, commits, and hands back what to publish.
    pub async fn commit(self) -> Result<Vec<CommittedEvent>, DbErr> {
        let EventTx {
            txn,
            next_seq,
            next_message_id,
            rows,
            mut events,
            ..
        } = self;
        resolve_routes(&txn, &mut events).await?;
        for chunk in rows.chunks(INSERT_CHUNK) {
            event::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await?;
        }
        stream_counter::Entity::update_many()
            .col_expr(stream_counter::Column::LastSeq, Expr::value(next_seq - 1))
            .col_expr(
                stream_counter::Column::LastMessageId,
                Expr::value(next_message_id - 1),
            )
            .filter(stream_counter::Column::Id.eq(COUNTER_ROW))
            .exec(&txn)
            .await?;
        txn.commit().await?;
        Ok(events)
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        self.txn.rollback().await
    }
}

/// Fills in "the chat's current members" for chat events that go to them, in
/// one query on the transaction itself: the members are exactly those as of
/// this commit, and publishing needs no query of its own afterwards.
async fn resolve_routes(
    txn: &DatabaseTransaction,
    events: &mut [CommittedEvent],
) -> Result<(), DbErr> {
    let mut chats: Vec<i64> = events
        .iter()
        .filter_map(|e| match (e.scope, &e.route.only) {
            (Scope::Chat(id), None) => Some(id),
            _ => None,
        })
        .collect();
    if chats.is_empty() {
        return Ok(());
    }
    chats.sort_unstable();
    chats.dedup();
    let members = crate::chats::service::members_of_many(txn, &chats)
        .await
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    for event in events.iter_mut() {
        if let (Scope::Chat(id), None) = (event.scope, &event.route.only) {
            event.route.only = Some(members.get(&id).cloned().unwrap_or_default());
        }
    }
    Ok(())
}

/// Rows per multi-row INSERT: far below every backend's bind-parameter limit.
pub const INSERT_CHUNK: usize = 200;

/// `payload` as a JSON object with `"seq"` appended.
fn with_seq(payload: &impl Serialize, seq: i64) -> Result<String, DbErr> {
    let mut text = serde_json::to_string(payload).map_err(|e| DbErr::Custom(e.to_string()))?;
    if !text.ends_with('}') {
        return Err(DbErr::Custom("event payloads must be JSON objects".into()));
    }
    text.pop();
    if !text.ends_with('{') {
        text.push(',');
    }
    text.push_str(&format!("\"seq\":{seq}}}"));
    Ok(text)
}

/// The latest committed position and the highest pruned one.
pub async fn positions(db: &impl ConnectionTrait) -> Result<(i64, i64), DbErr> {
    stream_counter::Entity::find()
        .select_only()
        .column(stream_counter::Column::LastSeq)
        .column(stream_counter::Column::PrunedThroughSeq)
        .filter(stream_counter::Column::Id.eq(COUNTER_ROW))
        .into_tuple()
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("stream_counters row".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_is_appended_to_the_object() {
        assert_eq!(
            with_seq(&serde_json::json!({"a": 1}), 7).unwrap(),
            r#"{"a":1,"seq":7}"#
        );
        assert_eq!(with_seq(&serde_json::json!({}), 8).unwrap(), r#"{"seq":8}"#);
        assert!(with_seq(&serde_json::json!([1]), 9).is_err());
    }
}
