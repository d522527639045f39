//! Memory upkeep: what a node keeps in memory for users and sockets that have
//! gone quiet is dropped every [`UPKEEP_EVERY`], so memory comes back after a
//! load (issue 20; docs/benchmarks.md, "Memory after a W2 run"). Each step is
//! cheap and changes nothing a caller sees: expired cache entries and grants
//! are never answered anyway, and a map only shrinks when mostly empty. Once
//! writes have stopped for a while, the SQLite write connection gives back
//! its page cache and prepared statements ([`crate::db::Db::trim_when_quiet`]).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::background::Every;
use crate::state::AppState;

pub const UPKEEP_EVERY: Duration = Duration::from_secs(10);

/// Runs [`tidy`] every [`UPKEEP_EVERY`] until `stop`.
pub async fn run(state: AppState, stop: CancellationToken) {
    let mut every = Every::new(UPKEEP_EVERY, stop);
    while every.tick().await {
        tidy(&state);
        if let Err(err) = state.db.trim_when_quiet().await {
            tracing::warn!(error = %err, "could not trim the SQLite write connection");
        }
    }
}

/// One round of upkeep.
pub fn tidy(state: &AppState) {
    // The recorder keeps every histogram observation until it is drained; it
    // drains on a scrape of /metrics, and a node nobody scrapes would keep
    // them all (several per message).
    state.metrics.run_upkeep();
    state.caches.tokens.purge_expired();
    state.caches.summaries.purge_expired();
    state.caches.session_activity.purge_due();
    state.realtime.tidy();
}
