//! Tables the guide references for statuses (stories), calls and background jobs.

use sea_orm_migration::prelude::*;

use super::{
    big, big_null, create_all, create_table, drop_all, foreign_key, id, index, int, long_text,
    string, string_null, unique_index,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statuses = create_table(manager, "statuses")
            .col(id())
            .col(big("user_id"))
            .col(string("type", 10))
            .col(long_text(manager, "content", true))
            .col(string_null("background_color", 16))
            .col(string_null("media_url", 500))
            .col(string_null("media_mime_type", 100))
            .col(big_null("media_size"))
            .col(big("created_at"))
            .col(big("expires_at"))
            .col(big_null("deleted_at"))
            .foreign_key(&mut foreign_key("statuses", "user_id", "users"))
            .to_owned();
        let status_views = create_table(manager, "status_views")
            .col(id())
            .col(big("status_id"))
            .col(big("user_id"))
            .col(big("viewed_at"))
            .foreign_key(&mut foreign_key("status_views", "status_id", "statuses"))
            .to_owned();
        let calls = create_table(manager, "calls")
            .col(id())
            .col(big("chat_id"))
            .col(big("caller_id"))
            .col(string("type", 10))
            .col(string("status", 10))
            .col(big("started_at"))
            .col(big_null("answered_at"))
            .col(big_null("ended_at"))
            .foreign_key(&mut foreign_key("calls", "chat_id", "chats"))
            .to_owned();
        let call_participants = create_table(manager, "call_participants")
            .col(id())
            .col(big("call_id"))
            .col(big("user_id"))
            .col(string("status", 10))
            .foreign_key(&mut foreign_key("call_participants", "call_id", "calls"))
            .to_owned();
        let jobs = first_jobs_table(manager);
        create_all(
            manager,
            vec![statuses, status_views, calls, call_participants, jobs],
            vec![
                index("statuses", "idx_statuses_user", &["user_id", "expires_at"]),
                unique_index("status_views", "uq_status_views", &["status_id", "user_id"]),
                index("calls", "idx_calls_chat", &["chat_id"]),
                index(
                    "call_participants",
                    "idx_call_participants_user",
                    &["user_id"],
                ),
                first_jobs_index(),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(
            manager,
            &[
                "jobs",
                "call_participants",
                "calls",
                "status_views",
                "statuses",
            ],
        )
        .await
    }
}

/// The `jobs` table as this migration made it (never used by any code); m0007
/// replaces it and puts it back when reverted.
pub(super) fn first_jobs_table(manager: &SchemaManager) -> TableCreateStatement {
    create_table(manager, "jobs")
        .col(id())
        .col(string("queue", 32))
        .col(long_text(manager, "payload", false))
        .col(int("attempts", 0))
        .col(big("available_at"))
        .col(big_null("reserved_at"))
        .col(string_null("reserved_by", 64))
        .col(long_text(manager, "last_error", true))
        .col(big("created_at"))
        .to_owned()
}

pub(super) fn first_jobs_index() -> IndexCreateStatement {
    index("jobs", "idx_jobs_queue", &["queue", "available_at"])
}
