//! Disappearing messages and view-once media (issue 19): a chat's timer
//! (`chats.disappearing_seconds`, 0 when off), each message's `expires_at`
//! (set by the writer from the timer as it is at commit; the expiry job finds
//! due rows by it), a message's `view_once` flag, and `message_views`: who
//! opened which view-once message (one row per message and recipient, so a
//! second open is refused by the unique key as well as by the check).

use sea_orm_migration::prelude::*;

use super::{
    add_column, big, big_null, boolean, create_all, create_table, drop_all, drop_column, id, index,
    unique_index,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let timer = ColumnDef::new("disappearing_seconds")
            .big_integer()
            .not_null()
            .default(0)
            .to_owned();
        add_column(manager, "chats", timer).await?;
        add_column(manager, "messages", big_null("expires_at")).await?;
        add_column(manager, "messages", boolean("view_once")).await?;
        let views = create_table(manager, "message_views")
            .col(id())
            .col(big("message_id"))
            .col(big("user_id"))
            .col(big("viewed_at"))
            .to_owned();
        create_all(
            manager,
            vec![views],
            vec![
                index("messages", "idx_messages_expires", &["expires_at"]),
                unique_index(
                    "message_views",
                    "uq_message_views",
                    &["message_id", "user_id"],
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, &["message_views"]).await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_messages_expires")
                    .table("messages")
                    .to_owned(),
            )
            .await?;
        for (table, column) in [
            ("messages", "view_once"),
            ("messages", "expires_at"),
            ("chats", "disappearing_seconds"),
        ] {
            drop_column(manager, table, column).await?;
        }
        Ok(())
    }
}
