//! Open sockets by node, for `natter stats`. Nothing else records how many
//! sockets each node holds (Redis presence counts signed-in users' sockets
//! per key, and only with Redis), so every node keeps one row of
//! `node_sockets` (its NODE_ID, its count, when) refreshed every
//! [`REPORT_EVERY`], and deletes it when it stops cleanly. A row older than
//! [`STALE_AFTER`] belongs to a node that died or lost its database.

use std::time::Duration;

use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DbErr, Order};
use tokio_util::sync::CancellationToken;

use crate::background::Every;
use crate::clock::now_ms;
use crate::state::AppState;

pub const REPORT_EVERY: Duration = Duration::from_secs(5);
pub const STALE_AFTER: Duration = Duration::from_secs(30);

const TABLE: &str = "node_sockets";

/// One node's last report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSockets {
    pub node_id: String,
    pub sockets: i64,
    pub updated_at: i64,
}

/// Reports this node's open sockets until `stop`, then removes its row.
pub async fn report(state: AppState, stop: CancellationToken) {
    let mut every = Every::new(REPORT_EVERY, stop);
    while every.tick().await {
        let sockets = state.realtime.hub.open_count() as i64;
        if let Err(err) = upsert(&state, sockets).await {
            tracing::debug!(error = %err, "could not record this node's socket count");
        }
    }
    if let Err(err) = remove(&state).await {
        tracing::debug!(error = %err, "could not remove this node's socket count");
    }
}

async fn upsert(state: &AppState, sockets: i64) -> Result<(), DbErr> {
    let insert = Query::insert()
        .into_table(Alias::new(TABLE))
        .columns([
            Alias::new("node_id"),
            Alias::new("sockets"),
            Alias::new("updated_at"),
        ])
        .values_panic([
            state.config.node_id.clone().into(),
            sockets.into(),
            now_ms().into(),
        ])
        .on_conflict(
            OnConflict::column(Alias::new("node_id"))
                .update_columns([Alias::new("sockets"), Alias::new("updated_at")])
                .to_owned(),
        )
        .to_owned();
    let db = &state.db.write;
    db.execute(&insert).await?;
    Ok(())
}

async fn remove(state: &AppState) -> Result<(), DbErr> {
    let delete = Query::delete()
        .from_table(Alias::new(TABLE))
        .and_where(Expr::col(Alias::new("node_id")).eq(state.config.node_id.clone()))
        .to_owned();
    let db = &state.db.write;
    db.execute(&delete).await?;
    Ok(())
}

/// Every node's last report, by node id.
pub async fn all(state: &AppState) -> Result<Vec<NodeSockets>, DbErr> {
    let select = Query::select()
        .columns([
            Alias::new("node_id"),
            Alias::new("sockets"),
            Alias::new("updated_at"),
        ])
        .from(Alias::new(TABLE))
        .order_by(Alias::new("node_id"), Order::Asc)
        .to_owned();
    let db = &state.db.read;
    let rows = db.query_all(&select).await?;
    rows.iter()
        .map(|row| {
            Ok(NodeSockets {
                node_id: row.try_get("", "node_id")?,
                sockets: row.try_get("", "sockets")?,
                updated_at: row.try_get("", "updated_at")?,
            })
        })
        .collect()
}
