//! SQLite's WAL checkpoints, off the writer's path.
//!
//! By default the connection that commits runs a checkpoint itself whenever
//! the WAL passes 1,000 pages, inside that commit: under W1 it was 5 % of the
//! server's CPU, spent while the group-commit writer (and every send waiting on
//! it) stood still, and it copied a page the writer touches in every batch (an
//! index's last page, a chat's page) once per checkpoint, every few batches.
//! Here the write connection never checkpoints ([`WRITER_PRAGMAS`]); a server
//! runs [`run`], which checkpoints from a read connection every
//! [`CHECKPOINT_EVERY`] in PASSIVE mode (it takes no lock the writer needs and
//! stops at the oldest reader), so a hot page is copied once per period however
//! many batches rewrote it. [`super::Db::close`] still checkpoints and
//! truncates the WAL at the end, and a command that writes without a server
//! (`natter migrate`, `natter users`) leaves its few pages to the next
//! checkpoint or close.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend};
use tokio_util::sync::CancellationToken;

use super::Db;
use crate::background::Every;

/// How often a server checkpoints its SQLite WAL.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

/// Set on the SQLite write connection: it leaves checkpoints to [`run`].
pub const WRITER_PRAGMAS: &[(&str, &str)] = &[("wal_autocheckpoint", "0")];

/// Checkpoints `db`'s WAL every [`CHECKPOINT_EVERY`] until `stop`; returns at
/// once on PostgreSQL and MySQL.
pub async fn run(db: Db, stop: CancellationToken) {
    if db.backend != DbBackend::Sqlite {
        return;
    }
    let mut every = Every::new(CHECKPOINT_EVERY, stop);
    while every.tick().await {
        if let Err(err) = once(&db).await {
            tracing::warn!(error = %err, "could not checkpoint the SQLite WAL");
        }
    }
}

/// One PASSIVE checkpoint: copies what no reader still needs, waits for nobody.
pub async fn once(db: &Db) -> Result<(), sea_orm::DbErr> {
    db.read
        .execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)")
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The write connection leaves the WAL alone however long it grows (on
    /// its own it would checkpoint at 1,000 pages); one checkpoint copies it
    /// into the database file.
    #[tokio::test]
    async fn the_writer_leaves_checkpoints_to_the_checkpointer() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.db");
        let db = Db::connect(&format!("sqlite://{}", file.display()), 2)
            .await
            .unwrap();
        db.write
            .execute_unprepared("CREATE TABLE t (x BLOB)")
            .await
            .unwrap();
        // About 1,500 pages of 4 KiB, one commit each.
        for _ in 0..300 {
            db.write
                .execute_unprepared("INSERT INTO t VALUES (randomblob(20000))")
                .await
                .unwrap();
        }
        let size = |path: &std::path::Path| std::fs::metadata(path).unwrap().len();
        let wal = dir.path().join("c.db-wal");
        assert!(size(&wal) > 6_000_000, "the WAL kept every page");
        assert!(size(&file) < 1_000_000, "nothing was checkpointed yet");
        once(&db).await.unwrap();
        assert!(size(&file) > 6_000_000, "the checkpoint copied the pages");
        db.close().await;
    }
}
