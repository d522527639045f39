//! A client message id is compared exactly on MySQL/MariaDB too. Their tables
//! collate as `utf8mb4_unicode_ci`, so "abc" and "ABC" from one sender were
//! one key to the unique index `uq_messages_client_id` and to the writer's
//! lookup, but two to the writer's own map: the second send was neither found
//! as a retry nor insertable, and failed with a 500. With `utf8mb4_bin` the
//! key is case-sensitive, as it is on SQLite and PostgreSQL. (Trailing spaces
//! still compare equal in these collations: sending refuses a client id that
//! begins or ends with whitespace, on every backend.)

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

async fn collate(manager: &SchemaManager<'_>, collation: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != DbBackend::MySql {
        return Ok(());
    }
    let statement = format!(
        "ALTER TABLE messages MODIFY client_message_id VARCHAR(64) \
         CHARACTER SET utf8mb4 COLLATE {collation} NULL"
    );
    manager
        .get_connection()
        .execute_unprepared(&statement)
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        collate(manager, "utf8mb4_bin").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        collate(manager, "utf8mb4_unicode_ci").await
    }
}
