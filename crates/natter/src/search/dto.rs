//! Search on the wire.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

use crate::resources::message::MessageView;

#[derive(Debug, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// The words to find (1..100 characters). Every word must appear in a
    /// message, each as a word or the start of one; punctuation is ignored.
    #[validate(length(min = 1, max = 100))]
    #[serde(default)]
    #[param(min_length = 1, max_length = 100)]
    pub q: String,
    /// Results per page (default 20, at most 50).
    #[validate(range(min = 1, max = 50))]
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 50)]
    pub limit: u64,
    /// The previous page's `pagination.next_before`: the results ranked
    /// below that page. An opaque cursor; leave it out for the first page.
    #[validate(length(min = 1, max = 64))]
    #[param(min_length = 1, max_length = 64)]
    pub before: Option<String>,
}

fn default_limit() -> u64 {
    20
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResult {
    pub message: MessageView,
    pub chat_id: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchPagination {
    pub has_more: bool,
    /// Pass as `before` for the next page; null on the last one.
    pub next_before: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchResults {
    /// Best match first; newer first among equally good ones.
    pub results: Vec<SearchResult>,
    pub pagination: SearchPagination,
}
