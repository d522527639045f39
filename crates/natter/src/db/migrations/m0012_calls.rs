//! Calls served (issue 14): one participant row per user and call (a unique
//! pair), when each joined and left, and the lookups the routes make: a
//! user's calls newest first (history) and their live ones (busy).

use sea_orm_migration::prelude::*;

use super::{big_null, index, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

const COLUMNS: [&str; 2] = ["joined_at", "left_at"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table("call_participants")
                        .add_column(big_null(column))
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(unique_index(
                "call_participants",
                "uq_call_participants",
                // user first: on MySQL an index led by call_id would replace the
                // foreign key's own index, and could then not be dropped.
                &["user_id", "call_id"],
            ))
            .await?;
        manager
            .create_index(index(
                "call_participants",
                "idx_call_participants_live",
                &["user_id", "status"],
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["idx_call_participants_live", "uq_call_participants"] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table("call_participants")
                        .to_owned(),
                )
                .await?;
        }
        for column in COLUMNS {
            manager
                .alter_table(
                    Table::alter()
                        .table("call_participants")
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
