//! `natter backup FILE`: a consistent copy of a SQLite database taken while
//! the server runs. `VACUUM INTO` reads one snapshot (a read transaction, so
//! the writer goes on) and writes it out as a complete database file, WAL
//! included: every commit before the snapshot is in the copy, none after.
//! PostgreSQL and MySQL have their own tools (docs/operations.md).

use std::path::Path;

use anyhow::{Context, bail};
use sea_orm::{ConnectionTrait, DbBackend};

use super::Db;

impl Db {
    /// Writes a copy of this SQLite database to `file`, which must not exist.
    pub async fn backup_into(&self, file: &Path) -> anyhow::Result<()> {
        match self.backend {
            DbBackend::Sqlite => {}
            DbBackend::Postgres => bail!(
                "natter backup copies SQLite databases; for PostgreSQL use pg_dump (docs/operations.md)"
            ),
            _ => bail!(
                "natter backup copies SQLite databases; for MySQL/MariaDB use mariadb-dump --single-transaction (docs/operations.md)"
            ),
        }
        // VACUUM INTO refuses an existing file too; saying so first names it.
        if file.exists() {
            bail!(
                "{} already exists; natter backup never overwrites a file",
                file.display()
            );
        }
        let path = file
            .to_str()
            .with_context(|| format!("{} is not a UTF-8 path", file.display()))?;
        // A string literal: quotes are doubled, as SQL escapes them.
        let sql = format!("VACUUM INTO '{}'", path.replace('\'', "''"));
        self.read
            .execute_unprepared(&sql)
            .await
            .with_context(|| format!("cannot write the backup to {}", file.display()))?;
        Ok(())
    }
}
