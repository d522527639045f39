//! The `chat_participants` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_participants")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub chat_id: i64,
    pub user_id: i64,
    pub role: String,
    pub joined_at: i64,
    pub left_at: Option<i64>,
    pub muted_until: Option<i64>,
    pub last_read_message_id: Option<i64>,
    pub last_delivered_message_id: Option<i64>,
    /// When the member pinned the chat (None: not pinned).
    pub pinned_at: Option<i64>,
    /// When the member archived the chat (None: not archived); see
    /// `archived_message_id` and chats::prefs::is_archived.
    pub archived_at: Option<i64>,
    /// The newest message id handed out when the chat was archived.
    pub archived_message_id: Option<i64>,
    /// The admin who removed this (former) member; None when they left by
    /// themselves or are a member. Keeps them from rejoining by invite link.
    pub removed_by: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::chat::Entity",
        from = "Column::ChatId",
        to = "super::chat::Column::Id"
    )]
    Chat,
}

impl Related<super::chat::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Chat.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
