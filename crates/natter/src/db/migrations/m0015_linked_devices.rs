//! Linked devices (issue 19): what each login session says about its device
//! (`device_name`, `platform`, a coarse `ip_region`, `last_active_at`, all
//! null on rows older than this), and `link_codes`, the short-lived codes a
//! signed-in device shows so a new one can sign in without an SMS (only
//! SHA-256 of a code is kept; a code dies with the session that made it).

use sea_orm_migration::prelude::*;

use super::{
    big, big_null, create_all, create_table, drop_all, foreign_key, id, index, string, string_null,
    unique_index,
};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The columns added to `login_sessions`, in the order they are added.
fn session_columns() -> [ColumnDef; 4] {
    [
        string_null("device_name", 64),
        string_null("platform", 16),
        string_null("ip_region", 64),
        big_null("last_active_at"),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in session_columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table("login_sessions")
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        let link_codes = create_table(manager, "link_codes")
            .col(id())
            .col(big("user_id"))
            // The signed-in session that made the code.
            .col(big("session_id"))
            // SHA-256 of the code, hex.
            .col(string("code_hash", 64))
            .col(big("expires_at"))
            .col(big_null("used_at"))
            .col(big("created_at"))
            .foreign_key(&mut foreign_key("link_codes", "user_id", "users"))
            .foreign_key(&mut foreign_key(
                "link_codes",
                "session_id",
                "login_sessions",
            ))
            .to_owned();
        create_all(
            manager,
            vec![link_codes],
            vec![
                unique_index("link_codes", "uq_link_codes_hash", &["code_hash"]),
                index("link_codes", "idx_link_codes_user", &["user_id"]),
            ],
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_all(manager, &["link_codes"]).await?;
        for column in session_columns().iter().rev() {
            let name = column.get_column_name();
            manager
                .alter_table(
                    Table::alter()
                        .table("login_sessions")
                        .drop_column(Alias::new(name))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
