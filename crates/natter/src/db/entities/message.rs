//! The `messages` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "messages")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i64,
    pub chat_id: i64,
    pub sender_id: i64,
    pub seq: i64,
    pub client_message_id: Option<String>,
    pub reply_to_message_id: Option<i64>,
    pub message_type: String,
    #[sea_orm(column_type = "Text", nullable)]
    pub content: Option<String>,
    pub media_url: Option<String>,
    pub media_size: Option<i64>,
    pub media_duration: Option<i64>,
    pub media_mime_type: Option<String>,
    pub file_name: Option<String>,
    pub thumbnail_url: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub location_name: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub contact_data: Option<String>,
    pub sent_at: i64,
    pub edited_at: Option<i64>,
    pub deleted_at: Option<i64>,
    /// The stored file of an image/video/audio/document message (one reference).
    pub media_id: Option<i64>,
    /// When the expiry job deletes it (the chat's timer at commit); None: never.
    pub expires_at: Option<i64>,
    /// The file can be opened once per recipient (`POST /api/messages/{id}/view`).
    pub view_once: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
