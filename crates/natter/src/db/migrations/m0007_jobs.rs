//! The durable job queue (jobs/): `jobs` replaces m0004's table, which no code
//! ever used, and `job_periods` records the last period each periodic job was
//! enqueued for, so periodic work runs once per cluster (docs/jobs.md).

use sea_orm_migration::prelude::*;

use super::m0004_statuses_calls_jobs::{first_jobs_index, first_jobs_table};
use super::{
    big, big_null, create_all, create_table, drop_all, id, index, int, long_text, string,
    string_null, unique_index,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, &["jobs"]).await?;
        let jobs = create_table(manager, "jobs")
            .col(id())
            .col(string("kind", 64))
            .col(long_text(manager, "payload", false))
            // queued | running | dead; a finished job is deleted.
            .col(string("state", 10))
            .col(int("attempts", 0))
            .col(int("max_attempts", 10))
            .col(big("run_at"))
            .col(string_null("locked_by", 64))
            .col(big_null("locked_until"))
            .col(long_text(manager, "last_error", true))
            // 191 characters of utf8mb4 fit MySQL's 767-byte index prefix.
            .col(string_null("unique_key", 191))
            .col(big("created_at"))
            .col(big("updated_at"))
            .to_owned();
        let periods = create_table(manager, "job_periods")
            .col(
                ColumnDef::new("kind")
                    .string_len(64)
                    .not_null()
                    .primary_key(),
            )
            .col(big("last_slot"))
            .col(big("updated_at"))
            .to_owned();
        create_all(
            manager,
            vec![jobs, periods],
            vec![
                index("jobs", "idx_jobs_claim", &["state", "run_at"]),
                unique_index("jobs", "uq_jobs_unique_key", &["unique_key"]),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, &["job_periods", "jobs"]).await?;
        create_all(
            manager,
            vec![first_jobs_table(manager)],
            vec![first_jobs_index()],
        )
        .await
    }
}
