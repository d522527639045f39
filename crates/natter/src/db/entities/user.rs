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
    pub avatar_url: Option<String>,
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
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
