//! Queries on the `contacts` table.

use std::collections::HashSet;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::db::entities::contact;
use crate::db::{IN_LIST_CHUNK, fixed};

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<contact::Model>, DbErr> {
    contact::Entity::find_by_id(id).one(db).await
}

pub async fn find_pair(
    db: &impl ConnectionTrait,
    user_id: i64,
    contact_user_id: i64,
) -> Result<Option<contact::Model>, DbErr> {
    contact::Entity::find()
        .filter(contact::Column::UserId.eq(user_id))
        .filter(contact::Column::ContactUserId.eq(contact_user_id))
        .one(db)
        .await
}

/// One page of a user's contacts, oldest first, and the total.
pub async fn page(
    db: &impl ConnectionTrait,
    user_id: i64,
    offset: u64,
    limit: u64,
) -> Result<(Vec<contact::Model>, u64), DbErr> {
    let query = contact::Entity::find().filter(contact::Column::UserId.eq(user_id));
    let total = query.clone().count(db).await?;
    let rows = query
        .order_by_asc(contact::Column::Id)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?;
    Ok((rows, total))
}

pub async fn insert(
    db: &impl ConnectionTrait,
    user_id: i64,
    contact_user_id: i64,
    contact_name: Option<String>,
    now: i64,
) -> Result<contact::Model, DbErr> {
    contact::ActiveModel {
        user_id: Set(user_id),
        contact_user_id: Set(contact_user_id),
        contact_name: Set(contact_name),
        is_blocked: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub async fn set_blocked(
    db: &impl ConnectionTrait,
    id: i64,
    blocked: bool,
    now: i64,
) -> Result<(), DbErr> {
    contact::Entity::update_many()
        .col_expr(contact::Column::IsBlocked, Expr::value(blocked))
        .col_expr(contact::Column::UpdatedAt, Expr::value(now))
        .filter(contact::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

pub async fn delete(db: &impl ConnectionTrait, id: i64) -> Result<(), DbErr> {
    contact::Entity::delete_by_id(id).exec(db).await?;
    Ok(())
}

/// Users who have `user_id` as a contact and have not blocked them.
pub async fn people_having(db: &impl ConnectionTrait, user_id: i64) -> Result<Vec<i64>, DbErr> {
    contact::Entity::find()
        .select_only()
        .column(contact::Column::UserId)
        .filter(contact::Column::ContactUserId.eq(user_id))
        .filter(contact::Column::IsBlocked.eq(false))
        .into_tuple()
        .all(db)
        .await
}

/// Of these (blocker, blocked) pairs, those that are blocks.
/// The users `user_id` has as contacts (of `among`), chunked.
pub async fn owned_among(
    db: &impl ConnectionTrait,
    user_id: i64,
    among: &[i64],
) -> Result<Vec<i64>, DbErr> {
    let mut found = Vec::new();
    for chunk in among.chunks(IN_LIST_CHUNK) {
        let rows: Vec<i64> = contact::Entity::find()
            .select_only()
            .column(contact::Column::ContactUserId)
            .filter(contact::Column::UserId.eq(user_id))
            .filter(contact::Column::ContactUserId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        found.extend(rows);
    }
    Ok(found)
}

pub async fn blocked_pairs(
    db: &impl ConnectionTrait,
    pairs: &[(i64, i64)],
) -> Result<Vec<(i64, i64)>, DbErr> {
    // One IN list over the blockers, not an OR per pair: blocks are rare, so
    // reading every block of these users and keeping the asked pairs is cheap,
    // and the statement stays small whatever the batch.
    let wanted: HashSet<(i64, i64)> = pairs.iter().copied().collect();
    let mut blockers: Vec<i64> = wanted.iter().map(|(blocker, _)| *blocker).collect();
    blockers.sort_unstable();
    blockers.dedup();
    let mut found = Vec::new();
    for chunk in blockers.chunks(IN_LIST_CHUNK) {
        let rows: Vec<(i64, i64)> = contact::Entity::find()
            .select_only()
            .column(contact::Column::UserId)
            .column(contact::Column::ContactUserId)
            .filter(contact::Column::IsBlocked.eq(true))
            .filter(fixed::one_of(
                db.get_database_backend(),
                contact::Column::UserId,
                chunk,
            ))
            .into_tuple()
            .all(db)
            .await?;
        found.extend(rows.into_iter().filter(|pair| wanted.contains(pair)));
    }
    Ok(found)
}

/// The users `user_id` has as contacts and has not blocked.
pub async fn unblocked_contacts_of(
    db: &impl ConnectionTrait,
    user_id: i64,
) -> Result<Vec<i64>, DbErr> {
    contact::Entity::find()
        .select_only()
        .column(contact::Column::ContactUserId)
        .filter(contact::Column::UserId.eq(user_id))
        .filter(contact::Column::IsBlocked.eq(false))
        .into_tuple()
        .all(db)
        .await
}
