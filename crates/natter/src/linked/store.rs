//! Queries on `link_codes`.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr,
    EntityTrait, QueryFilter, QueryOrder,
};

use crate::db::entities::link_code;

pub struct NewCode {
    pub user_id: i64,
    pub session_id: i64,
    pub code_hash: String,
    pub expires_at: i64,
    pub now: i64,
}

pub async fn insert_code(db: &impl ConnectionTrait, new: NewCode) -> Result<(), DbErr> {
    link_code::ActiveModel {
        user_id: Set(new.user_id),
        session_id: Set(new.session_id),
        code_hash: Set(new.code_hash),
        expires_at: Set(new.expires_at),
        used_at: Set(None),
        created_at: Set(new.now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(())
}

/// The user's codes that can still be redeemed, soonest to expire first.
pub async fn live_codes_of(
    db: &impl ConnectionTrait,
    user_id: i64,
    now: i64,
) -> Result<Vec<link_code::Model>, DbErr> {
    link_code::Entity::find()
        .filter(link_code::Column::UserId.eq(user_id))
        .filter(link_code::Column::UsedAt.is_null())
        .filter(link_code::Column::ExpiresAt.gt(now))
        .order_by_asc(link_code::Column::ExpiresAt)
        .all(db)
        .await
}

/// Deletes the user's codes that can never be redeemed (used or expired).
pub async fn delete_spent_of(
    db: &impl ConnectionTrait,
    user_id: i64,
    now: i64,
) -> Result<(), DbErr> {
    link_code::Entity::delete_many()
        .filter(link_code::Column::UserId.eq(user_id))
        .filter(
            Condition::any()
                .add(link_code::Column::UsedAt.is_not_null())
                .add(link_code::Column::ExpiresAt.lte(now)),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// The code with this hash if it can still be redeemed (unused, unexpired).
/// A plain read: the caller locks the user's row before it writes the code,
/// in the order `create_code` takes its locks (user, then codes).
pub async fn live_code(
    db: &impl ConnectionTrait,
    code_hash: &str,
    now: i64,
) -> Result<Option<link_code::Model>, DbErr> {
    link_code::Entity::find()
        .filter(link_code::Column::CodeHash.eq(code_hash))
        .filter(link_code::Column::UsedAt.is_null())
        .filter(link_code::Column::ExpiresAt.gt(now))
        .one(db)
        .await
}

/// Uses a live code up; false if it was used or expired meanwhile.
/// Conditional, so of two concurrent redemptions one wins (the other waits
/// for its row lock, then finds it used).
pub async fn use_code(db: &impl ConnectionTrait, id: i64, now: i64) -> Result<bool, DbErr> {
    let used = link_code::Entity::update_many()
        .col_expr(link_code::Column::UsedAt, Expr::value(now))
        .filter(link_code::Column::Id.eq(id))
        .filter(link_code::Column::UsedAt.is_null())
        .filter(link_code::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    Ok(used.rows_affected == 1)
}
