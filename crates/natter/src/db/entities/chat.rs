//! The `chats` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "chats")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_name = "type")]
    pub chat_type: String,
    pub name: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub description: Option<String>,
    /// The group photo's object key (the column keeps its older name); signed
    /// into a URL per response.
    #[sea_orm(column_name = "avatar_url")]
    pub avatar_key: Option<String>,
    pub created_by: Option<i64>,
    pub private_pair: Option<String>,
    pub invite_code: Option<String>,
    pub last_message_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub deleted_at: Option<i64>,
    /// Bumped by every change of the participants (see chats::store).
    pub roster_version: i64,
    /// The media row the group photo holds a reference on.
    pub avatar_media_id: Option<i64>,
    /// The disappearing-messages timer in seconds; 0: off.
    pub disappearing_seconds: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
