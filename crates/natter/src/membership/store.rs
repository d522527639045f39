//! Queries on `chats`, `chat_participants` and `chat_memberships`.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::db::entities::{chat, chat_membership, chat_participant};
use crate::db::{fixed, in_chunks};

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<chat::Model>, DbErr> {
    chat::Entity::find_by_id(id)
        .filter(chat::Column::DeletedAt.is_null())
        .one(db)
        .await
}

pub async fn find_many(db: &impl ConnectionTrait, ids: &[i64]) -> Result<Vec<chat::Model>, DbErr> {
    in_chunks(ids, |chunk| {
        chat::Entity::find()
            .filter(fixed::one_of(
                db.get_database_backend(),
                chat::Column::Id,
                chunk,
            ))
            .filter(chat::Column::DeletedAt.is_null())
            .all(db)
    })
    .await
}

pub async fn find_private(
    db: &impl ConnectionTrait,
    pair: &str,
) -> Result<Option<chat::Model>, DbErr> {
    chat::Entity::find()
        .filter(chat::Column::PrivatePair.eq(pair))
        .one(db)
        .await
}

pub struct NewChat<'a> {
    pub chat_type: &'a str,
    pub name: Option<String>,
    pub description: Option<String>,
    pub created_by: i64,
    pub private_pair: Option<String>,
    pub now: i64,
}

pub async fn insert_chat(
    db: &impl ConnectionTrait,
    new: NewChat<'_>,
) -> Result<chat::Model, DbErr> {
    chat::ActiveModel {
        chat_type: Set(new.chat_type.to_string()),
        name: Set(new.name),
        description: Set(new.description),
        created_by: Set(Some(new.created_by)),
        private_pair: Set(new.private_pair),
        created_at: Set(new.now),
        updated_at: Set(new.now),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Saves the fields set on `changes` (its id must be set).
pub async fn update_chat(
    db: &impl ConnectionTrait,
    changes: chat::ActiveModel,
) -> Result<chat::Model, DbErr> {
    changes.update(db).await
}

/// The participant row of a user in a chat, current or past.
pub async fn participant(
    db: &impl ConnectionTrait,
    chat_id: i64,
    user_id: i64,
) -> Result<Option<chat_participant::Model>, DbErr> {
    chat_participant::Entity::find()
        .filter(chat_participant::Column::ChatId.eq(chat_id))
        .filter(chat_participant::Column::UserId.eq(user_id))
        .one(db)
        .await
}

/// Current participants of these chats, longest-standing first.
pub async fn current_participants(
    db: &impl ConnectionTrait,
    chat_ids: &[i64],
) -> Result<Vec<chat_participant::Model>, DbErr> {
    let mut rows = in_chunks(chat_ids, |chunk| {
        chat_participant::Entity::find()
            .filter(chat_participant::Column::ChatId.is_in(chunk.iter().copied()))
            .filter(chat_participant::Column::LeftAt.is_null())
            .all(db)
    })
    .await?;
    rows.sort_by_key(|p| (p.joined_at, p.id));
    Ok(rows)
}

/// The chats a user is currently in, with the chat's own `updated_at`.
pub async fn current_chats_of(
    db: &impl ConnectionTrait,
    user_id: i64,
) -> Result<Vec<(i64, i64)>, DbErr> {
    chat_participant::Entity::find()
        .select_only()
        .column(chat_participant::Column::ChatId)
        .column_as(
            Expr::col((chat::Entity, chat::Column::UpdatedAt)),
            "updated_at",
        )
        .inner_join(chat::Entity)
        .filter(chat_participant::Column::UserId.eq(user_id))
        .filter(chat_participant::Column::LeftAt.is_null())
        .filter(chat::Column::DeletedAt.is_null())
        .into_tuple()
        .all(db)
        .await
}

pub struct NewParticipant {
    pub chat_id: i64,
    pub user_id: i64,
    pub role: &'static str,
    pub now: i64,
}

/// Adds a member, or brings a past member back. Their receipt watermarks stay:
/// what they may see of the chat is decided by their membership intervals.
pub async fn upsert_participant(
    db: &impl ConnectionTrait,
    new: NewParticipant,
) -> Result<(), DbErr> {
    let existing = participant(db, new.chat_id, new.user_id).await?;
    match existing {
        Some(row) => {
            // A new membership starts with no pin or archive of the old one:
            // the pin limit counts current memberships only.
            chat_participant::ActiveModel {
                id: Set(row.id),
                role: Set(new.role.to_string()),
                joined_at: Set(new.now),
                left_at: Set(None),
                pinned_at: Set(None),
                archived_at: Set(None),
                archived_message_id: Set(None),
                removed_by: Set(None),
                ..Default::default()
            }
            .update(db)
            .await?;
        }
        None => {
            chat_participant::ActiveModel {
                chat_id: Set(new.chat_id),
                user_id: Set(new.user_id),
                role: Set(new.role.to_string()),
                joined_at: Set(new.now),
                ..Default::default()
            }
            .insert(db)
            .await?;
        }
    }
    bump_roster_version(db, new.chat_id).await
}

/// Records that a chat's participants changed: rosters kept by the writer
/// (membership::RosterCache) are read again.
async fn bump_roster_version(db: &impl ConnectionTrait, chat_id: i64) -> Result<(), DbErr> {
    chat::Entity::update_many()
        .col_expr(
            chat::Column::RosterVersion,
            Expr::col(chat::Column::RosterVersion).add(1),
        )
        .filter(chat::Column::Id.eq(chat_id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn set_left(
    db: &impl ConnectionTrait,
    chat_id: i64,
    user_id: i64,
    now: i64,
    removed_by: Option<i64>,
) -> Result<(), DbErr> {
    chat_participant::Entity::update_many()
        .col_expr(chat_participant::Column::LeftAt, Expr::value(now))
        .col_expr(chat_participant::Column::RemovedBy, Expr::value(removed_by))
        .filter(chat_participant::Column::ChatId.eq(chat_id))
        .filter(chat_participant::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    bump_roster_version(db, chat_id).await
}

pub async fn set_role(
    db: &impl ConnectionTrait,
    chat_id: i64,
    user_id: i64,
    role: &str,
) -> Result<(), DbErr> {
    chat_participant::Entity::update_many()
        .col_expr(chat_participant::Column::Role, Expr::value(role))
        .filter(chat_participant::Column::ChatId.eq(chat_id))
        .filter(chat_participant::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Saves the fields set on `changes`, a participant row's (its id must be set).
pub async fn update_participant(
    db: &impl ConnectionTrait,
    changes: chat_participant::ActiveModel,
) -> Result<chat_participant::Model, DbErr> {
    changes.update(db).await
}

/// A user's participant rows in the chats they are in now (chats not deleted).
pub async fn current_rows_of(
    db: &impl ConnectionTrait,
    user_id: i64,
) -> Result<Vec<chat_participant::Model>, DbErr> {
    chat_participant::Entity::find()
        .inner_join(chat::Entity)
        .filter(chat_participant::Column::UserId.eq(user_id))
        .filter(chat_participant::Column::LeftAt.is_null())
        .filter(chat::Column::DeletedAt.is_null())
        .all(db)
        .await
}

/// Which receipt watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watermark {
    Delivered,
    Read,
}

/// Moves a watermark forward to `message_id`; never backward. True if it moved.
pub async fn advance_watermark(
    db: &impl ConnectionTrait,
    chat_id: i64,
    user_id: i64,
    which: Watermark,
    message_id: i64,
) -> Result<bool, DbErr> {
    let column = match which {
        Watermark::Delivered => chat_participant::Column::LastDeliveredMessageId,
        Watermark::Read => chat_participant::Column::LastReadMessageId,
    };
    let result = chat_participant::Entity::update_many()
        .col_expr(column, Expr::value(message_id))
        .filter(chat_participant::Column::ChatId.eq(chat_id))
        .filter(chat_participant::Column::UserId.eq(user_id))
        .filter(chat_participant::Column::LeftAt.is_null())
        .filter(
            Condition::any()
                .add(column.is_null())
                .add(column.lt(message_id)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// A user's membership intervals, in one chat or (None) in all.
pub async fn memberships(
    db: &impl ConnectionTrait,
    user_id: i64,
    chat_id: Option<i64>,
) -> Result<Vec<chat_membership::Model>, DbErr> {
    let mut query =
        chat_membership::Entity::find().filter(chat_membership::Column::UserId.eq(user_id));
    if let Some(chat_id) = chat_id {
        query = query.filter(chat_membership::Column::ChatId.eq(chat_id));
    }
    query
        .order_by_asc(chat_membership::Column::Id)
        .all(db)
        .await
}

/// The open membership intervals of these chats (who is in them now, from when).
pub async fn open_memberships(
    db: &impl ConnectionTrait,
    chat_ids: &[i64],
) -> Result<Vec<chat_membership::Model>, DbErr> {
    in_chunks(chat_ids, |chunk| {
        chat_membership::Entity::find()
            .filter(chat_membership::Column::ChatId.is_in(chunk.iter().copied()))
            .filter(chat_membership::Column::ToSeq.is_null())
            .all(db)
    })
    .await
}

pub async fn open_membership(
    db: &impl ConnectionTrait,
    chat_id: i64,
    user_id: i64,
    from_seq: i64,
) -> Result<(), DbErr> {
    chat_membership::ActiveModel {
        chat_id: Set(chat_id),
        user_id: Set(user_id),
        from_seq: Set(from_seq),
        to_seq: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

pub async fn close_membership(
    db: &impl ConnectionTrait,
    chat_id: i64,
    user_id: i64,
    to_seq: i64,
) -> Result<(), DbErr> {
    chat_membership::Entity::update_many()
        .col_expr(chat_membership::Column::ToSeq, Expr::value(to_seq))
        .filter(chat_membership::Column::ChatId.eq(chat_id))
        .filter(chat_membership::Column::UserId.eq(user_id))
        .filter(chat_membership::Column::ToSeq.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Current group chats of a user.
pub async fn current_groups_of(db: &impl ConnectionTrait, user_id: i64) -> Result<Vec<i64>, DbErr> {
    chat_participant::Entity::find()
        .select_only()
        .column(chat_participant::Column::ChatId)
        .inner_join(chat::Entity)
        .filter(chat_participant::Column::UserId.eq(user_id))
        .filter(chat_participant::Column::LeftAt.is_null())
        .filter(chat::Column::ChatType.eq("group"))
        .filter(chat::Column::DeletedAt.is_null())
        .into_tuple()
        .all(db)
        .await
}

pub async fn find_by_invite(
    db: &impl ConnectionTrait,
    code: &str,
) -> Result<Option<chat::Model>, DbErr> {
    chat::Entity::find()
        .filter(chat::Column::InviteCode.eq(code))
        .filter(chat::Column::DeletedAt.is_null())
        .one(db)
        .await
}

/// (id, type, roster version, disappearing timer) of the chats among these
/// that are open.
pub async fn roster_versions(
    db: &impl ConnectionTrait,
    chat_ids: &[i64],
) -> Result<Vec<(i64, String, i64, i64)>, DbErr> {
    in_chunks(chat_ids, |chunk| {
        chat::Entity::find()
            .select_only()
            .column(chat::Column::Id)
            .column(chat::Column::ChatType)
            .column(chat::Column::RosterVersion)
            .column(chat::Column::DisappearingSeconds)
            .filter(fixed::one_of(
                db.get_database_backend(),
                chat::Column::Id,
                chunk,
            ))
            .filter(chat::Column::DeletedAt.is_null())
            .into_tuple()
            .all(db)
    })
    .await
}

/// (chat, member) for the current members of these chats: who may send there
/// now. One query; whether the chats are open is `roster_versions`' part.
pub async fn current_members_of(
    db: &impl ConnectionTrait,
    chat_ids: &[i64],
) -> Result<Vec<(i64, i64)>, DbErr> {
    in_chunks(chat_ids, |chunk| {
        chat_participant::Entity::find()
            .select_only()
            .column(chat_participant::Column::ChatId)
            .column(chat_participant::Column::UserId)
            .filter(fixed::one_of(
                db.get_database_backend(),
                chat_participant::Column::ChatId,
                chunk,
            ))
            .filter(chat_participant::Column::LeftAt.is_null())
            .into_tuple()
            .all(db)
    })
    .await
}

/// (chat, user) pairs among these chats and users whose chat is muted at `now`
/// (current participants only).
pub async fn muted_among(
    db: &impl ConnectionTrait,
    chat_ids: &[i64],
    user_ids: &[i64],
    now: i64,
) -> Result<Vec<(i64, i64)>, DbErr> {
    if chat_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut chat_ids = chat_ids.to_vec();
    chat_ids.sort_unstable();
    chat_ids.dedup();
    let backend = db.get_database_backend();
    in_chunks(user_ids, |users| {
        chat_participant::Entity::find()
            .select_only()
            .column(chat_participant::Column::ChatId)
            .column(chat_participant::Column::UserId)
            .filter(fixed::one_of(
                backend,
                chat_participant::Column::ChatId,
                &chat_ids,
            ))
            .filter(fixed::one_of(
                backend,
                chat_participant::Column::UserId,
                users,
            ))
            .filter(chat_participant::Column::LeftAt.is_null())
            .filter(chat_participant::Column::MutedUntil.gt(now))
            .into_tuple()
            .all(db)
    })
    .await
}

/// Chats not deleted (`natter stats`).
pub async fn count_chats(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    chat::Entity::find()
        .filter(chat::Column::DeletedAt.is_null())
        .count(db)
        .await
}
