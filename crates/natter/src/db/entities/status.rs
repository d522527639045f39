//! The `statuses` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "statuses")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    #[sea_orm(column_name = "type")]
    pub status_type: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub content: Option<String>,
    pub background_color: Option<String>,
    pub media_url: Option<String>,
    pub media_mime_type: Option<String>,
    pub media_size: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    pub deleted_at: Option<i64>,
    /// The image or video, a row of `media` holding one reference for this status.
    pub media_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
