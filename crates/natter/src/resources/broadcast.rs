//! A broadcast list on the wire (its owner's only), and the event that keeps
//! the owner's devices in step with their lists.

use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::Timestamp;

/// A named list of people one message can be sent to, each in a private chat.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BroadcastListView {
    pub id: i64,
    pub name: String,
    /// The recipients' user ids, in the order they were added.
    pub user_ids: Vec<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// `BroadcastListUpdated` payload: the list as it is now, or, once deleted,
/// only its id.
#[derive(Debug, Serialize, ToSchema)]
pub struct BroadcastListUpdate<'a> {
    pub id: i64,
    pub deleted: bool,
    #[schema(value_type = Option<BroadcastListView>)]
    pub broadcast_list: Option<&'a BroadcastListView>,
}
