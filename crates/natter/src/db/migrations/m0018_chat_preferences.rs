//! Pinned and archived chats (issue 19): per-member preferences on the
//! participant row, next to `muted_until`. `pinned_at` orders the pinned chats
//! (most recently pinned first; at most three per user, checked under the log
//! lock). `archived_at` says the member archived the chat and
//! `archived_message_id` is the newest message id handed out at that moment:
//! a message with a larger id arrived after, and unarchives the chat unless
//! the user's `keep_chats_archived` is set. That is decided when the chat is
//! read, so sending a message writes nothing per recipient (docs/api-contract.md,
//! "Pinned and archived chats").

use sea_orm_migration::prelude::*;

use super::{add_column, big_null, boolean, drop_column};

#[derive(DeriveMigrationName)]
pub struct Migration;

const PARTICIPANT_COLUMNS: [&str; 3] = ["pinned_at", "archived_at", "archived_message_id"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in PARTICIPANT_COLUMNS {
            add_column(manager, "chat_participants", big_null(column)).await?;
        }
        add_column(manager, "users", boolean("keep_chats_archived")).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, "users", "keep_chats_archived").await?;
        for column in PARTICIPANT_COLUMNS.into_iter().rev() {
            drop_column(manager, "chat_participants", column).await?;
        }
        Ok(())
    }
}
