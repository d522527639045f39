//! Queries on `devices`, and only here.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::db::entities::device;
use crate::db::{fixed, in_chunks};

/// The device holding this token (by its hash), whoever owns it. On a write
/// transaction this reads the committed row or waits for the writer holding it.
pub async fn find_by_token_hash(
    db: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<device::Model>, DbErr> {
    device::Entity::find()
        .filter(device::Column::TokenHash.eq(token_hash))
        .one(db)
        .await
}

pub async fn insert(
    db: &impl ConnectionTrait,
    row: device::ActiveModel,
) -> Result<device::Model, DbErr> {
    row.insert(db).await
}

pub async fn update(
    db: &impl ConnectionTrait,
    row: device::ActiveModel,
) -> Result<device::Model, DbErr> {
    row.update(db).await
}

/// A user's devices, oldest first.
pub async fn of_user(db: &impl ConnectionTrait, user_id: i64) -> Result<Vec<device::Model>, DbErr> {
    device::Entity::find()
        .filter(device::Column::UserId.eq(user_id))
        .order_by_asc(device::Column::Id)
        .all(db)
        .await
}

/// Which of these users have at least one device: one query per batch (per
/// [`in_chunks`] chunk: a large group's roster stays under every backend's
/// bind-parameter limit).
pub async fn users_with_devices(
    db: &impl ConnectionTrait,
    user_ids: &[i64],
) -> Result<Vec<i64>, DbErr> {
    in_chunks(user_ids, |chunk| {
        device::Entity::find()
            .select_only()
            .column(device::Column::UserId)
            .distinct()
            .filter(fixed::one_of(
                db.get_database_backend(),
                device::Column::UserId,
                chunk,
            ))
            .into_tuple()
            .all(db)
    })
    .await
}

/// Deletes a device if `user_id` owns it; true if it did.
pub async fn delete_owned(db: &impl ConnectionTrait, id: i64, user_id: i64) -> Result<bool, DbErr> {
    let deleted = device::Entity::delete_many()
        .filter(device::Column::Id.eq(id))
        .filter(device::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected > 0)
}

/// Deletes a device whose token the provider declared dead, unless it was
/// registered again meanwhile (a new token under the same row).
pub async fn delete_dead(
    db: &impl ConnectionTrait,
    id: i64,
    token_hash: &str,
) -> Result<(), DbErr> {
    device::Entity::delete_many()
        .filter(device::Column::Id.eq(id))
        .filter(device::Column::TokenHash.eq(token_hash))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn delete_of_session(db: &impl ConnectionTrait, session_id: i64) -> Result<u64, DbErr> {
    Ok(device::Entity::delete_many()
        .filter(device::Column::SessionId.eq(session_id))
        .exec(db)
        .await?
        .rows_affected)
}

pub async fn delete_of_user(db: &impl ConnectionTrait, user_id: i64) -> Result<u64, DbErr> {
    Ok(device::Entity::delete_many()
        .filter(device::Column::UserId.eq(user_id))
        .exec(db)
        .await?
        .rows_affected)
}

/// Deletes these devices (the oldest beyond the per-user limit).
pub async fn delete_ids(db: &impl ConnectionTrait, ids: &[i64]) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    device::Entity::delete_many()
        .filter(device::Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

/// Records that push job `push_key` reached the device, at `now`.
pub async fn mark_pushed(
    db: &impl ConnectionTrait,
    id: i64,
    push_key: &str,
    now: i64,
) -> Result<(), DbErr> {
    device::Entity::update_many()
        .col_expr(device::Column::LastPush, Expr::value(push_key))
        .col_expr(device::Column::LastUsedAt, Expr::value(now))
        .filter(device::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}
