//! Queries on the `users` table, and the two reads of `contacts` rows that
//! privacy needs (who has whom, who blocked whom). contacts/ owns and writes
//! those rows; the reads sit here, where privacy is decided, because contacts/
//! builds on users/ (its views show users as their owners allow).

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    QueryFilter, QuerySelect,
};

use crate::db::entities::{contact, user};
use crate::db::in_chunks;

/// A new account's about text.
const DEFAULT_ABOUT: &str = "Hey there! I am using natter.";

pub async fn find_active(db: &impl ConnectionTrait, id: i64) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(id)
        .filter(user::Column::DeletedAt.is_null())
        .one(db)
        .await
}

pub async fn find_by_phone(
    db: &impl ConnectionTrait,
    e164: &str,
) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find()
        .filter(user::Column::PhoneNumber.eq(e164))
        .filter(user::Column::DeletedAt.is_null())
        .one(db)
        .await
}

/// Active users among `phones`, in any order.
pub async fn find_by_phones(
    db: &impl ConnectionTrait,
    phones: &[String],
) -> Result<Vec<user::Model>, DbErr> {
    in_chunks(phones, |chunk| {
        user::Entity::find()
            .filter(user::Column::PhoneNumber.is_in(chunk.iter().cloned()))
            .filter(user::Column::DeletedAt.is_null())
            .all(db)
    })
    .await
}

/// Users by id, deleted ones included (their messages still name them).
pub async fn find_many(db: &impl ConnectionTrait, ids: &[i64]) -> Result<Vec<user::Model>, DbErr> {
    in_chunks(ids, |chunk| {
        user::Entity::find()
            .filter(user::Column::Id.is_in(chunk.iter().copied()))
            .all(db)
    })
    .await
}

pub struct NewUser<'a> {
    pub phone_number: &'a str,
    pub country_code: &'a str,
    pub name: &'a str,
    pub now: i64,
}

pub async fn insert(db: &impl ConnectionTrait, new: NewUser<'_>) -> Result<user::Model, DbErr> {
    user::ActiveModel {
        phone_number: Set(Some(new.phone_number.to_string())),
        country_code: Set(new.country_code.to_string()),
        name: Set(new.name.to_string()),
        about: Set(Some(DEFAULT_ABOUT.to_string())),
        is_online: Set(false),
        privacy_last_seen: Set("everyone".into()),
        privacy_profile_photo: Set("everyone".into()),
        privacy_about: Set("everyone".into()),
        phone_verified_at: Set(Some(new.now)),
        created_at: Set(new.now),
        updated_at: Set(new.now),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Saves the fields set on `changes` (its id must be set).
pub async fn update(
    db: &impl ConnectionTrait,
    changes: user::ActiveModel,
) -> Result<user::Model, DbErr> {
    changes.update(db).await
}

/// Marks the account deleted and frees its phone number for a new sign-up.
pub async fn soft_delete(db: &impl ConnectionTrait, id: i64, now: i64) -> Result<(), DbErr> {
    user::Entity::update_many()
        .col_expr(user::Column::DeletedAt, Expr::value(now))
        .col_expr(
            user::Column::PhoneNumber,
            Expr::value(Option::<String>::None),
        )
        .col_expr(user::Column::IsOnline, Expr::value(false))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// An active user, its row locked until the transaction ends (PostgreSQL,
/// MySQL; SQLite's single writer serialises anyway).
pub async fn lock_active(db: &impl ConnectionTrait, id: i64) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(id)
        .filter(user::Column::DeletedAt.is_null())
        .lock_exclusive()
        .one(db)
        .await
}

/// Points the user's photo at a media row (None: no photo).
pub async fn set_avatar(
    db: &impl ConnectionTrait,
    id: i64,
    avatar: Option<(&str, i64)>,
    now: i64,
) -> Result<(), DbErr> {
    user::Entity::update_many()
        .col_expr(
            user::Column::AvatarKey,
            Expr::value(avatar.map(|(key, _)| key.to_string())),
        )
        .col_expr(
            user::Column::AvatarMediaId,
            Expr::value(avatar.map(|(_, media_id)| media_id)),
        )
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Records presence: online now, or offline and last seen now.
pub async fn set_online(
    db: &impl ConnectionTrait,
    id: i64,
    online: bool,
    now: i64,
) -> Result<(), DbErr> {
    user::Entity::update_many()
        .col_expr(user::Column::IsOnline, Expr::value(online))
        .col_expr(user::Column::LastSeenAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Everyone online becomes offline, last seen `now`; returns how many.
pub async fn set_all_offline(db: &impl ConnectionTrait, now: i64) -> Result<u64, DbErr> {
    let done = user::Entity::update_many()
        .col_expr(user::Column::IsOnline, Expr::value(false))
        .col_expr(user::Column::LastSeenAt, Expr::value(now))
        .filter(user::Column::IsOnline.eq(true))
        .exec(db)
        .await?;
    Ok(done.rows_affected)
}

/// Rows where one of `owners` has `viewer` as a contact.
pub async fn owners_having(
    db: &impl ConnectionTrait,
    owners: &[i64],
    viewer: i64,
) -> Result<Vec<contact::Model>, DbErr> {
    in_chunks(owners, |chunk| {
        contact::Entity::find()
            .filter(contact::Column::UserId.is_in(chunk.iter().copied()))
            .filter(contact::Column::ContactUserId.eq(viewer))
            .all(db)
    })
    .await
}

/// Which of `others` the viewer has blocked.
pub async fn blocked_by(
    db: &impl ConnectionTrait,
    viewer: i64,
    others: &[i64],
) -> Result<Vec<i64>, DbErr> {
    in_chunks(others, |chunk| {
        contact::Entity::find()
            .select_only()
            .column(contact::Column::ContactUserId)
            .filter(contact::Column::UserId.eq(viewer))
            .filter(contact::Column::ContactUserId.is_in(chunk.iter().copied()))
            .filter(contact::Column::IsBlocked.eq(true))
            .into_tuple()
            .all(db)
    })
    .await
}

/// Accounts not deleted, newest first, for `natter users list`.
pub async fn list_newest(db: &impl ConnectionTrait, limit: u64) -> Result<Vec<user::Model>, DbErr> {
    use sea_orm::QueryOrder;
    user::Entity::find()
        .filter(user::Column::DeletedAt.is_null())
        .order_by_desc(user::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Any account by id, deleted ones included (`natter users show`).
pub async fn find_any(db: &impl ConnectionTrait, id: i64) -> Result<Option<user::Model>, DbErr> {
    user::Entity::find_by_id(id).one(db).await
}

/// Sets or clears `banned_at` on an account not deleted; false if there is none.
pub async fn set_banned(
    db: &impl ConnectionTrait,
    id: i64,
    banned_at: Option<i64>,
    now: i64,
) -> Result<bool, DbErr> {
    let done = user::Entity::update_many()
        .col_expr(user::Column::BannedAt, Expr::value(banned_at))
        .col_expr(user::Column::UpdatedAt, Expr::value(now))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::DeletedAt.is_null())
        .exec(db)
        .await?;
    Ok(done.rows_affected > 0)
}

/// Accounts not deleted.
pub async fn count_active(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    user::Entity::find()
        .filter(user::Column::DeletedAt.is_null())
        .count(db)
        .await
}
