//! Queries on `login_sessions` and `access_tokens`.

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::device::DeviceInfo;
use crate::db::entities::{access_token, login_session};

pub async fn insert_session(
    db: &impl ConnectionTrait,
    user_id: i64,
    device: &DeviceInfo,
    now: i64,
) -> Result<i64, DbErr> {
    let session = login_session::ActiveModel {
        user_id: Set(user_id),
        created_at: Set(now),
        device_name: Set(Some(device.name.clone())),
        platform: Set(Some(device.platform.as_str().to_string())),
        ip_region: Set(Some(device.ip_region.clone())),
        last_active_at: Set(Some(now)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(session.id)
}

pub struct NewToken {
    pub user_id: i64,
    pub session_id: i64,
    pub kind: &'static str,
    pub token_hash: String,
    pub expires_at: i64,
    pub now: i64,
}

pub async fn insert_token(db: &impl ConnectionTrait, new: NewToken) -> Result<i64, DbErr> {
    let token = access_token::ActiveModel {
        user_id: Set(new.user_id),
        session_id: Set(new.session_id),
        kind: Set(new.kind.to_string()),
        token_hash: Set(new.token_hash),
        expires_at: Set(new.expires_at),
        created_at: Set(new.now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(token.id)
}

pub async fn find_token(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<access_token::Model>, DbErr> {
    access_token::Entity::find_by_id(id).one(db).await
}

pub async fn find_session(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<login_session::Model>, DbErr> {
    login_session::Entity::find_by_id(id).one(db).await
}

/// Records that a session was used at `now`.
pub async fn touch_session(db: &impl ConnectionTrait, id: i64, now: i64) -> Result<(), DbErr> {
    login_session::Entity::update_many()
        .col_expr(login_session::Column::LastActiveAt, Expr::value(now))
        .filter(login_session::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The sessions of a user that can still be used: not revoked, holding a
/// token that has not expired (the live side of [`dead_sessions`]).
pub async fn live_sessions_of(
    db: &impl ConnectionTrait,
    user_id: i64,
    now: i64,
) -> Result<Vec<login_session::Model>, DbErr> {
    // Only this user's tokens: the subquery would otherwise read every
    // user's unexpired tokens.
    let own_unexpired = unexpired_token_sessions(now)
        .and_where(access_token::Column::UserId.eq(user_id))
        .to_owned();
    login_session::Entity::find()
        .filter(login_session::Column::UserId.eq(user_id))
        .filter(login_session::Column::RevokedAt.is_null())
        .filter(login_session::Column::Id.in_subquery(own_unexpired))
        .all(db)
        .await
}

/// `SELECT session_id FROM access_tokens WHERE expires_at > now`.
fn unexpired_token_sessions(now: i64) -> sea_orm::sea_query::SelectStatement {
    Query::select()
        .column(access_token::Column::SessionId)
        .from(access_token::Entity)
        .and_where(access_token::Column::ExpiresAt.gt(now))
        .to_owned()
}

/// A session that is not revoked, its row locked until the transaction ends
/// (PostgreSQL, MySQL; SQLite's single writer serialises anyway): a revocation
/// committing meanwhile waits for it, or is seen by it.
pub async fn lock_live_session(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<login_session::Model>, DbErr> {
    login_session::Entity::find_by_id(id)
        .filter(login_session::Column::RevokedAt.is_null())
        .lock_exclusive()
        .one(db)
        .await
}

/// Revokes one token if it is still live; false if it was already revoked.
pub async fn revoke_token_if_live(
    db: &impl ConnectionTrait,
    id: i64,
    now: i64,
) -> Result<bool, DbErr> {
    let result = access_token::Entity::update_many()
        .col_expr(access_token::Column::RevokedAt, Expr::value(now))
        .filter(access_token::Column::Id.eq(id))
        .filter(access_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Revokes the live tokens of a session (used when rotating).
pub async fn revoke_session_tokens(
    db: &impl ConnectionTrait,
    session_id: i64,
    now: i64,
) -> Result<(), DbErr> {
    access_token::Entity::update_many()
        .col_expr(access_token::Column::RevokedAt, Expr::value(now))
        .filter(access_token::Column::SessionId.eq(session_id))
        .filter(access_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Ends a session and every token in it.
pub async fn revoke_session(
    db: &impl ConnectionTrait,
    session_id: i64,
    reason: &str,
    now: i64,
) -> Result<(), DbErr> {
    login_session::Entity::update_many()
        .col_expr(login_session::Column::RevokedAt, Expr::value(now))
        .col_expr(login_session::Column::RevokeReason, Expr::value(reason))
        .filter(login_session::Column::Id.eq(session_id))
        .filter(login_session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    revoke_session_tokens(db, session_id, now).await
}

/// Ends every session of a user.
pub async fn revoke_user_sessions(
    db: &impl ConnectionTrait,
    user_id: i64,
    reason: &str,
    now: i64,
) -> Result<(), DbErr> {
    login_session::Entity::update_many()
        .col_expr(login_session::Column::RevokedAt, Expr::value(now))
        .col_expr(login_session::Column::RevokeReason, Expr::value(reason))
        .filter(login_session::Column::UserId.eq(user_id))
        .filter(login_session::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    access_token::Entity::update_many()
        .col_expr(access_token::Column::RevokedAt, Expr::value(now))
        .filter(access_token::Column::UserId.eq(user_id))
        .filter(access_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Up to `limit` sessions that can never be used again: revoked, or holding
/// no token that is still unexpired (their refresh token ran out).
pub async fn dead_sessions(
    db: &impl ConnectionTrait,
    now: i64,
    limit: u64,
) -> Result<Vec<i64>, DbErr> {
    let unexpired = unexpired_token_sessions(now);
    login_session::Entity::find()
        .select_only()
        .column(login_session::Column::Id)
        .filter(
            Condition::any()
                .add(login_session::Column::RevokedAt.is_not_null())
                .add(login_session::Column::Id.not_in_subquery(unexpired)),
        )
        .order_by_asc(login_session::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await
}

/// Deletes sessions and every token in them.
pub async fn delete_sessions(db: &impl ConnectionTrait, ids: &[i64]) -> Result<(), DbErr> {
    access_token::Entity::delete_many()
        .filter(access_token::Column::SessionId.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    login_session::Entity::delete_many()
        .filter(login_session::Column::Id.is_in(ids.iter().copied()))
        .exec(db)
        .await?;
    Ok(())
}

/// Deletes up to `limit` tokens that expired before `now`; returns how many.
/// A revoked token that has not expired stays: a rotated refresh token
/// presented again is how reuse is detected.
pub async fn delete_expired_tokens(
    db: &impl ConnectionTrait,
    now: i64,
    limit: u64,
) -> Result<u64, DbErr> {
    let ids: Vec<i64> = access_token::Entity::find()
        .select_only()
        .column(access_token::Column::Id)
        .filter(access_token::Column::ExpiresAt.lt(now))
        .order_by_asc(access_token::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let deleted = access_token::Entity::delete_many()
        .filter(access_token::Column::Id.is_in(ids))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}
