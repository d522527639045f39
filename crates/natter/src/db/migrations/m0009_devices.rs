//! Push devices (devices/): m0001 made a `devices` table that no code ever
//! wrote. This gives it what registration and pushing need: the login
//! session it was registered from (logout removes it), a unique token (by its
//! SHA-256, as a 500-character unique key does not fit MySQL's index limit),
//! Web Push's encryption keys, when it was last used, and which job last
//! pushed to it (so a retried job skips the devices it already reached).

use sea_orm_migration::prelude::*;

use super::{big, big_null, index, string, string_null, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Columns added, in order (dropped in reverse).
fn columns() -> Vec<ColumnDef> {
    vec![
        big_null("session_id"),
        // SHA-256 of `token`, hex: the unique key.
        string("token_hash", 64),
        // Web Push: the subscription's P-256 public key and auth secret (base64url).
        string_null("p256dh", 100),
        string_null("auth", 50),
        big("last_used_at"),
        // "<job id>:<job created_at>" of the last job that reached this device.
        string_null("last_push", 64),
    ]
}

const NAMES: [&str; 6] = [
    "session_id",
    "token_hash",
    "p256dh",
    "auth",
    "last_used_at",
    "last_push",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // No code ever wrote the table, so it is empty; clearing it lets the
        // new NOT NULL and unique columns be added without a default.
        manager
            .exec_stmt(Query::delete().from_table("devices").to_owned())
            .await?;
        for column in columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table("devices")
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(unique_index(
                "devices",
                "uq_devices_token_hash",
                &["token_hash"],
            ))
            .await?;
        manager
            .create_index(index("devices", "idx_devices_session", &["session_id"]))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in ["idx_devices_session", "uq_devices_token_hash"] {
            manager
                .drop_index(Index::drop().name(name).table("devices").to_owned())
                .await?;
        }
        for name in NAMES.iter().rev() {
            manager
                .alter_table(
                    Table::alter()
                        .table("devices")
                        .drop_column(*name)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
