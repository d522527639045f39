//! Chats, their participants and membership intervals, messages, reactions and
//! the receipt marks behind per-recipient receipt times.

use sea_orm_migration::prelude::*;

use super::{
    big, big_null, create_all, create_table, double_null, drop_all, foreign_key, id, index,
    long_text, string, string_null, unique_index,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let chats = create_table(manager, "chats")
            .col(id())
            // "private" or "group"
            .col(string("type", 10))
            .col(string_null("name", 100))
            .col(long_text(manager, "description", true))
            .col(string_null("avatar_url", 500))
            .col(big_null("created_by"))
            // "<smaller user id>:<larger user id>" for private chats, NULL for groups: the
            // unique index makes "one chat per pair" the database's promise.
            .col(string_null("private_pair", 41).unique_key())
            .col(string_null("invite_code", 32).unique_key())
            .col(big_null("last_message_id"))
            .col(big("created_at"))
            .col(big("updated_at"))
            .col(big_null("deleted_at"))
            .to_owned();
        let participants = create_table(manager, "chat_participants")
            .col(id())
            .col(big("chat_id"))
            .col(big("user_id"))
            .col(string("role", 10).default("member"))
            .col(big("joined_at"))
            .col(big_null("left_at"))
            .col(big_null("muted_until"))
            // Receipt watermarks: everything up to this message id is read / delivered.
            .col(big_null("last_read_message_id"))
            .col(big_null("last_delivered_message_id"))
            .foreign_key(&mut foreign_key("chat_participants", "chat_id", "chats"))
            .foreign_key(&mut foreign_key("chat_participants", "user_id", "users"))
            .to_owned();
        // One row per stretch of membership, in sync-log positions: the member sees
        // events and messages with from_seq < seq <= to_seq (to_seq NULL = still a member).
        let memberships = create_table(manager, "chat_memberships")
            .col(id())
            .col(big("chat_id"))
            .col(big("user_id"))
            .col(big("from_seq"))
            .col(big_null("to_seq"))
            .foreign_key(&mut foreign_key("chat_memberships", "chat_id", "chats"))
            .to_owned();
        let messages = create_table(manager, "messages")
            // Allocated with the sync-log position under one lock (see db/tx.rs), not
            // auto-incremented: ids then follow commit order on every backend.
            .col(ColumnDef::new("id").big_integer().not_null().primary_key())
            .col(big("chat_id"))
            .col(big("sender_id"))
            .col(big("seq"))
            .col(string_null("client_message_id", 64))
            .col(big_null("reply_to_message_id"))
            .col(string("message_type", 16))
            .col(long_text(manager, "content", true))
            .col(string_null("media_url", 500))
            .col(big_null("media_size"))
            .col(big_null("media_duration"))
            .col(string_null("media_mime_type", 100))
            .col(string_null("file_name", 255))
            .col(string_null("thumbnail_url", 500))
            .col(double_null("latitude"))
            .col(double_null("longitude"))
            .col(string_null("location_name", 255))
            .col(long_text(manager, "contact_data", true))
            .col(big("sent_at"))
            .col(big_null("edited_at"))
            .col(big_null("deleted_at"))
            .foreign_key(&mut foreign_key("messages", "chat_id", "chats"))
            .foreign_key(&mut foreign_key("messages", "sender_id", "users"))
            .to_owned();
        let reactions = create_table(manager, "message_reactions")
            .col(id())
            .col(big("message_id"))
            .col(big("user_id"))
            .col(string("emoji", 64))
            .col(big("created_at"))
            .foreign_key(&mut foreign_key(
                "message_reactions",
                "message_id",
                "messages",
            ))
            .to_owned();
        // One row each time a participant's watermark moves (kind 1 = delivered,
        // 2 = read). Marks only move forward, so the first mark at or past a message
        // is when that participant got it.
        let receipt_marks = create_table(manager, "receipt_marks")
            .col(id())
            .col(big("chat_id"))
            .col(big("user_id"))
            .col(ColumnDef::new("kind").small_integer().not_null())
            .col(big("message_id"))
            .col(big("at"))
            .to_owned();
        create_all(
            manager,
            vec![
                chats,
                participants,
                memberships,
                messages,
                reactions,
                receipt_marks,
            ],
            vec![
                unique_index(
                    "chat_participants",
                    "uq_participants_chat_user",
                    &["chat_id", "user_id"],
                ),
                index("chat_participants", "idx_participants_user", &["user_id"]),
                index(
                    "chat_memberships",
                    "idx_memberships_user",
                    &["user_id", "chat_id"],
                ),
                index(
                    "chat_memberships",
                    "idx_memberships_chat",
                    &["chat_id", "user_id"],
                ),
                index("messages", "idx_messages_chat", &["chat_id", "id"]),
                unique_index(
                    "messages",
                    "uq_messages_client_id",
                    &["sender_id", "client_message_id"],
                ),
                unique_index(
                    "message_reactions",
                    "uq_reactions_user",
                    &["message_id", "user_id"],
                ),
                index(
                    "receipt_marks",
                    "idx_receipt_marks",
                    &["chat_id", "kind", "message_id"],
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(
            manager,
            &[
                "receipt_marks",
                "message_reactions",
                "messages",
                "chat_memberships",
                "chat_participants",
                "chats",
            ],
        )
        .await
    }
}
