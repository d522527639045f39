//! `media`: one row per stored upload (content-addressed by the SHA-256 of the
//! uploaded bytes), with what routes show about it and what garbage collection
//! needs: a reference count kept in the same transactions as the references,
//! and a state for the delete protocol (docs/media.md, "Stored once").
//!
//! The things that show media point at a row: `messages.media_id`,
//! `users.avatar_media_id`, `chats.avatar_media_id`, `statuses.media_id`. The
//! older `messages.media_*`, `thumbnail_url` and `avatar_url` columns stay as
//! they are until the routes use the rows (issue 12's second part).

use sea_orm_migration::prelude::*;

use super::{
    big, big_null, create_all, create_table, drop_all, id, index, string, string_null, unique_index,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (table, column) pairs that reference a media row.
const REFERENCES: [(&str, &str); 4] = [
    ("messages", "media_id"),
    ("users", "avatar_media_id"),
    ("chats", "avatar_media_id"),
    ("statuses", "media_id"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let media = create_table(manager, "media")
            .col(id())
            .col(string("storage_key", 200))
            .col(string("sha256", 64))
            // image | video | audio | document | avatar
            .col(string("kind", 10))
            .col(string("mime_type", 100))
            // Bytes uploaded (API.md: media.size is the uploaded size).
            .col(big("size"))
            .col(big_null("width"))
            .col(big_null("height"))
            .col(big_null("duration_ms"))
            .col(string_null("thumbnail_key", 200))
            .col(
                ColumnDef::new("ref_count")
                    .big_integer()
                    .not_null()
                    .default(0),
            )
            // pending (objects being written) | active | deleting (objects being removed)
            .col(string("state", 10))
            .col(big("created_at"))
            .col(big("updated_at"))
            .to_owned();
        create_all(
            manager,
            vec![media],
            vec![
                unique_index("media", "uq_media_storage_key", &["storage_key"]),
                index("media", "idx_media_collect", &["ref_count", "updated_at"]),
            ],
        )
        .await?;
        for (table, column) in REFERENCES {
            manager
                .alter_table(
                    Table::alter()
                        .table(table)
                        .add_column(ColumnDef::new(column).big_integer().null())
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (table, column) in REFERENCES {
            manager
                .alter_table(Table::alter().table(table).drop_column(column).to_owned())
                .await?;
        }
        drop_all(manager, &["media"]).await
    }
}
