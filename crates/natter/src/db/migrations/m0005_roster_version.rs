//! `chats.roster_version`: a counter bumped by every change of a chat's
//! participants, so the group-commit writer can keep rosters between batches
//! and check them with one small row per chat instead of reading every member
//! (docs/benchmarks.md, W2).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("chats")
                    .add_column(
                        ColumnDef::new("roster_version")
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("chats")
                    .drop_column("roster_version")
                    .to_owned(),
            )
            .await
    }
}
