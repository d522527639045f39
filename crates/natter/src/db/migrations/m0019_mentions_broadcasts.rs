//! Mentions and broadcast lists (issue 19 item 3).
//!
//! - `message_mentions`: who a group message mentions (user ids, the truth
//!   behind the `@Name` in its text), written by the writer with the message.
//!   The user index serves "where was I mentioned".
//! - `broadcast_lists` and `broadcast_list_recipients`: a user's named lists of
//!   people a message can be sent to, one private message each.

use sea_orm_migration::prelude::*;

use super::{
    big, create_all, create_table, drop_all, foreign_key, id, index, string, unique_index,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mentions = create_table(manager, "message_mentions")
            .col(id())
            .col(big("message_id"))
            .col(big("user_id"))
            .foreign_key(&mut foreign_key(
                "message_mentions",
                "message_id",
                "messages",
            ))
            .to_owned();
        let lists = create_table(manager, "broadcast_lists")
            .col(id())
            .col(big("owner_id"))
            .col(string("name", 100))
            .col(big("created_at"))
            .col(big("updated_at"))
            .foreign_key(&mut foreign_key("broadcast_lists", "owner_id", "users"))
            .to_owned();
        let recipients = create_table(manager, "broadcast_list_recipients")
            .col(id())
            .col(big("list_id"))
            .col(big("user_id"))
            .foreign_key(&mut foreign_key(
                "broadcast_list_recipients",
                "list_id",
                "broadcast_lists",
            ))
            .foreign_key(&mut foreign_key(
                "broadcast_list_recipients",
                "user_id",
                "users",
            ))
            .to_owned();
        create_all(
            manager,
            vec![mentions, lists, recipients],
            vec![
                unique_index(
                    "message_mentions",
                    "uq_message_mentions",
                    &["message_id", "user_id"],
                ),
                index(
                    "message_mentions",
                    "idx_message_mentions_user",
                    &["user_id", "message_id"],
                ),
                index(
                    "broadcast_lists",
                    "idx_broadcast_lists_owner",
                    &["owner_id"],
                ),
                unique_index(
                    "broadcast_list_recipients",
                    "uq_broadcast_list_recipients",
                    &["list_id", "user_id"],
                ),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(
            manager,
            &[
                "broadcast_list_recipients",
                "broadcast_lists",
                "message_mentions",
            ],
        )
        .await
    }
}
