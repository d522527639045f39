//! The `starred_messages` table: the messages each user starred.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "starred_messages")]
pub struct Model {
    /// Orders a user's starred list (newest star first) and pages it.
    #[sea_orm(primary_key)]
    pub id: i64,
    pub user_id: i64,
    pub message_id: i64,
    pub starred_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::message::Entity",
        from = "Column::MessageId",
        to = "super::message::Column::Id"
    )]
    Message,
}

impl Related<super::message::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Message.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
