//! Queries on `otp_codes`.

use sea_orm::ExprTrait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbErr,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::db::entities::otp_code;

pub struct NewOtp<'a> {
    pub phone_number: &'a str,
    pub code_hash: String,
    pub expires_at: i64,
    pub requested_ip: String,
    pub now: i64,
}

/// Stores a new code and retires every earlier live one for the number: only the
/// latest code sent can be used.
pub async fn replace_otp(
    db: &impl ConnectionTrait,
    new: NewOtp<'_>,
) -> Result<otp_code::Model, DbErr> {
    otp_code::Entity::update_many()
        .col_expr(otp_code::Column::ConsumedAt, Expr::value(new.now))
        .filter(otp_code::Column::PhoneNumber.eq(new.phone_number))
        .filter(otp_code::Column::ConsumedAt.is_null())
        .exec(db)
        .await?;
    otp_code::ActiveModel {
        phone_number: Set(new.phone_number.to_string()),
        code_hash: Set(new.code_hash),
        attempts: Set(0),
        expires_at: Set(new.expires_at),
        consumed_at: Set(None),
        requested_ip: Set(new.requested_ip),
        created_at: Set(new.now),
        ..Default::default()
    }
    .insert(db)
    .await
}

pub async fn retire_otp(db: &impl ConnectionTrait, id: i64, now: i64) -> Result<(), DbErr> {
    otp_code::Entity::update_many()
        .col_expr(otp_code::Column::ConsumedAt, Expr::value(now))
        .filter(otp_code::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The newest unused, unexpired code for a number that still has tries left.
pub async fn live_otp(
    db: &impl ConnectionTrait,
    phone_number: &str,
    now: i64,
    max_attempts: i32,
) -> Result<Option<otp_code::Model>, DbErr> {
    otp_code::Entity::find()
        .filter(otp_code::Column::PhoneNumber.eq(phone_number))
        .filter(otp_code::Column::ConsumedAt.is_null())
        .filter(otp_code::Column::ExpiresAt.gt(now))
        .filter(otp_code::Column::Attempts.lt(max_attempts))
        .order_by_desc(otp_code::Column::Id)
        .one(db)
        .await
}

/// Counts a wrong guess. Conditional, so concurrent guesses cannot exceed the limit.
pub async fn count_wrong_guess(
    db: &impl ConnectionTrait,
    id: i64,
    max_attempts: i32,
) -> Result<(), DbErr> {
    otp_code::Entity::update_many()
        .col_expr(
            otp_code::Column::Attempts,
            Expr::col(otp_code::Column::Attempts).add(1),
        )
        .filter(otp_code::Column::Id.eq(id))
        .filter(otp_code::Column::Attempts.lt(max_attempts))
        .exec(db)
        .await?;
    Ok(())
}

/// Uses the code up. False if someone else used it first (or it ran out of tries).
pub async fn consume_otp(
    db: &impl ConnectionTrait,
    id: i64,
    now: i64,
    max_attempts: i32,
) -> Result<bool, DbErr> {
    let result = otp_code::Entity::update_many()
        .col_expr(otp_code::Column::ConsumedAt, Expr::value(now))
        .filter(otp_code::Column::Id.eq(id))
        .filter(otp_code::Column::ConsumedAt.is_null())
        .filter(otp_code::Column::Attempts.lt(max_attempts))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Deletes up to `limit` codes that can no longer be used (expired, consumed
/// or retired, out of tries); returns how many.
pub async fn delete_spent_otps(
    db: &impl ConnectionTrait,
    now: i64,
    max_attempts: i32,
    limit: u64,
) -> Result<u64, DbErr> {
    let ids: Vec<i64> = otp_code::Entity::find()
        .select_only()
        .column(otp_code::Column::Id)
        .filter(
            Condition::any()
                .add(otp_code::Column::ExpiresAt.lte(now))
                .add(otp_code::Column::ConsumedAt.is_not_null())
                .add(otp_code::Column::Attempts.gte(max_attempts)),
        )
        .order_by_asc(otp_code::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    if ids.is_empty() {
        return Ok(0);
    }
    let deleted = otp_code::Entity::delete_many()
        .filter(otp_code::Column::Id.is_in(ids))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}
