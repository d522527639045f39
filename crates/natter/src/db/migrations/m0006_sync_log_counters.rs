//! `stream_counters` becomes `sync_log_counters`: the row is the sync log's
//! counter and lock, and the code, docs and metrics call the log "the sync
//! log" everywhere.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .rename_table(
                Table::rename()
                    .table("stream_counters", "sync_log_counters")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .rename_table(
                Table::rename()
                    .table("sync_log_counters", "stream_counters")
                    .to_owned(),
            )
            .await
    }
}
