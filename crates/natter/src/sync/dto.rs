//! The sync log on the wire.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::clock::Timestamp;
use crate::synclog::events::logged_names_schema;

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncQuery {
    /// The last `seq` the client has seen (exclusive); 0 for everything kept.
    #[validate(range(min = 0))]
    #[serde(default)]
    #[param(minimum = 0)]
    pub since: i64,
    /// Events per page (default 500, at most 1000).
    #[validate(range(min = 1, max = 1000))]
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 1000)]
    pub limit: u64,
}

fn default_limit() -> u64 {
    500
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncEvent {
    pub seq: i64,
    #[schema(schema_with = logged_names_schema)]
    pub event: String,
    /// The same object the socket carries (here an object, not a string).
    #[schema(value_type = Object)]
    pub data: Box<RawValue>,
    pub created_at: Timestamp,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncPage {
    pub events: Vec<SyncEvent>,
    /// Pass as `since` for the next page; equals `since` when the page is empty.
    pub next_since: i64,
    pub has_more: bool,
}

/// 410 when `since` is older than the log keeps.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResyncRequired {
    pub success: bool,
    /// "resync required"
    pub message: String,
    /// natter's addition: the newest position, from which a client that has
    /// reloaded its state over REST can follow the log again.
    pub latest_seq: i64,
}
