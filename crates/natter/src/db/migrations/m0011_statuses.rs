//! Statuses served (issue 14): the expiry sweep finds expired rows by
//! `expires_at`, and a viewer's views are looked up by user. The tables
//! themselves came with m0004 (and `statuses.media_id` with m0008).

use sea_orm_migration::prelude::*;

use super::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index("statuses", "idx_statuses_expires", &["expires_at"]))
            .await?;
        manager
            .create_index(index("status_views", "idx_status_views_user", &["user_id"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, name) in [
            ("status_views", "idx_status_views_user"),
            ("statuses", "idx_statuses_expires"),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
