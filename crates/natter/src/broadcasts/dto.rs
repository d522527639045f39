//! Broadcast lists on the wire.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::http::validate::{distinct_ids, not_blank};
use crate::resources::broadcast::BroadcastListView;

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct CreateBroadcastListRequest {
    #[validate(length(min = 1, max = 100), custom(function = "not_blank"))]
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    /// 1 to 256 distinct user ids (WhatsApp's limit), not the caller's own.
    #[validate(
        length(
            min = 1,
            max = 256,
            message = "The :attribute field must have between 1 and 256 users."
        ),
        custom(function = "distinct_ids")
    )]
    #[schema(min_items = 1, max_items = 256)]
    pub user_ids: Vec<i64>,
}

/// Either or both; `user_ids` replaces the recipients.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct UpdateBroadcastListRequest {
    #[validate(length(min = 1, max = 100), custom(function = "not_blank"))]
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    #[validate(
        length(
            min = 1,
            max = 256,
            message = "The :attribute field must have between 1 and 256 users."
        ),
        custom(function = "distinct_ids")
    )]
    #[schema(min_items = 1, max_items = 256)]
    pub user_ids: Option<Vec<i64>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BroadcastListEnvelope {
    pub broadcast_list: BroadcastListView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BroadcastListsEnvelope {
    /// Newest first.
    pub broadcast_lists: Vec<BroadcastListView>,
}
