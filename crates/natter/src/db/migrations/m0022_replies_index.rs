//! The replies to a message, found by index: deleting a message for everyone
//! (or its expiry) rewrites the logged `MessageSent` of each reply that quotes
//! it, so its text does not outlive it in the sync log. Partial on SQLite and
//! PostgreSQL (only replies are indexed: sending a plain message costs nothing
//! more); MySQL has no partial indexes and indexes every row.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statement = match manager.get_database_backend() {
            DbBackend::MySql => {
                "CREATE INDEX idx_messages_reply_to ON messages (reply_to_message_id)"
            }
            _ => {
                "CREATE INDEX idx_messages_reply_to ON messages (reply_to_message_id) \
                 WHERE reply_to_message_id IS NOT NULL"
            }
        };
        manager
            .get_connection()
            .execute_unprepared(statement)
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statement = match manager.get_database_backend() {
            DbBackend::MySql => "DROP INDEX idx_messages_reply_to ON messages",
            _ => "DROP INDEX idx_messages_reply_to",
        };
        manager
            .get_connection()
            .execute_unprepared(statement)
            .await?;
        Ok(())
    }
}
