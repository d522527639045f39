//! Starred and pinned messages (issue 19 item 3). `starred_messages`: one row
//! per (user, message) a user starred, private to them; its id orders the
//! starred list (newest star first) and pages it. `pinned_messages`: up to
//! three rows per chat, seen by every member; the chat-and-message key makes
//! pinning the same message twice one pin.

use sea_orm_migration::prelude::*;

use super::{big, create_all, create_table, drop_all, id, index, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let stars = create_table(manager, "starred_messages")
            .col(id())
            .col(big("user_id"))
            .col(big("message_id"))
            .col(big("starred_at"))
            .to_owned();
        let pins = create_table(manager, "pinned_messages")
            .col(id())
            .col(big("chat_id"))
            .col(big("message_id"))
            .col(big("pinned_by"))
            .col(big("pinned_at"))
            .to_owned();
        create_all(
            manager,
            vec![stars, pins],
            vec![
                unique_index(
                    "starred_messages",
                    "uq_starred_messages",
                    &["user_id", "message_id"],
                ),
                // A user's starred list, newest star first, read by id.
                index(
                    "starred_messages",
                    "idx_starred_messages_user",
                    &["user_id", "id"],
                ),
                // A message's stars, dropped with it when it is deleted.
                index(
                    "starred_messages",
                    "idx_starred_messages_message",
                    &["message_id"],
                ),
                unique_index(
                    "pinned_messages",
                    "uq_pinned_messages",
                    &["chat_id", "message_id"],
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, &["pinned_messages", "starred_messages"]).await
    }
}
