//! Queries on `broadcast_lists` and `broadcast_list_recipients`.

use std::collections::HashMap;

use sea_orm::ActiveValue::Set;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder,
};

use crate::db::entities::{broadcast_list, broadcast_list_recipient};
use crate::db::in_chunks;

pub async fn insert(
    db: &impl ConnectionTrait,
    owner_id: i64,
    name: String,
    now: i64,
) -> Result<broadcast_list::Model, DbErr> {
    broadcast_list::ActiveModel {
        owner_id: Set(owner_id),
        name: Set(name),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// The list if `owner_id` owns it.
pub async fn find_owned(
    db: &impl ConnectionTrait,
    id: i64,
    owner_id: i64,
) -> Result<Option<broadcast_list::Model>, DbErr> {
    broadcast_list::Entity::find_by_id(id)
        .filter(broadcast_list::Column::OwnerId.eq(owner_id))
        .one(db)
        .await
}

/// A user's lists, newest first.
pub async fn of_owner(
    db: &impl ConnectionTrait,
    owner_id: i64,
) -> Result<Vec<broadcast_list::Model>, DbErr> {
    broadcast_list::Entity::find()
        .filter(broadcast_list::Column::OwnerId.eq(owner_id))
        .order_by_desc(broadcast_list::Column::Id)
        .all(db)
        .await
}

/// How many lists a user has.
pub async fn count_of_owner(db: &impl ConnectionTrait, owner_id: i64) -> Result<u64, DbErr> {
    broadcast_list::Entity::find()
        .filter(broadcast_list::Column::OwnerId.eq(owner_id))
        .count(db)
        .await
}

pub async fn update(
    db: &impl ConnectionTrait,
    list: broadcast_list::Model,
    name: Option<String>,
    now: i64,
) -> Result<broadcast_list::Model, DbErr> {
    let mut row: broadcast_list::ActiveModel = list.into();
    if let Some(name) = name {
        row.name = Set(name);
    }
    row.updated_at = Set(now);
    row.update(db).await
}

/// Replaces a list's recipients.
pub async fn set_recipients(
    db: &impl ConnectionTrait,
    list_id: i64,
    user_ids: &[i64],
) -> Result<(), DbErr> {
    broadcast_list_recipient::Entity::delete_many()
        .filter(broadcast_list_recipient::Column::ListId.eq(list_id))
        .exec(db)
        .await?;
    if user_ids.is_empty() {
        return Ok(());
    }
    let rows = user_ids
        .iter()
        .map(|user_id| broadcast_list_recipient::ActiveModel {
            list_id: Set(list_id),
            user_id: Set(*user_id),
            ..Default::default()
        });
    broadcast_list_recipient::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Each list's recipients, in the order they were added.
pub async fn recipients_of(
    db: &impl ConnectionTrait,
    list_ids: &[i64],
) -> Result<HashMap<i64, Vec<i64>>, DbErr> {
    let rows = in_chunks(list_ids, |chunk| {
        broadcast_list_recipient::Entity::find()
            .filter(broadcast_list_recipient::Column::ListId.is_in(chunk.iter().copied()))
            .order_by_asc(broadcast_list_recipient::Column::Id)
            .all(db)
    })
    .await?;
    let mut out: HashMap<i64, Vec<i64>> = HashMap::new();
    for row in rows {
        out.entry(row.list_id).or_default().push(row.user_id);
    }
    Ok(out)
}

/// Deletes a list and its recipients (children first: no backend is trusted
/// to cascade).
pub async fn delete(db: &impl ConnectionTrait, list_id: i64) -> Result<(), DbErr> {
    broadcast_list_recipient::Entity::delete_many()
        .filter(broadcast_list_recipient::Column::ListId.eq(list_id))
        .exec(db)
        .await?;
    broadcast_list::Entity::delete_by_id(list_id)
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes every list of a user and their recipients (account deletion).
pub async fn delete_of_owner(db: &impl ConnectionTrait, owner_id: i64) -> Result<(), DbErr> {
    let lists: Vec<i64> = of_owner(db, owner_id).await?.iter().map(|l| l.id).collect();
    if lists.is_empty() {
        return Ok(());
    }
    broadcast_list_recipient::Entity::delete_many()
        .filter(broadcast_list_recipient::Column::ListId.is_in(lists))
        .exec(db)
        .await?;
    broadcast_list::Entity::delete_many()
        .filter(broadcast_list::Column::OwnerId.eq(owner_id))
        .exec(db)
        .await?;
    Ok(())
}
