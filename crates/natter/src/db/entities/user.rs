//! The `users` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub phone_number: Option<String>,
    pub country_code: String,
    pub name: String,
    /// The profile photo's object key (the column predates media rows and keeps
    /// its name); signed into a URL per response (docs/media.md).
    #[sea_orm(column_name = "avatar_url")]
    pub avatar_key: Option<String>,
    pub about: Option<String>,
    pub last_seen_at: Option<i64>,
    pub is_online: bool,
    pub privacy_last_seen: String,
    pub privacy_profile_photo: String,
    pub privacy_about: String,
    pub phone_verified_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
    /// The media row the photo holds a reference on.
    pub avatar_media_id: Option<i64>,
    /// Set by `natter users ban`: the user cannot sign in (verify-otp 403).
    pub banned_at: Option<i64>,
    /// WhatsApp's "Keep chats archived": a new message does not unarchive.
    pub keep_chats_archived: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
