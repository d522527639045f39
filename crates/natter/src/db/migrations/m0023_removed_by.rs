//! Who ended a group membership, when an admin did: `chat_participants.removed_by`.
//! A member an admin removed cannot come back through the group's invite link
//! (as on WhatsApp); an admin adding them back clears it. Leaving by oneself
//! leaves it empty, and the link works as before.

use sea_orm_migration::prelude::*;

use super::{add_column, big_null, drop_column};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_column(manager, "chat_participants", big_null("removed_by")).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, "chat_participants", "removed_by").await
    }
}
