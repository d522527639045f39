//! Page-number pagination as the guide shapes it:
//! `{"<items>": [...], "pagination": {"current_page", "total_pages", "total_items"}}`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

#[derive(Debug, Clone, Copy, Deserialize, Validate, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page number, from 1.
    #[validate(range(min = 1, max = 1_000_000))]
    #[serde(default = "first_page")]
    #[param(minimum = 1, maximum = 1000000)]
    pub page: u64,
    /// Items per page (default 20, at most 100).
    #[validate(range(min = 1, max = 100))]
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 100)]
    pub limit: u64,
}

fn first_page() -> u64 {
    1
}

fn default_limit() -> u64 {
    20
}

impl PageQuery {
    pub fn offset(&self) -> u64 {
        (self.page - 1) * self.limit
    }

    pub fn pagination(&self, total_items: u64) -> Pagination {
        Pagination {
            current_page: self.page,
            total_pages: total_items.div_ceil(self.limit),
            total_items,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Pagination {
    pub current_page: u64,
    pub total_pages: u64,
    pub total_items: u64,
}
