//! Queries on `messages`, `message_reactions`, `receipt_marks`,
//! `message_views`, `starred_messages` and `pinned_messages`.

use std::collections::HashMap;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement,
};

use crate::db::entities::{
    message, message_mention, message_reaction, message_view, pinned_message, receipt_mark,
    starred_message,
};
use crate::db::{fixed, in_chunks};
use crate::synclog::{Interval, LogTx};

fn visible(intervals: &[Interval]) -> Condition {
    let mut any = Condition::any();
    for interval in intervals {
        let mut this = Condition::all().add(message::Column::Seq.gt(interval.from));
        if let Some(to) = interval.to {
            this = this.add(message::Column::Seq.lte(to));
        }
        any = any.add(this);
    }
    any
}

/// Stores a batch's messages (one statement on PostgreSQL, a few
/// fixed-size ones elsewhere: [`fixed`]) and, on SQLite, adds them to the
/// search index in the same transaction.
pub async fn insert_many(
    db: &impl ConnectionTrait,
    rows: &[message::ActiveModel],
) -> Result<(), DbErr> {
    fixed::insert_rows(db, rows, None).await?;
    index_for_search(db, &ids_of(rows)).await
}

/// The group-commit writer's messages and their mentions, inserted with the
/// log transaction's events ([`LogTx::insert_at_commit`]: on PostgreSQL in
/// the commit's statement), then indexed for search where that is a
/// statement of its own (SQLite).
pub async fn insert_at_commit(
    tx: &mut LogTx,
    rows: &[message::ActiveModel],
    mentions: &[(i64, i64)],
) -> Result<(), DbErr> {
    tx.insert_at_commit(rows).await?;
    tx.insert_at_commit(&mention_rows(mentions)).await?;
    index_for_search(tx.conn(), &ids_of(rows)).await
}

fn ids_of(rows: &[message::ActiveModel]) -> Vec<i64> {
    rows.iter()
        .filter_map(|row| row.id.try_as_ref().copied())
        .collect()
}

/// SQLite's FTS5 index (`messages_fts`, external content) learns of new rows
/// here, one statement for the whole batch: a trigger per row cost 17 µs of
/// CPU per message more (m0020). The condition must match the delete and
/// update triggers' exactly (m0016's `indexed`). PostgreSQL's generated
/// `tsvector` and MySQL's FULLTEXT index keep themselves.
async fn index_for_search(db: &impl ConnectionTrait, ids: &[i64]) -> Result<(), DbErr> {
    if ids.is_empty() || db.get_database_backend() != DbBackend::Sqlite {
        return Ok(());
    }
    let ids = serde_json::to_string(ids).map_err(|e| DbErr::Custom(e.to_string()))?;
    db.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "INSERT INTO messages_fts (rowid, content) SELECT id, content FROM messages \
         WHERE id IN (SELECT value FROM json_each(?)) \
         AND content IS NOT NULL AND message_type <> 'system'",
        [ids.into()],
    ))
    .await?;
    Ok(())
}

/// The rows of (message, mentioned user) pairs.
fn mention_rows(pairs: &[(i64, i64)]) -> Vec<message_mention::ActiveModel> {
    pairs
        .iter()
        .map(|(message_id, user_id)| message_mention::ActiveModel {
            message_id: Set(*message_id),
            user_id: Set(*user_id),
            ..Default::default()
        })
        .collect()
}

/// Who each of some messages mentions, in the order they were stored.
pub async fn mentions_of(
    db: &impl ConnectionTrait,
    message_ids: &[i64],
) -> Result<HashMap<i64, Vec<i64>>, DbErr> {
    let pairs: Vec<(i64, i64)> = in_chunks(message_ids, |chunk| {
        message_mention::Entity::find()
            .select_only()
            .column(message_mention::Column::MessageId)
            .column(message_mention::Column::UserId)
            .filter(message_mention::Column::MessageId.is_in(chunk.iter().copied()))
            .order_by_asc(message_mention::Column::Id)
            .into_tuple()
            .all(db)
    })
    .await?;
    let mut out: HashMap<i64, Vec<i64>> = HashMap::new();
    for (message_id, user_id) in pairs {
        out.entry(message_id).or_default().push(user_id);
    }
    Ok(out)
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<message::Model>, DbErr> {
    message::Entity::find_by_id(id).one(db).await
}

/// The messages of `chat_id` that reply to `message_id` and are not deleted
/// (by the partial index `idx_messages_reply_to`: SQLite and PostgreSQL both
/// know that `reply_to_message_id = ?` implies its `IS NOT NULL`).
pub async fn replies_to(
    db: &impl ConnectionTrait,
    chat_id: i64,
    message_id: i64,
) -> Result<Vec<message::Model>, DbErr> {
    message::Entity::find()
        .filter(message::Column::ReplyToMessageId.eq(message_id))
        .filter(message::Column::ChatId.eq(chat_id))
        .filter(message::Column::DeletedAt.is_null())
        .all(db)
        .await
}

pub async fn find_many(
    db: &impl ConnectionTrait,
    ids: &[i64],
) -> Result<Vec<message::Model>, DbErr> {
    in_chunks(ids, |chunk| {
        message::Entity::find()
            .filter(message::Column::Id.is_in(chunk.iter().copied()))
            .all(db)
    })
    .await
}

/// Messages already stored under these (sender, client message id) pairs,
/// in one statement whose text does not depend on how many pairs there are
/// ([`fixed`]): two arrays on PostgreSQL, an `OR` padded to a power of two
/// elsewhere.
pub async fn find_by_client_ids(
    db: &impl ConnectionTrait,
    pairs: &[(i64, String)],
) -> Result<Vec<message::Model>, DbErr> {
    if pairs.is_empty() {
        return Ok(Vec::new());
    }
    let condition = if db.get_database_backend() == DbBackend::Postgres {
        let senders: Vec<i64> = pairs.iter().map(|(sender, _)| *sender).collect();
        let client_ids: Vec<&str> = pairs.iter().map(|(_, id)| id.as_str()).collect();
        Condition::all().add(Expr::cust_with_values(
            r#"("messages"."sender_id", "messages"."client_message_id") IN (SELECT * FROM UNNEST(CAST($1 AS bigint[]), CAST($2 AS text[])))"#,
            [
                fixed::pg_bigint_array(&senders),
                fixed::pg_text_array(&client_ids),
            ],
        ))
    } else {
        let mut any = Condition::any();
        for (sender, client_id) in fixed::padded(pairs) {
            any = any.add(
                Condition::all()
                    .add(message::Column::SenderId.eq(sender))
                    .add(message::Column::ClientMessageId.eq(client_id)),
            );
        }
        any
    };
    message::Entity::find().filter(condition).all(db).await
}

/// Not expired at `now`: a disappearing message leaves history the moment it
/// expires, before the expiry job gets to it (and after, as its tombstone).
fn unexpired(now: i64) -> Condition {
    Condition::any()
        .add(message::Column::ExpiresAt.is_null())
        .add(message::Column::ExpiresAt.gt(now))
}

/// Up to `limit` visible messages of a chat older than `before`, newest first,
/// leaving out those expired at `now`.
pub async fn history(
    db: &impl ConnectionTrait,
    chat_id: i64,
    intervals: &[Interval],
    before: Option<i64>,
    limit: u64,
    now: i64,
) -> Result<Vec<message::Model>, DbErr> {
    let mut query = message::Entity::find()
        .filter(message::Column::ChatId.eq(chat_id))
        .filter(visible(intervals))
        .filter(unexpired(now));
    if let Some(before) = before {
        query = query.filter(message::Column::Id.lt(before));
    }
    query
        .order_by_desc(message::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Runs `SELECT`s joined by UNION ALL, `per` at a time, and gathers the rows.
/// Every value in them is an integer natter computed, so they are inlined.
async fn union_all<T>(
    db: &impl ConnectionTrait,
    parts: Vec<String>,
    read: impl Fn(&sea_orm::QueryResult) -> Result<T, DbErr>,
) -> Result<Vec<T>, DbErr> {
    let mut out = Vec::new();
    for chunk in parts.chunks(200) {
        let sql = chunk.join(" UNION ALL ");
        let rows = db
            .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
            .await?;
        for row in &rows {
            out.push(read(row)?);
        }
    }
    Ok(out)
}

/// An integer literal typed as a 64-bit column on every backend (PostgreSQL
/// would otherwise read a bare literal as a 32-bit one).
fn bigint(backend: DbBackend, value: i64) -> String {
    match backend {
        DbBackend::Postgres => format!("CAST({value} AS BIGINT)"),
        DbBackend::MySql => format!("CAST({value} AS SIGNED)"),
        _ => value.to_string(),
    }
}

/// A SELECT as a derived table (MySQL and PostgreSQL need the alias).
fn wrap(select: String, alias: usize) -> String {
    format!("SELECT * FROM ({select}) AS t{alias}")
}

/// The newest message of each chat with a position after the given one
/// (a member's current interval start), not expired at `now`. One backward
/// index probe per chat.
pub async fn last_ids(
    db: &impl ConnectionTrait,
    chats: &[(i64, i64)],
    now: i64,
) -> Result<HashMap<i64, i64>, DbErr> {
    let parts = chats
        .iter()
        .enumerate()
        .map(|(i, (chat_id, after_seq))| {
            wrap(
                format!(
                    "SELECT chat_id, id FROM messages WHERE chat_id = {chat_id} AND seq > {after_seq} AND (expires_at IS NULL OR expires_at > {now}) ORDER BY id DESC LIMIT 1"
                ),
                i,
            )
        })
        .collect();
    let rows = union_all(db, parts, |row| {
        Ok((
            row.try_get::<i64>("", "chat_id")?,
            row.try_get::<i64>("", "id")?,
        ))
    })
    .await?;
    Ok(rows.into_iter().collect())
}

/// For the unread count of one chat: messages after `after_id` and `after_seq`
/// not sent by `reader` and not deleted.
pub struct UnreadProbe {
    pub chat_id: i64,
    pub after_id: i64,
    pub after_seq: i64,
}

pub async fn unread_counts(
    db: &impl ConnectionTrait,
    reader: i64,
    probes: &[UnreadProbe],
) -> Result<HashMap<i64, u64>, DbErr> {
    let backend = db.get_database_backend();
    let parts = probes
        .iter()
        .enumerate()
        .map(|(i, p)| {
            wrap(
                format!(
                    "SELECT {chat} AS chat_id, COUNT(*) AS unread FROM messages WHERE chat_id = {chat} AND id > {after_id} AND seq > {after_seq} AND sender_id <> {reader} AND deleted_at IS NULL",
                    chat = bigint(backend, p.chat_id),
                    after_id = p.after_id,
                    after_seq = p.after_seq,
                ),
                i,
            )
        })
        .collect();
    let rows = union_all(db, parts, |row| {
        Ok((
            row.try_get::<i64>("", "chat_id")?,
            row.try_get::<i64>("", "unread")?,
        ))
    })
    .await?;
    Ok(rows
        .into_iter()
        .map(|(c, n)| (c, n.max(0) as u64))
        .collect())
}

pub async fn set_content(
    db: &impl ConnectionTrait,
    id: i64,
    content: &str,
    edited_at: i64,
) -> Result<bool, DbErr> {
    // Conditional on the row as it is now: an edit can never write content
    // back into a message a concurrent delete has just emptied.
    let done = message::Entity::update_many()
        .col_expr(message::Column::Content, Expr::value(content))
        .col_expr(message::Column::EditedAt, Expr::value(edited_at))
        .filter(message::Column::Id.eq(id))
        .filter(message::Column::DeletedAt.is_null())
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}

/// Deletes for everyone: the place stays, the content goes. False when the
/// message was already deleted (checked on the row itself, in the writing
/// statement; its media reference was dropped then).
pub async fn soft_delete(db: &impl ConnectionTrait, id: i64, now: i64) -> Result<bool, DbErr> {
    let none_text: Option<String> = None;
    let none_int: Option<i64> = None;
    let none_float: Option<f64> = None;
    let done = message::Entity::update_many()
        .col_expr(message::Column::DeletedAt, Expr::value(now))
        .col_expr(message::Column::Content, Expr::value(none_text.clone()))
        .col_expr(message::Column::MediaUrl, Expr::value(none_text.clone()))
        .col_expr(message::Column::MediaSize, Expr::value(none_int))
        .col_expr(message::Column::MediaDuration, Expr::value(none_int))
        .col_expr(
            message::Column::MediaMimeType,
            Expr::value(none_text.clone()),
        )
        .col_expr(message::Column::FileName, Expr::value(none_text.clone()))
        .col_expr(
            message::Column::ThumbnailUrl,
            Expr::value(none_text.clone()),
        )
        .col_expr(message::Column::Latitude, Expr::value(none_float))
        .col_expr(message::Column::Longitude, Expr::value(none_float))
        .col_expr(
            message::Column::LocationName,
            Expr::value(none_text.clone()),
        )
        .col_expr(message::Column::ContactData, Expr::value(none_text))
        .col_expr(message::Column::MediaId, Expr::value(none_int))
        .filter(message::Column::Id.eq(id))
        .filter(message::Column::DeletedAt.is_null())
        .exec(db)
        .await?;
    if done.rows_affected == 0 {
        return Ok(false);
    }
    message_reaction::Entity::delete_many()
        .filter(message_reaction::Column::MessageId.eq(id))
        .exec(db)
        .await?;
    Ok(true)
}

/// Up to `limit` messages whose disappearing timer ran out by `now` and that
/// are not deleted yet, the earliest first.
pub async fn expired(
    db: &impl ConnectionTrait,
    now: i64,
    limit: u64,
) -> Result<Vec<message::Model>, DbErr> {
    message::Entity::find()
        .filter(message::Column::ExpiresAt.lte(now))
        .filter(message::Column::DeletedAt.is_null())
        .order_by_asc(message::Column::ExpiresAt)
        .limit(limit)
        .all(db)
        .await
}

/// Records that `user_id` opened a view-once message; a second time violates
/// `uq_message_views`.
pub async fn insert_view(
    db: &impl ConnectionTrait,
    message_id: i64,
    user_id: i64,
    now: i64,
) -> Result<(), DbErr> {
    message_view::Entity::insert(message_view::ActiveModel {
        message_id: Set(message_id),
        user_id: Set(user_id),
        viewed_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Which of these view-once messages `user_id` has opened.
pub async fn viewed_among(
    db: &impl ConnectionTrait,
    user_id: i64,
    message_ids: &[i64],
) -> Result<Vec<i64>, DbErr> {
    in_chunks(message_ids, |chunk| {
        message_view::Entity::find()
            .select_only()
            .column(message_view::Column::MessageId)
            .filter(message_view::Column::UserId.eq(user_id))
            .filter(message_view::Column::MessageId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
    })
    .await
}

/// Whether `user_id` has starred the message.
pub async fn is_starred(
    db: &impl ConnectionTrait,
    user_id: i64,
    message_id: i64,
) -> Result<bool, DbErr> {
    use sea_orm::PaginatorTrait;
    let found = starred_message::Entity::find()
        .filter(starred_message::Column::UserId.eq(user_id))
        .filter(starred_message::Column::MessageId.eq(message_id))
        .count(db)
        .await?;
    Ok(found > 0)
}

pub async fn insert_star(
    db: &impl ConnectionTrait,
    user_id: i64,
    message_id: i64,
    now: i64,
) -> Result<(), DbErr> {
    starred_message::Entity::insert(starred_message::ActiveModel {
        user_id: Set(user_id),
        message_id: Set(message_id),
        starred_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Removes a user's star; true if there was one.
pub async fn delete_star(
    db: &impl ConnectionTrait,
    user_id: i64,
    message_id: i64,
) -> Result<bool, DbErr> {
    let done = starred_message::Entity::delete_many()
        .filter(starred_message::Column::UserId.eq(user_id))
        .filter(starred_message::Column::MessageId.eq(message_id))
        .exec(db)
        .await?;
    Ok(done.rows_affected > 0)
}

/// Which of these messages `user_id` has starred.
pub async fn starred_among(
    db: &impl ConnectionTrait,
    user_id: i64,
    message_ids: &[i64],
) -> Result<Vec<i64>, DbErr> {
    in_chunks(message_ids, |chunk| {
        starred_message::Entity::find()
            .select_only()
            .column(starred_message::Column::MessageId)
            .filter(starred_message::Column::UserId.eq(user_id))
            .filter(starred_message::Column::MessageId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
    })
    .await
}

/// Up to `limit` of a user's stars older than the star `before` (an id of
/// `starred_messages`), newest first, each with its message: only messages
/// of `chat_ids` (the chats the user is in now), not deleted, not expired at
/// `now`. The chat ids are inlined: integers natter read, and a user in
/// thousands of chats must not meet a backend's bind-parameter limit.
pub async fn starred_page(
    db: &impl ConnectionTrait,
    user_id: i64,
    chat_ids: &[i64],
    before: Option<i64>,
    limit: u64,
    now: i64,
) -> Result<Vec<(i64, message::Model)>, DbErr> {
    if chat_ids.is_empty() {
        return Ok(Vec::new());
    }
    let chats: Vec<String> = chat_ids.iter().map(i64::to_string).collect();
    let mut query = starred_message::Entity::find()
        .find_also_related(message::Entity)
        .filter(starred_message::Column::UserId.eq(user_id))
        .filter(message::Column::DeletedAt.is_null())
        .filter(unexpired(now))
        .filter(Expr::cust(format!(
            "messages.chat_id IN ({})",
            chats.join(",")
        )));
    if let Some(before) = before {
        query = query.filter(starred_message::Column::Id.lt(before));
    }
    let rows = query
        .order_by_desc(starred_message::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(star, message)| message.map(|m| (star.id, m)))
        .collect())
}

/// Drops every user's star on a message (it was deleted: nothing is left to keep).
pub async fn delete_stars_of(db: &impl ConnectionTrait, message_id: i64) -> Result<(), DbErr> {
    starred_message::Entity::delete_many()
        .filter(starred_message::Column::MessageId.eq(message_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Drops every star of a user (their account is deleted).
pub async fn delete_stars_by(db: &impl ConnectionTrait, user_id: i64) -> Result<(), DbErr> {
    starred_message::Entity::delete_many()
        .filter(starred_message::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// A chat's pins that count toward its limit, the oldest first: those of
/// messages neither deleted nor expired at `now` (as [`pins_in`] shows them).
pub async fn pins_of(
    db: &impl ConnectionTrait,
    chat_id: i64,
    now: i64,
) -> Result<Vec<pinned_message::Model>, DbErr> {
    pinned_message::Entity::find()
        .inner_join(message::Entity)
        .filter(pinned_message::Column::ChatId.eq(chat_id))
        .filter(message::Column::DeletedAt.is_null())
        .filter(unexpired(now))
        .order_by_asc(pinned_message::Column::Id)
        .all(db)
        .await
}

pub async fn insert_pin(
    db: &impl ConnectionTrait,
    chat_id: i64,
    message_id: i64,
    pinned_by: i64,
    now: i64,
) -> Result<(), DbErr> {
    pinned_message::Entity::insert(pinned_message::ActiveModel {
        chat_id: Set(chat_id),
        message_id: Set(message_id),
        pinned_by: Set(pinned_by),
        pinned_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Unpins a message of a chat (found through the chat's key); true if it was pinned.
pub async fn delete_pin(
    db: &impl ConnectionTrait,
    chat_id: i64,
    message_id: i64,
) -> Result<bool, DbErr> {
    let done = pinned_message::Entity::delete_many()
        .filter(pinned_message::Column::ChatId.eq(chat_id))
        .filter(pinned_message::Column::MessageId.eq(message_id))
        .exec(db)
        .await?;
    Ok(done.rows_affected > 0)
}

/// The pins of several chats, newest first, each only if its message has a
/// position after the given one (a viewer's current interval start) and is
/// not expired at `now`. One query whatever the number of chats.
pub async fn pins_in(
    db: &impl ConnectionTrait,
    chats: &[(i64, i64)],
    now: i64,
) -> Result<Vec<pinned_message::Model>, DbErr> {
    if chats.is_empty() {
        return Ok(Vec::new());
    }
    let mut any = Condition::any();
    for (chat_id, after_seq) in chats {
        any = any.add(
            Condition::all()
                .add(pinned_message::Column::ChatId.eq(*chat_id))
                .add(message::Column::Seq.gt(*after_seq)),
        );
    }
    pinned_message::Entity::find()
        .inner_join(message::Entity)
        .filter(any)
        .filter(message::Column::DeletedAt.is_null())
        .filter(unexpired(now))
        .order_by_desc(pinned_message::Column::Id)
        .all(db)
        .await
}

/// Messages showing a media row (not deleted), for telling their chats what a
/// probe found.
pub async fn showing_media(
    db: &impl ConnectionTrait,
    media_id: i64,
) -> Result<Vec<message::Model>, DbErr> {
    message::Entity::find()
        .filter(message::Column::MediaId.eq(media_id))
        .filter(message::Column::DeletedAt.is_null())
        .all(db)
        .await
}

/// Takes the files off every message a user sent (account deletion): the media
/// rows they referenced, with how many references each loses.
pub async fn detach_media_of_sender(
    db: &impl ConnectionTrait,
    sender_id: i64,
) -> Result<Vec<i64>, DbErr> {
    let media_ids: Vec<Option<i64>> = message::Entity::find()
        .select_only()
        .column(message::Column::MediaId)
        .filter(message::Column::SenderId.eq(sender_id))
        .filter(message::Column::MediaId.is_not_null())
        .into_tuple()
        .all(db)
        .await?;
    let none: Option<i64> = None;
    message::Entity::update_many()
        .col_expr(message::Column::MediaId, Expr::value(none))
        .filter(message::Column::SenderId.eq(sender_id))
        .filter(message::Column::MediaId.is_not_null())
        .exec(db)
        .await?;
    Ok(media_ids.into_iter().flatten().collect())
}

pub async fn reactions_of(
    db: &impl ConnectionTrait,
    message_ids: &[i64],
) -> Result<Vec<message_reaction::Model>, DbErr> {
    if message_ids.is_empty() {
        return Ok(Vec::new());
    }
    message_reaction::Entity::find()
        .filter(message_reaction::Column::MessageId.is_in(message_ids.iter().copied()))
        .order_by_asc(message_reaction::Column::Id)
        .all(db)
        .await
}

/// Sets a user's one reaction on a message, replacing any earlier one.
pub async fn put_reaction(
    db: &impl ConnectionTrait,
    message_id: i64,
    user_id: i64,
    emoji: &str,
    now: i64,
) -> Result<(), DbErr> {
    delete_reaction(db, message_id, user_id).await?;
    message_reaction::Entity::insert(message_reaction::ActiveModel {
        message_id: Set(message_id),
        user_id: Set(user_id),
        emoji: Set(emoji.to_string()),
        created_at: Set(now),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Removes a user's reaction; true if there was one.
pub async fn delete_reaction(
    db: &impl ConnectionTrait,
    message_id: i64,
    user_id: i64,
) -> Result<bool, DbErr> {
    let result = message_reaction::Entity::delete_many()
        .filter(message_reaction::Column::MessageId.eq(message_id))
        .filter(message_reaction::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Receipt mark kinds, as stored.
pub const MARK_DELIVERED: i16 = 1;
pub const MARK_READ: i16 = 2;

pub async fn insert_mark(
    db: &impl ConnectionTrait,
    chat_id: i64,
    user_id: i64,
    kind: i16,
    message_id: i64,
    at: i64,
) -> Result<(), DbErr> {
    receipt_mark::Entity::insert(receipt_mark::ActiveModel {
        chat_id: Set(chat_id),
        user_id: Set(user_id),
        kind: Set(kind),
        message_id: Set(message_id),
        at: Set(at),
        ..Default::default()
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// For each (chat, lowest id, highest id): the receipt marks with message ids in
/// that range, plus, per user and kind, the first mark past it. Marks only move
/// forward, so these are all a set of messages needs to know when each reader
/// reached each message. Two queries whatever the number of chats.
pub async fn marks_for_ranges(
    db: &impl ConnectionTrait,
    ranges: &[(i64, i64, i64)],
) -> Result<Vec<receipt_mark::Model>, DbErr> {
    if ranges.is_empty() {
        return Ok(Vec::new());
    }
    let mut inside = Condition::any();
    let mut beyond = Condition::any();
    for (chat_id, from, to) in ranges {
        inside = inside.add(
            Condition::all()
                .add(receipt_mark::Column::ChatId.eq(*chat_id))
                .add(receipt_mark::Column::MessageId.between(*from, *to)),
        );
        beyond = beyond.add(
            Condition::all()
                .add(receipt_mark::Column::ChatId.eq(*chat_id))
                .add(receipt_mark::Column::MessageId.gt(*to)),
        );
    }
    let mut marks = receipt_mark::Entity::find().filter(inside).all(db).await?;
    let firsts: Vec<(i64, i64, i16, i64, i64)> = receipt_mark::Entity::find()
        .select_only()
        .column(receipt_mark::Column::ChatId)
        .column(receipt_mark::Column::UserId)
        .column(receipt_mark::Column::Kind)
        .column_as(receipt_mark::Column::MessageId.min(), "message_id")
        .column_as(receipt_mark::Column::At.min(), "at")
        .filter(beyond)
        .group_by(receipt_mark::Column::ChatId)
        .group_by(receipt_mark::Column::UserId)
        .group_by(receipt_mark::Column::Kind)
        .into_tuple()
        .all(db)
        .await?;
    marks.extend(
        firsts.into_iter().map(
            |(chat_id, user_id, kind, message_id, at)| receipt_mark::Model {
                id: 0,
                chat_id,
                user_id,
                kind,
                message_id,
                at,
            },
        ),
    );
    Ok(marks)
}

/// Distinct senders of a chat's messages with ids in `(after, upto]`: who a
/// receipt covering them concerns.
pub async fn senders_between(
    db: &impl ConnectionTrait,
    chat_id: i64,
    after: i64,
    upto: i64,
) -> Result<Vec<i64>, DbErr> {
    message::Entity::find()
        .select_only()
        .column(message::Column::SenderId)
        .distinct()
        .filter(message::Column::ChatId.eq(chat_id))
        .filter(message::Column::Id.gt(after))
        .filter(message::Column::Id.lte(upto))
        .into_tuple()
        .all(db)
        .await
}

/// Messages not deleted (`natter stats`).
pub async fn count_messages(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    message::Entity::find()
        .filter(message::Column::DeletedAt.is_null())
        .count(db)
        .await
}
