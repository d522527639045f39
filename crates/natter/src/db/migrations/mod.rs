//! Numbered, reversible schema migrations. They run on SQLite, PostgreSQL and
//! MySQL/MariaDB alike: tables are built with SeaQuery, never raw DDL, except
//! for the few column types SeaQuery does not name (see [`long_text`]).
//!
//! Conventions: ids are BIGINT; every `*_at` column is a BIGINT holding Unix
//! milliseconds (exact on every backend, no time-zone surprises, see
//! docs/architecture.md); JSON is stored as text.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

mod m0001_users_and_auth;
mod m0002_chats_and_messages;
mod m0003_event_log;
mod m0004_statuses_calls_jobs;
mod m0005_roster_version;
mod m0006_sync_log_counters;
mod m0007_jobs;
mod m0008_media;
mod m0009_devices;
mod m0011_statuses;
mod m0012_calls;
mod m0013_bans_and_node_sockets;
mod m0014_disappearing_view_once;
mod m0015_linked_devices;
mod m0016_search;
mod m0017_stars_and_pins;
mod m0018_chat_preferences;
mod m0019_mentions_broadcasts;
mod m0020_search_index_in_bulk;
mod m0021_client_ids_exact;
mod m0022_replies_index;
mod m0023_removed_by;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_users_and_auth::Migration),
            Box::new(m0002_chats_and_messages::Migration),
            Box::new(m0003_event_log::Migration),
            Box::new(m0004_statuses_calls_jobs::Migration),
            Box::new(m0005_roster_version::Migration),
            Box::new(m0006_sync_log_counters::Migration),
            Box::new(m0007_jobs::Migration),
            Box::new(m0008_media::Migration),
            Box::new(m0009_devices::Migration),
            Box::new(m0011_statuses::Migration),
            Box::new(m0012_calls::Migration),
            Box::new(m0013_bans_and_node_sockets::Migration),
            Box::new(m0014_disappearing_view_once::Migration),
            Box::new(m0015_linked_devices::Migration),
            Box::new(m0016_search::Migration),
            Box::new(m0017_stars_and_pins::Migration),
            Box::new(m0018_chat_preferences::Migration),
            Box::new(m0019_mentions_broadcasts::Migration),
            Box::new(m0020_search_index_in_bulk::Migration),
            Box::new(m0021_client_ids_exact::Migration),
            Box::new(m0022_replies_index::Migration),
            Box::new(m0023_removed_by::Migration),
        ]
    }
}

/// `CREATE TABLE` with the options every table shares: utf8mb4 on MySQL so that
/// emoji survive, InnoDB for transactions.
pub(crate) fn create_table(manager: &SchemaManager, name: &'static str) -> TableCreateStatement {
    let mut table = Table::create();
    table.table(name);
    if manager.get_database_backend() == DbBackend::MySql {
        table
            .engine("InnoDB")
            .character_set("utf8mb4")
            .collate("utf8mb4_unicode_ci");
    }
    table
}

pub(crate) fn drop_table(name: &'static str) -> TableDropStatement {
    Table::drop().table(name).if_exists().to_owned()
}

/// An auto-increment BIGINT primary key named `id`.
pub(crate) fn id() -> ColumnDef {
    ColumnDef::new("id")
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

pub(crate) fn big(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).big_integer().not_null().to_owned()
}

pub(crate) fn big_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).big_integer().null().to_owned()
}

pub(crate) fn int(name: &'static str, default: i32) -> ColumnDef {
    ColumnDef::new(name)
        .integer()
        .not_null()
        .default(default)
        .to_owned()
}

pub(crate) fn string(name: &'static str, len: u32) -> ColumnDef {
    ColumnDef::new(name).string_len(len).not_null().to_owned()
}

pub(crate) fn string_null(name: &'static str, len: u32) -> ColumnDef {
    ColumnDef::new(name).string_len(len).null().to_owned()
}

pub(crate) fn boolean(name: &'static str) -> ColumnDef {
    ColumnDef::new(name)
        .boolean()
        .not_null()
        .default(false)
        .to_owned()
}

pub(crate) fn double_null(name: &'static str) -> ColumnDef {
    ColumnDef::new(name).double().null().to_owned()
}

/// Text that may exceed 64 KiB: MySQL's TEXT stops at 65,535 bytes, which a
/// 65,536-character message in emoji overflows, so MySQL gets MEDIUMTEXT.
pub(crate) fn long_text(manager: &SchemaManager, name: &'static str, nullable: bool) -> ColumnDef {
    let mut column = ColumnDef::new(name);
    if manager.get_database_backend() == DbBackend::MySql {
        column.custom("MEDIUMTEXT");
    } else {
        column.text();
    }
    if nullable {
        column.null();
    } else {
        column.not_null();
    }
    column
}

pub(crate) fn index(
    table: &'static str,
    name: &'static str,
    columns: &[&'static str],
) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(*column);
    }
    index
}

pub(crate) fn unique_index(
    table: &'static str,
    name: &'static str,
    columns: &[&'static str],
) -> IndexCreateStatement {
    let mut index = self::index(table, name, columns);
    index.unique();
    index
}

pub(crate) fn foreign_key(
    from_table: &'static str,
    from_column: &'static str,
    to_table: &'static str,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{from_table}_{from_column}"))
        .from(from_table, from_column)
        .to(to_table, "id")
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

/// Adds a column, one per statement: SQLite's ALTER TABLE adds one at a time.
pub(crate) async fn add_column(
    manager: &SchemaManager<'_>,
    table: &'static str,
    column: ColumnDef,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).add_column(column).to_owned())
        .await
}

pub(crate) async fn drop_column(
    manager: &SchemaManager<'_>,
    table: &'static str,
    column: &'static str,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).drop_column(column).to_owned())
        .await
}

/// Creates tables and indexes in order.
pub(crate) async fn create_all(
    manager: &SchemaManager<'_>,
    tables: Vec<TableCreateStatement>,
    indexes: Vec<IndexCreateStatement>,
) -> Result<(), DbErr> {
    for table in tables {
        manager.create_table(table).await?;
    }
    for index in indexes {
        manager.create_index(index).await?;
    }
    Ok(())
}

/// Drops tables in order (children first).
pub(crate) async fn drop_all(
    manager: &SchemaManager<'_>,
    tables: &[&'static str],
) -> Result<(), DbErr> {
    for table in tables {
        manager.drop_table(drop_table(table)).await?;
    }
    Ok(())
}
