//! Database connections, transactions and the schema.
//!
//! One code path serves SQLite, PostgreSQL and MySQL/MariaDB, chosen by the
//! scheme of `DATABASE_URL`. SQLite allows one writer at a time, so natter
//! gives it a pool of one connection for writes (writers queue in the pool,
//! fairly, instead of spinning on SQLITE_BUSY) and a separate pool for reads;
//! on the server databases both handles are the same pool.

pub mod backup;
pub mod entities;
pub mod fixed;
pub mod migrate;
pub mod migrations;
#[cfg(test)]
pub mod testing;
pub mod unique;

#[cfg(unix)]
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::sqlx::{Connection as _, Pool};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, SqliteTransactionMode, TransactionOptions, TransactionTrait,
};
use tokio::sync::Mutex;

use crate::clock::now_ms;
use crate::config::redact_url;
#[cfg(unix)]
use crate::secrets::PRIVATE_MODE;

/// Values per `IN (...)` list: far below every backend's bind-parameter limit
/// (SQLite 32,766, PostgreSQL and MySQL 65,535 per statement).
pub const IN_LIST_CHUNK: usize = 500;

/// Runs `query` once per [`IN_LIST_CHUNK`] values and concatenates the rows,
/// so that a list of any length (a request's ids, a large group's members)
/// never exceeds a backend's bind-parameter limit. The rows come in chunk
/// order: a caller that needs one global order sorts them itself.
pub async fn in_chunks<'a, V, R, F, Fut>(values: &'a [V], mut query: F) -> Result<Vec<R>, DbErr>
where
    F: FnMut(&'a [V]) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<R>, DbErr>>,
{
    let mut rows = Vec::new();
    for chunk in values.chunks(IN_LIST_CHUNK) {
        rows.extend(query(chunk).await?);
    }
    Ok(rows)
}

tokio::task_local! {
    /// The counter of the [`StatementCount`] a future runs under.
    static COUNTED: Arc<AtomicU64>;
}

/// The statements (each one round trip, plus one more when the driver must
/// first prepare a text it has not cached) one piece of work sends; BEGIN
/// and COMMIT are not counted. Counted by task, not by thread: the
/// group-commit writer commits one batch on a task of its own while the next
/// begins on the same thread (docs/architecture.md, "Round trips").
#[derive(Clone, Default)]
pub struct StatementCount(Arc<AtomicU64>);

impl StatementCount {
    /// Runs `work`, counting its statements here.
    pub async fn counting<F: std::future::Future>(&self, work: F) -> F::Output {
        COUNTED.scope(self.0.clone(), work).await
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

fn count_statement(_: &sea_orm::metric::Info<'_>) {
    let _ = COUNTED.try_with(|n| n.fetch_add(1, Ordering::Relaxed));
}

/// The histogram [`Db::begin`] records (telemetry lists it with the others).
pub const ACQUIRE_SECONDS: &str = "natter_db_acquire_seconds";

/// One pool's connections, for the metrics.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    /// `write` and `read` on SQLite, `shared` on the server databases.
    pub name: &'static str,
    /// Connections open, in use or idle.
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

#[derive(Clone)]
pub struct Db {
    /// For queries that only read.
    pub read: DatabaseConnection,
    /// For transactions that write. On SQLite a single connection.
    pub write: DatabaseConnection,
    pub backend: DbBackend,
    /// Lets one log transaction of this process at a time wait for the
    /// database's log lock (synclog/). Waiters queue here, holding no
    /// connection, so they cannot starve the pool the lock holder still needs.
    pub log_gate: Arc<Mutex<()>>,
    /// DATABASE_URL, for connections outside the pools (the migration lock's).
    url: Arc<str>,
    /// How busy the write side has been, for [`Db::trim_when_quiet`].
    quiet: Arc<Quiet>,
}

/// How busy the write side has been, for [`Db::trim_when_quiet`].
#[derive(Default)]
struct Quiet {
    /// Write transactions begun so far.
    begun: AtomicU64,
    /// `begun` as the previous look saw it.
    begun_at_last_look: AtomicU64,
    /// When a look last found the write side busy (ms since the epoch).
    busy_ms: AtomicI64,
    /// When the SQLite write connection was last trimmed.
    trimmed_ms: AtomicI64,
}

/// How long the write side must stay quiet before the SQLite write
/// connection's memory is given back.
const QUIET_BEFORE_TRIM: Duration = Duration::from_secs(30);

/// Write transactions per look that still count as quiet: the job runner's
/// polls and periodic work, a user or two.
const QUIET_MAX_TRANSACTIONS: u64 = 50;

impl Db {
    /// Connects to `url`, creating the SQLite file (and its folder) when needed.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Db> {
        let redacted = redact_url(url);
        if url.starts_with("sqlite:") {
            create_sqlite_folder(url)?;
            let write = connect_pool(url, 1, WRITER_STATEMENT_CACHE, KeepOpen::One)
                .await
                .with_context(|| format!("cannot open DATABASE_URL {redacted}"))?;
            let read = connect_pool(
                url,
                max_connections,
                STATEMENT_CACHE,
                KeepOpen::NoneAfter(SQLITE_READ_IDLE),
            )
            .await
            .with_context(|| format!("cannot open DATABASE_URL {redacted}"))?;
            return Ok(Db {
                backend: DbBackend::Sqlite,
                read,
                write,
                log_gate: Default::default(),
                url: url.into(),
                quiet: Default::default(),
            });
        }
        // One plain connection first: the pool retries a refused connection
        // until its acquire timeout and then says only "pool timed out".
        probe(url)
            .await
            .with_context(|| format!("cannot connect to DATABASE_URL {redacted}"))?;
        let pool = connect_pool(url, max_connections, STATEMENT_CACHE, KeepOpen::One)
            .await
            .with_context(|| format!("cannot connect to DATABASE_URL {redacted}"))?;
        Ok(Db {
            backend: pool.get_database_backend(),
            read: pool.clone(),
            write: pool,
            log_gate: Default::default(),
            url: url.into(),
            quiet: Default::default(),
        })
    }

    /// This handle with writes through connections of its own, for the
    /// group-commit writer, and whether it holds two: on PostgreSQL and MySQL
    /// a pool of [`WRITER_CONNECTIONS`], both kept open (the pool reopens one
    /// after an error), so the statements the writer prepared stay prepared
    /// on them instead of on whichever pooled connection was free; SQLite has
    /// one write connection already. Called on the writer's own runtime, so
    /// that runtime drives the connections' sockets. If the database will not
    /// give two, the writer keeps one (and commits each batch before the
    /// next); if not even one, it shares the pool. Either is said in the log.
    pub async fn with_own_write_connections(&self) -> (Db, bool) {
        if self.backend == DbBackend::Sqlite {
            return (self.clone(), false);
        }
        let own = |write| Db {
            write,
            ..self.clone()
        };
        let two = connect_pool(
            &self.url,
            WRITER_CONNECTIONS,
            WRITER_STATEMENT_CACHE,
            KeepOpen::All,
        );
        match two.await {
            Ok(pool) if holds_open(&pool, WRITER_CONNECTIONS).await => return (own(pool), true),
            Ok(pool) => {
                tracing::warn!(
                    "the writer has one connection of its own: it commits each batch before the next"
                );
                let _ = pool.close_by_ref().await;
            }
            Err(_) => {}
        }
        match connect_pool(&self.url, 1, WRITER_STATEMENT_CACHE, KeepOpen::One).await {
            Ok(pool) => (own(pool), false),
            Err(err) => {
                tracing::warn!(error = %err, "the writer shares the connection pool");
                (self.clone(), false)
            }
        }
    }

    /// Closes the connections [`Db::with_own_write_connections`] opened.
    pub async fn close_own_write_connection(&self) {
        if self.backend != DbBackend::Sqlite {
            let _ = self.write.close_by_ref().await;
        }
    }

    /// Starts a write transaction. On SQLite it is `BEGIN IMMEDIATE`, so the write
    /// lock is taken up front rather than on a read-to-write upgrade that can fail.
    /// The wait (a free connection, then BEGIN) is recorded in
    /// [`ACQUIRE_SECONDS`]: it is where an exhausted pool or a busy SQLite
    /// writer shows.
    pub async fn begin(&self) -> Result<DatabaseTransaction, DbErr> {
        let started = std::time::Instant::now();
        let options = TransactionOptions {
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        let txn = if self.backend == DbBackend::Sqlite {
            self.write.begin_with_options(options).await
        } else {
            self.write.begin().await
        };
        metrics::histogram!(ACQUIRE_SECONDS).record(started.elapsed().as_secs_f64());
        self.quiet.begun.fetch_add(1, Ordering::Relaxed);
        txn
    }

    /// Gives back what the SQLite write connection keeps from a load, once
    /// the looks (the memory upkeep's, every few seconds) have found at most
    /// [`QUIET_MAX_TRANSACTIONS`] write transactions begun between them for
    /// [`QUIET_BEFORE_TRIM`], once per quiet spell: its page cache (up to
    /// 2 MiB) and its prepared statements (a writer batch's multi-row INSERTs
    /// are large programs; about 3 MiB after a W2 run, issue 20). Both come back on the next load at the cost of
    /// reading pages from the OS cache and preparing a statement again.
    /// Returns whether it trimmed. The read pool closes idle connections by
    /// itself ([`SQLITE_READ_IDLE`]).
    pub async fn trim_when_quiet(&self) -> Result<bool, DbErr> {
        if self.backend != DbBackend::Sqlite {
            return Ok(false);
        }
        let quiet = &self.quiet;
        let now = now_ms();
        let begun = quiet.begun.load(Ordering::Relaxed);
        let before = quiet.begun_at_last_look.swap(begun, Ordering::Relaxed);
        if begun - before > QUIET_MAX_TRANSACTIONS {
            quiet.busy_ms.store(now, Ordering::Relaxed);
        }
        let busy = quiet.busy_ms.load(Ordering::Relaxed);
        if now - busy < QUIET_BEFORE_TRIM.as_millis() as i64
            || quiet.trimmed_ms.load(Ordering::Relaxed) > busy
        {
            return Ok(false);
        }
        let mut conn = self
            .write
            .get_sqlite_connection_pool()
            .acquire()
            .await
            .map_err(sqlx_error)?;
        conn.clear_cached_statements().await.map_err(sqlx_error)?;
        sea_orm::sqlx::query("PRAGMA shrink_memory")
            .persistent(false)
            .execute(&mut *conn)
            .await
            .map_err(sqlx_error)?;
        quiet.trimmed_ms.store(now_ms(), Ordering::Relaxed);
        Ok(true)
    }

    /// The pools' connections now: on SQLite the write connection and the
    /// read pool, elsewhere the one shared pool.
    pub fn pool_stats(&self) -> Vec<PoolStats> {
        if self.backend == DbBackend::Sqlite {
            vec![
                pool_stats("write", self.backend, &self.write),
                pool_stats("read", self.backend, &self.read),
            ]
        } else {
            vec![pool_stats("shared", self.backend, &self.write)]
        }
    }

    /// True when the database answers a trivial query.
    pub async fn ping(&self) -> bool {
        self.read.ping().await.is_ok()
    }

    /// Closes the pools. On SQLite the WAL is first checkpointed into the
    /// database file and truncated, so the file alone holds every commit.
    pub async fn close(&self) {
        if self.backend == DbBackend::Sqlite {
            let checkpoint = "PRAGMA wal_checkpoint(TRUNCATE)";
            if let Err(err) = self.write.execute_unprepared(checkpoint).await {
                tracing::warn!(error = %err, "could not checkpoint the SQLite WAL");
            }
        }
        self.disconnect().await;
    }

    /// Closes the pools without a checkpoint: for a command that ran beside a
    /// server (`natter backup`, `natter users`), where a TRUNCATE checkpoint
    /// would hold the server's writers back until every reader moved on.
    pub async fn disconnect(&self) {
        let _ = self.read.close_by_ref().await;
        if self.backend == DbBackend::Sqlite {
            let _ = self.write.close_by_ref().await;
        }
    }
}

/// An error of a call made on sqlx directly, as SeaORM's.
fn sqlx_error(err: sea_orm::sqlx::Error) -> DbErr {
    DbErr::Custom(err.to_string())
}

/// How long connecting to the database or Redis at start may take before
/// natter gives up, naming the address and the cause.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens and closes one connection to the PostgreSQL or MySQL server at `url`,
/// within [`CONNECT_TIMEOUT`], so a failure carries its cause (refused,
/// unknown host, wrong password, no such database).
async fn probe(url: &str) -> anyhow::Result<()> {
    use sea_orm::sqlx::Connection;
    let attempt = async {
        if url.starts_with("mysql:") {
            sea_orm::sqlx::MySqlConnection::connect(url)
                .await?
                .close()
                .await
        } else {
            sea_orm::sqlx::PgConnection::connect(url)
                .await?
                .close()
                .await
        }
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
        Ok(result) => Ok(result?),
        Err(_) => anyhow::bail!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
    }
}

fn pool_stats(name: &'static str, backend: DbBackend, conn: &DatabaseConnection) -> PoolStats {
    fn of<D: sea_orm::sqlx::Database>(name: &'static str, pool: &Pool<D>) -> PoolStats {
        PoolStats {
            name,
            size: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        }
    }
    // The pool getters panic on another backend's connection: `backend` says
    // which one this is (it was read from the connection when it was made).
    match backend {
        DbBackend::Sqlite => of(name, conn.get_sqlite_connection_pool()),
        DbBackend::Postgres => of(name, conn.get_postgres_connection_pool()),
        _ => of(name, conn.get_mysql_connection_pool()),
    }
}

/// How long a SQLite read connection may sit unused before it is closed,
/// the last one too. Each keeps a page cache (up to 2 MiB), its prepared
/// statements and a thread; the pool's default of ten minutes kept a load's
/// sixteen connections, about 10 MiB, long after it (issue 20). Reopening
/// one costs well under a millisecond, and a busy pool keeps its connections.
const SQLITE_READ_IDLE: Duration = Duration::from_secs(20);

/// How long a PostgreSQL or MySQL connection may sit in the pool before it
/// is pinged on its way out.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(10);

/// WAL pages after which a commit copies the WAL back into the database
/// file (SQLite's default is 1,000).
const WAL_AUTOCHECKPOINT_PAGES: &str = "10000";

/// Prepared statements sqlx keeps per connection (its default).
const STATEMENT_CACHE: usize = 100;

/// The group-commit writer's own connections on PostgreSQL and MySQL: one
/// batch commits on one while the next begins on the other and waits there
/// for the log lock (messages/writer.rs, "overlap").
const WRITER_CONNECTIONS: u32 = 2;

/// Prepared statements kept on a connection that writes the writer's batches:
/// its fixed set of texts ([`fixed`]: up to nine sizes per statement kind on
/// SQLite and MySQL) and every other write transaction's, with room to spare.
const WRITER_STATEMENT_CACHE: usize = 512;

/// How many of a pool's connections stay open when it is idle.
#[derive(Debug, Clone, Copy)]
enum KeepOpen {
    /// None: they close after an idle timeout (SQLite's read pool).
    NoneAfter(Duration),
    /// One, so the first request after a quiet spell finds it.
    One,
    /// All of them (the writer's, which needs both at once), opened lazily
    /// and kept however old or idle.
    All,
}

async fn connect_pool(
    url: &str,
    max_connections: u32,
    statement_cache: usize,
    keep_open: KeepOpen,
) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.to_string());
    let min_connections = match keep_open {
        KeepOpen::NoneAfter(idle) => {
            options.idle_timeout(idle);
            0
        }
        KeepOpen::One => 1.min(max_connections),
        // Opened lazily: sqlx would otherwise retry a refused one until its
        // acquire timeout (30 s) before giving an answer;
        // [`Db::with_own_write_connections`] checks within seconds instead.
        // Never closed for age or idleness either: reopened inside a batch,
        // one would lose its prepared statements and could meet the
        // server's connection limit there.
        KeepOpen::All => {
            options
                .connect_lazy(true)
                .idle_timeout(None::<Duration>)
                .max_lifetime(None::<Duration>);
            max_connections
        }
    };
    // sqlx pings a connection before lending it out: a round trip (on SQLite
    // a hop to the connection's thread and back) in front of every
    // transaction, 0.3 ms of each writer batch under W1-light (issue 20). A
    // SQLite connection is a file in this process and cannot be dropped under
    // us; a server connection is pinged only once it has sat idle long enough
    // for a server, proxy or firewall to have dropped it.
    if url.starts_with("sqlite:") {
        options.test_before_acquire(false);
    } else {
        options.test_before_acquire_if_idle_for(PING_IF_IDLE_FOR);
    }
    options
        .max_connections(max_connections)
        .min_connections(min_connections)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false)
        // SQLite durability: WAL lets readers run beside the writer; synchronous=FULL
        // fsyncs the WAL on every commit, so a 201 survives power loss, not just a
        // crash of the process. Group commit (messages/writer.rs) keeps that affordable.
        .map_sqlx_sqlite_opts(move |opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .create_if_missing(true)
                // A multi-row INSERT in a transaction keeps a statement
                // journal (to undo just that statement): in memory, not in a
                // temporary file written with a system call per page. It was
                // 7 % of the server's CPU under W1 (issue 20).
                .pragma("temp_store", "memory")
                .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
                .statement_cache_capacity(statement_cache)
        })
        .map_sqlx_postgres_opts(move |opts| opts.statement_cache_capacity(statement_cache))
        .map_sqlx_mysql_opts(move |opts| opts.statement_cache_capacity(statement_cache));
    // MySQL and MariaDB keep the server's sql_mode, which is strict
    // (STRICT_TRANS_TABLES) by default on every supported version; sqlx adds
    // utf8mb4 and UTC to each session.
    let mut pool = Database::connect(options).await?;
    pool.set_metric_callback(count_statement);
    Ok(pool)
}

/// Whether `pool` lends `n` connections at once within a few seconds: a
/// server at its connection limit refuses the last, and sqlx would retry
/// it for every batch until its acquire timeout.
async fn holds_open(pool: &DatabaseConnection, n: u32) -> bool {
    async fn take<DB: sea_orm::sqlx::Database>(pool: &Pool<DB>, n: u32) -> bool {
        let mut held = Vec::new();
        for _ in 0..n {
            match pool.acquire().await {
                Ok(conn) => held.push(conn),
                Err(_) => return false,
            }
        }
        true
    }
    let all = async {
        match pool.get_database_backend() {
            DbBackend::Postgres => take(pool.get_postgres_connection_pool(), n).await,
            DbBackend::MySql => take(pool.get_mysql_connection_pool(), n).await,
            _ => true,
        }
    };
    tokio::time::timeout(Duration::from_secs(5), all)
        .await
        .unwrap_or(false)
}

fn create_sqlite_folder(url: &str) -> anyhow::Result<()> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the folder {}", parent.display()))?;
    }
    create_private_file(std::path::Path::new(path))
}

/// A new SQLite database starts as an empty file only its owner may read: it
/// holds phone numbers, messages and token hashes. SQLite gives its `-wal` and
/// `-shm` files the database file's permissions. An existing file is left as
/// it is.
fn create_private_file(path: &std::path::Path) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(PRIVATE_MODE);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(err) => Err(err).with_context(|| format!("cannot create {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The writer overlaps its batches only with two connections of its own:
    /// given them, it keeps both open; under a login allowed two connections
    /// in all (the node's pool takes one), it keeps one, does not overlap,
    /// and still writes.
    #[tokio::test]
    async fn the_writer_overlaps_only_with_two_connections_postgres() {
        let variable = "TEST_POSTGRES_URL";
        let Some((name, url, db)) = testing::scratch(variable).await else {
            return;
        };
        let (writer, overlap) = db.with_own_write_connections().await;
        assert!(overlap, "two connections given");
        assert_eq!(writer.write.get_postgres_connection_pool().size(), 2);
        writer.close_own_write_connection().await;
        let role = format!("{name}_two");
        let limited_url = url.replacen("://postgres@", &format!("://{role}@"), 1);
        assert_ne!(
            limited_url, url,
            "TEST_POSTGRES_URL names the user postgres"
        );
        for sql in [
            format!("DROP ROLE IF EXISTS {role}"),
            format!("CREATE ROLE {role} LOGIN CONNECTION LIMIT 2"),
            format!("GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}"),
            format!("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}"),
        ] {
            testing::execute(&db, &sql).await;
        }
        let limited = Db::connect(&limited_url, 1).await.unwrap();
        let (writer, overlap) = limited.with_own_write_connections().await;
        assert!(!overlap, "one connection left for the writer");
        let txn = writer.begin().await.unwrap();
        txn.execute_unprepared("UPDATE sync_log_counters SET last_seq = last_seq")
            .await
            .unwrap();
        txn.commit().await.unwrap();
        writer.close_own_write_connection().await;
        limited.disconnect().await;
        testing::drop_scratch(variable, &name, db).await;
        let base = std::env::var(variable).unwrap();
        let admin = Db::connect(&base, 1).await.unwrap();
        testing::execute(&admin, &format!("DROP ROLE {role}")).await;
        admin.disconnect().await;
    }

    /// A write side found busy is not trimmed until it has been quiet for
    /// [`QUIET_BEFORE_TRIM`], then once per quiet spell, and the connection
    /// still writes after it.
    #[tokio::test]
    async fn the_write_connection_is_trimmed_once_per_quiet_spell() {
        let (_dir, db) = testing::sqlite().await;
        for _ in 0..=QUIET_MAX_TRANSACTIONS {
            db.begin().await.unwrap().commit().await.unwrap();
        }
        assert!(!db.trim_when_quiet().await.unwrap(), "busy: kept");
        // As if that busy look had been a quiet spell ago.
        let spell = QUIET_BEFORE_TRIM.as_millis() as i64 + 1;
        db.quiet.busy_ms.fetch_sub(spell, Ordering::Relaxed);
        assert!(db.trim_when_quiet().await.unwrap(), "quiet: trimmed");
        assert!(!db.trim_when_quiet().await.unwrap(), "once per spell");
        assert!(testing::user(&db, "after").await > 0);
    }
}
