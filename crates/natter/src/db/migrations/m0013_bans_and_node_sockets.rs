//! Issue 16: `users.banned_at` (a banned user cannot sign in; `natter users
//! ban`), and `node_sockets`, one row per running node with its count of open
//! sockets, refreshed every few seconds, so `natter stats` can show sockets by
//! node with or without Redis (docs/operations.md).

use sea_orm_migration::prelude::*;

use super::{big, big_null, create_table, drop_table, string};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .add_column(big_null("banned_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                create_table(manager, "node_sockets")
                    .col(string("node_id", 128).primary_key())
                    .col(big("sockets"))
                    .col(big("updated_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(drop_table("node_sockets")).await?;
        manager
            .alter_table(
                Table::alter()
                    .table("users")
                    .drop_column("banned_at")
                    .to_owned(),
            )
            .await
    }
}
