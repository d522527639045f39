//! The sync log (DESIGN.md principle 2) and the counter row that hands out its
//! positions.

use sea_orm_migration::prelude::*;

use super::{big, big_null, create_all, create_table, drop_all, index, long_text, string};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // An event is addressed to a chat (every member within their membership
        // interval sees it) or to one user; never both.
        let events = create_table(manager, "events")
            .col(ColumnDef::new("seq").big_integer().not_null().primary_key())
            .col(big_null("chat_id"))
            .col(big_null("user_id"))
            .col(string("name", 64))
            .col(long_text(manager, "data", false))
            .col(big("created_at"))
            .to_owned();
        // A single row. Transactions that append events update it first, so its row
        // lock serialises them until commit: a position becomes visible only after
        // every smaller one is committed (no reader can skip a late commit).
        let counters = create_table(manager, "stream_counters")
            .col(ColumnDef::new("id").integer().not_null().primary_key())
            .col(big("last_seq"))
            .col(big("last_message_id"))
            // Positions at or below this were pruned by SYNC_RETENTION.
            .col(big("pruned_through_seq"))
            .to_owned();
        create_all(
            manager,
            vec![events, counters],
            vec![
                index("events", "idx_events_chat", &["chat_id", "seq"]),
                index("events", "idx_events_user", &["user_id", "seq"]),
                index("events", "idx_events_created", &["created_at"]),
            ],
        )
        .await?;
        let seed = Query::insert()
            .into_table("stream_counters")
            .columns(["id", "last_seq", "last_message_id", "pruned_through_seq"])
            .values_panic([1.into(), 0i64.into(), 0i64.into(), 0i64.into()])
            .to_owned();
        manager.exec_stmt(seed).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, &["stream_counters", "events"]).await
    }
}
