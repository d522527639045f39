//! Queries on the `media` table (and only here).
//!
//! The state column runs `pending` (objects being written) -> `active` ->
//! `deleting` (objects being removed) -> row deleted. Every change is one
//! conditional UPDATE, so a reference taken and a collection started race safely
//! on every backend: the row lock orders them, and the loser's condition fails.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::db::entities::media;

pub const PENDING: &str = "pending";
pub const ACTIVE: &str = "active";
pub const DELETING: &str = "deleting";

/// What is known about a new row before its objects are written.
#[derive(Debug, Clone)]
pub struct NewMedia {
    pub storage_key: String,
    pub sha256: String,
    pub kind: String,
    pub mime_type: String,
    pub size: i64,
}

/// What processing found, written when the row becomes active.
#[derive(Debug, Clone, Default)]
pub struct Details {
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub duration_ms: Option<i64>,
    pub thumbnail_key: Option<String>,
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<media::Model>, DbErr> {
    media::Entity::find_by_id(id).one(db).await
}

pub async fn find_by_key(
    db: &impl ConnectionTrait,
    storage_key: &str,
) -> Result<Option<media::Model>, DbErr> {
    media::Entity::find()
        .filter(media::Column::StorageKey.eq(storage_key))
        .one(db)
        .await
}

/// The MIME type stored with an object, looked up by its key.
pub async fn mime_of(
    db: &impl ConnectionTrait,
    storage_key: &str,
) -> Result<Option<String>, DbErr> {
    media::Entity::find()
        .select_only()
        .column(media::Column::MimeType)
        .filter(media::Column::StorageKey.eq(storage_key))
        .into_tuple::<String>()
        .one(db)
        .await
}

/// Claims a key for writing; a unique violation means another upload claimed it.
pub async fn insert_pending(
    db: &impl ConnectionTrait,
    new: NewMedia,
    now: i64,
) -> Result<media::Model, DbErr> {
    media::ActiveModel {
        storage_key: Set(new.storage_key),
        sha256: Set(new.sha256),
        kind: Set(new.kind),
        mime_type: Set(new.mime_type),
        size: Set(new.size),
        ref_count: Set(0),
        state: Set(PENDING.to_string()),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// pending -> active, with what processing found. False when already active.
pub async fn activate(
    db: &impl ConnectionTrait,
    id: i64,
    details: Details,
    now: i64,
) -> Result<bool, DbErr> {
    let result = media::Entity::update_many()
        .col_expr(media::Column::State, Expr::value(ACTIVE))
        .col_expr(media::Column::Width, Expr::value(details.width))
        .col_expr(media::Column::Height, Expr::value(details.height))
        .col_expr(media::Column::DurationMs, Expr::value(details.duration_ms))
        .col_expr(
            media::Column::ThumbnailKey,
            Expr::value(details.thumbnail_key),
        )
        .col_expr(media::Column::UpdatedAt, Expr::value(now))
        .filter(media::Column::Id.eq(id))
        .filter(media::Column::State.eq(PENDING))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Records what a later probe found (video/audio duration, poster).
pub async fn set_details(
    db: &impl ConnectionTrait,
    id: i64,
    details: Details,
    now: i64,
) -> Result<(), DbErr> {
    media::Entity::update_many()
        .col_expr(media::Column::DurationMs, Expr::value(details.duration_ms))
        .col_expr(
            media::Column::ThumbnailKey,
            Expr::value(details.thumbnail_key),
        )
        .col_expr(media::Column::Width, Expr::value(details.width))
        .col_expr(media::Column::Height, Expr::value(details.height))
        .col_expr(media::Column::UpdatedAt, Expr::value(now))
        .filter(media::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Marks an active row as just handed to a request (an upload of the same bytes),
/// so no collection takes it before that request references it. False when the
/// row is no longer active.
pub async fn touch(db: &impl ConnectionTrait, id: i64, now: i64) -> Result<bool, DbErr> {
    let result = media::Entity::update_many()
        .col_expr(media::Column::UpdatedAt, Expr::value(now))
        .filter(media::Column::Id.eq(id))
        .filter(media::Column::State.eq(ACTIVE))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Takes `count` references on an active row, inside the transaction that stores
/// them. False when the row is gone or being collected: the caller must not
/// reference it (store the upload again).
pub async fn add_references(
    db: &impl ConnectionTrait,
    id: i64,
    count: i64,
    now: i64,
) -> Result<bool, DbErr> {
    let result = media::Entity::update_many()
        .col_expr(
            media::Column::RefCount,
            Expr::col(media::Column::RefCount).add(count),
        )
        .col_expr(media::Column::UpdatedAt, Expr::value(now))
        .filter(media::Column::Id.eq(id))
        .filter(media::Column::State.eq(ACTIVE))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Drops `count` references, inside the transaction that removes them. After the
/// commit the caller asks for a collection of the row (it happens only if nothing
/// references it any more). `updated_at` is left alone: it says when the row was
/// last handed to a request, and only that protects a row from collection.
pub async fn drop_references(db: &impl ConnectionTrait, id: i64, count: i64) -> Result<(), DbErr> {
    media::Entity::update_many()
        .col_expr(
            media::Column::RefCount,
            Expr::col(media::Column::RefCount).sub(count),
        )
        .filter(media::Column::Id.eq(id))
        .filter(media::Column::RefCount.gte(count))
        .exec(db)
        .await?;
    Ok(())
}

/// Starts collecting a row nobody references: active with no reference and
/// untouched since `idle_before` (an upload not referenced yet is left alone for
/// that long), pending since `idle_before` (a crashed upload), or already
/// deleting (a collection being retried). True when the caller may now delete
/// the objects.
pub async fn mark_deleting(
    db: &impl ConnectionTrait,
    id: i64,
    idle_before: i64,
) -> Result<bool, DbErr> {
    let unreferenced = media::Column::State
        .eq(ACTIVE)
        .and(media::Column::RefCount.lte(0))
        .and(media::Column::UpdatedAt.lte(idle_before));
    let abandoned = media::Column::State
        .eq(PENDING)
        .and(media::Column::UpdatedAt.lte(idle_before));
    let result = media::Entity::update_many()
        .col_expr(media::Column::State, Expr::value(DELETING))
        .filter(media::Column::Id.eq(id))
        .filter(
            unreferenced
                .or(abandoned)
                .or(media::Column::State.eq(DELETING)),
        )
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Removes a row whose objects are gone.
pub async fn delete_collected(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    media::Entity::delete_many()
        .filter(media::Column::Id.eq(id))
        .filter(media::Column::State.eq(DELETING))
        .exec(db)
        .await?;
    Ok(())
}

/// Rows a sweep should try to collect, oldest first.
pub async fn collectable(
    db: &impl ConnectionTrait,
    idle_before: i64,
    limit: u64,
) -> Result<Vec<i64>, DbErr> {
    media::Entity::find()
        .select_only()
        .column(media::Column::Id)
        .filter(media::Column::RefCount.lte(0))
        .filter(media::Column::UpdatedAt.lte(idle_before))
        .order_by_asc(media::Column::UpdatedAt)
        .limit(limit)
        .into_tuple::<i64>()
        .all(db)
        .await
}

/// Gives up a claim whose processing failed (only while still pending).
pub async fn delete_pending(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    media::Entity::delete_many()
        .filter(media::Column::Id.eq(id))
        .filter(media::Column::State.eq(PENDING))
        .exec(db)
        .await?;
    Ok(())
}

/// Rows by id, in any order.
pub async fn find_many(db: &impl ConnectionTrait, ids: &[i64]) -> Result<Vec<media::Model>, DbErr> {
    media::Entity::find()
        .filter(media::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await
}
