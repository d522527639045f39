//! Queries on the `statuses` and `status_views` tables (and only here). Every
//! read of statuses takes `now`: a status whose `expires_at` has passed is
//! never returned, whether or not the expiry job has removed it yet.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};

use crate::db::IN_LIST_CHUNK;
use crate::db::entities::{status, status_view};

/// A status about to be stored.
pub struct NewStatus {
    pub user_id: i64,
    pub status_type: &'static str,
    pub content: Option<String>,
    pub background_color: Option<String>,
    pub media_id: Option<i64>,
    pub media_mime_type: Option<String>,
    pub media_size: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
}

pub async fn insert(db: &impl ConnectionTrait, new: NewStatus) -> Result<status::Model, DbErr> {
    status::ActiveModel {
        user_id: Set(new.user_id),
        status_type: Set(new.status_type.to_string()),
        content: Set(new.content),
        background_color: Set(new.background_color),
        media_url: Set(None),
        media_mime_type: Set(new.media_mime_type),
        media_size: Set(new.media_size),
        created_at: Set(new.created_at),
        expires_at: Set(new.expires_at),
        deleted_at: Set(None),
        media_id: Set(new.media_id),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// One status, if it has not expired at `now`.
pub async fn find_live(
    db: &impl ConnectionTrait,
    id: i64,
    now: i64,
) -> Result<Option<status::Model>, DbErr> {
    status::Entity::find_by_id(id)
        .filter(status::Column::ExpiresAt.gt(now))
        .one(db)
        .await
}

/// Every status `user` has, live or expired and not yet swept, newest first.
pub async fn all_of(db: &impl ConnectionTrait, user: i64) -> Result<Vec<status::Model>, DbErr> {
    status::Entity::find()
        .filter(status::Column::UserId.eq(user))
        .order_by_desc(status::Column::CreatedAt)
        .order_by_desc(status::Column::Id)
        .all(db)
        .await
}

/// The live statuses of these users, newest first.
pub async fn live_of(
    db: &impl ConnectionTrait,
    users: &[i64],
    now: i64,
) -> Result<Vec<status::Model>, DbErr> {
    let mut rows = Vec::new();
    for chunk in users.chunks(IN_LIST_CHUNK) {
        rows.extend(
            status::Entity::find()
                .filter(status::Column::UserId.is_in(chunk.iter().copied()))
                .filter(status::Column::ExpiresAt.gt(now))
                .order_by_desc(status::Column::CreatedAt)
                .order_by_desc(status::Column::Id)
                .all(db)
                .await?,
        );
    }
    rows.sort_by_key(|r| Reverse((r.created_at, r.id)));
    Ok(rows)
}

/// Which of `statuses` `viewer` has viewed.
pub async fn viewed_by(
    db: &impl ConnectionTrait,
    viewer: i64,
    statuses: &[i64],
) -> Result<HashSet<i64>, DbErr> {
    let mut seen = HashSet::new();
    for chunk in statuses.chunks(IN_LIST_CHUNK) {
        let ids: Vec<i64> = status_view::Entity::find()
            .select_only()
            .column(status_view::Column::StatusId)
            .filter(status_view::Column::UserId.eq(viewer))
            .filter(status_view::Column::StatusId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        seen.extend(ids);
    }
    Ok(seen)
}

/// How many views each of `statuses` has (absent: none).
pub async fn view_counts(
    db: &impl ConnectionTrait,
    statuses: &[i64],
) -> Result<HashMap<i64, u64>, DbErr> {
    let mut counts = HashMap::new();
    for chunk in statuses.chunks(IN_LIST_CHUNK) {
        let rows: Vec<(i64, i64)> = status_view::Entity::find()
            .select_only()
            .column(status_view::Column::StatusId)
            .column_as(status_view::Column::Id.count(), "n")
            .filter(status_view::Column::StatusId.is_in(chunk.iter().copied()))
            .group_by(status_view::Column::StatusId)
            .into_tuple()
            .all(db)
            .await?;
        counts.extend(
            rows.into_iter()
                .map(|(id, n)| (id, u64::try_from(n).unwrap_or_default())),
        );
    }
    Ok(counts)
}

/// Records a view; false when `viewer` had viewed it already. Run under the
/// log lock, so the check and the insert cannot interleave with another view.
pub async fn record_view(
    db: &impl ConnectionTrait,
    status_id: i64,
    viewer: i64,
    now: i64,
) -> Result<bool, DbErr> {
    let seen = status_view::Entity::find()
        .filter(status_view::Column::StatusId.eq(status_id))
        .filter(status_view::Column::UserId.eq(viewer))
        .one(db)
        .await?;
    if seen.is_some() {
        return Ok(false);
    }
    status_view::ActiveModel {
        status_id: Set(status_id),
        user_id: Set(viewer),
        viewed_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(true)
}

/// A status's views, most recent first.
pub async fn views_of(
    db: &impl ConnectionTrait,
    status_id: i64,
) -> Result<Vec<status_view::Model>, DbErr> {
    status_view::Entity::find()
        .filter(status_view::Column::StatusId.eq(status_id))
        .order_by_desc(status_view::Column::ViewedAt)
        .order_by_desc(status_view::Column::Id)
        .all(db)
        .await
}

/// Up to `limit` statuses expired at `now`, oldest first.
pub async fn expired(
    db: &impl ConnectionTrait,
    now: i64,
    limit: u64,
) -> Result<Vec<status::Model>, DbErr> {
    status::Entity::find()
        .filter(status::Column::ExpiresAt.lte(now))
        .order_by_asc(status::Column::ExpiresAt)
        .limit(limit)
        .all(db)
        .await
}

/// Removes statuses and their views.
pub async fn delete(db: &impl ConnectionTrait, ids: &[i64]) -> Result<(), DbErr> {
    for chunk in ids.chunks(IN_LIST_CHUNK) {
        status_view::Entity::delete_many()
            .filter(status_view::Column::StatusId.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
        status::Entity::delete_many()
            .filter(status::Column::Id.is_in(chunk.iter().copied()))
            .exec(db)
            .await?;
    }
    Ok(())
}
