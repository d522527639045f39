//! Queries on `login_sessions` and `access_tokens`.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter,
};

use crate::db::entities::{access_token, login_session};

pub async fn insert_session(
    db: &impl ConnectionTrait,
    user_id: i64,
    now: i64,
) -> Result<i64, DbErr> {
    let session = login_session::ActiveModel {
        user_id: Set(user_id),
        created_at: Set(now),
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
