//! Migrating with many nodes: every node runs pending migrations at start, so
//! nodes started at once on a new database would race to create the same
//! tables (PostgreSQL: a duplicate key in `pg_type`; MySQL: 1050 "table already
//! exists"). A database-wide lock makes them take turns: the first migrates,
//! the others wait, then find nothing pending.
//!
//! - PostgreSQL: `pg_advisory_lock` on a connection of its own, held while the
//!   migrations run on the pool and released after (or when that connection
//!   drops, if the process dies). Advisory locks are per database.
//! - MySQL/MariaDB: `GET_LOCK` / `RELEASE_LOCK` on one connection of its own.
//!   Its names are server-wide, so the name carries the database's name: two
//!   databases on one server migrate independently.
//! - SQLite: nothing; the file's write lock and one process per file suffice.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};
use sea_orm_migration::{MigrationStatus, MigratorTrait};

use super::Db;
use super::migrations::Migrator;

/// Any constant: what natter's migrations lock on PostgreSQL ("natter" in ASCII).
const PG_LOCK_KEY: i64 = 0x6e61_7474_6572;
/// How long a node waits for another's migrations before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(600);

/// One migration and whether this database has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    pub name: String,
    pub applied: bool,
}

impl Db {
    /// Runs every pending migration, holding the migration lock.
    pub async fn migrate(&self) -> Result<(), DbErr> {
        let lock = self.lock_migrations().await?;
        let result = Migrator::up(&self.write, None).await;
        release(lock).await;
        result
    }

    /// Rolls back the last `steps` applied migrations, holding the migration lock.
    pub async fn migrate_down(&self, steps: u32) -> Result<(), DbErr> {
        let lock = self.lock_migrations().await?;
        let result = Migrator::down(&self.write, Some(steps)).await;
        release(lock).await;
        result
    }

    /// Every migration this binary knows, in order, applied or pending. Reads
    /// only: on a database never migrated, all are pending.
    pub async fn migration_status(&self) -> Result<Vec<MigrationState>, DbErr> {
        let migrations = Migrator::get_migration_with_status_read_only(&self.read).await?;
        Ok(migrations
            .iter()
            .map(|m| MigrationState {
                name: m.name().to_string(),
                applied: m.status() == MigrationStatus::Applied,
            })
            .collect())
    }

    /// Takes the database's migration lock on a connection of its own (None
    /// on SQLite), waiting for another node's migrations to finish.
    async fn lock_migrations(&self) -> Result<Option<Lock>, DbErr> {
        let sql = match self.backend {
            DbBackend::Sqlite => return Ok(None),
            DbBackend::Postgres => format!("SELECT pg_advisory_lock({PG_LOCK_KEY})"),
            _ => format!(
                "SELECT GET_LOCK({}, {})",
                MYSQL_LOCK_NAME,
                LOCK_WAIT.as_secs()
            ),
        };
        let conn =
            super::connect_pool(&self.url, 1, super::STATEMENT_CACHE, super::KeepOpen::One).await?;
        if self.backend == DbBackend::Postgres {
            // lock_timeout bounds the wait; it applies to advisory locks too.
            let timeout = format!("SET lock_timeout = '{}s'", LOCK_WAIT.as_secs());
            conn.execute_unprepared(&timeout).await?;
            conn.execute_unprepared(&sql).await?;
        } else {
            let got = conn
                .query_one_raw(Statement::from_string(self.backend, sql))
                .await?
                .and_then(|row| row.try_get_by_index::<Option<i64>>(0).ok().flatten());
            if got != Some(1) {
                let _ = conn.close().await;
                return Err(DbErr::Custom(format!(
                    "could not take the migration lock within {} s (another node migrating?)",
                    LOCK_WAIT.as_secs()
                )));
            }
        }
        Ok(Some(Lock {
            conn,
            backend: self.backend,
        }))
    }
}

/// MySQL lock names are server-wide and at most 64 characters.
const MYSQL_LOCK_NAME: &str = "LEFT(CONCAT('natter_migrate:', DATABASE()), 64)";

/// The connection holding the migration lock.
struct Lock {
    conn: DatabaseConnection,
    backend: DbBackend,
}

/// Releases the lock and closes its connection (closing alone would release
/// it too; the explicit release says so sooner).
async fn release(lock: Option<Lock>) {
    let Some(lock) = lock else { return };
    let sql = match lock.backend {
        DbBackend::Postgres => format!("SELECT pg_advisory_unlock({PG_LOCK_KEY})"),
        _ => format!("SELECT RELEASE_LOCK({MYSQL_LOCK_NAME})"),
    };
    if let Err(err) = lock.conn.execute_unprepared(&sql).await {
        tracing::warn!(error = %err, "could not release the migration lock; closing its connection");
    }
    let _ = lock.conn.close().await;
}
