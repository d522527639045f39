//! Contacts on the wire.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::clock::Timestamp;
use crate::http::pagination::Pagination;
use crate::resources::user::UserView;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContactView {
    pub id: i64,
    pub contact_name: Option<String>,
    pub is_blocked: bool,
    pub added_at: Timestamp,
    pub user: UserView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContactList {
    pub contacts: Vec<ContactView>,
    pub pagination: Pagination,
}

/// Either a phone number (with an optional country code, defaulting to the
/// caller's) or a user id.
#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct AddContactRequest {
    #[validate(length(min = 1, max = 32))]
    #[schema(min_length = 1, max_length = 32)]
    pub phone_number: Option<String>,
    #[validate(length(min = 1, max = 5))]
    #[schema(min_length = 1, max_length = 5)]
    pub country_code: Option<String>,
    #[validate(range(min = 1))]
    #[schema(minimum = 1)]
    pub contact_user_id: Option<i64>,
    #[validate(length(max = 100))]
    #[schema(max_length = 100)]
    pub contact_name: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct SyncContactsRequest {
    /// At most 1,000 numbers, in any common format.
    #[validate(length(
        max = 1000,
        message = "The :attribute field must not have more than 1000 items."
    ))]
    #[schema(max_items = 1000)]
    pub phone_numbers: Vec<String>,
    #[validate(length(min = 1, max = 5))]
    #[schema(min_length = 1, max_length = 5)]
    pub country_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegisteredNumber {
    /// The number in E.164.
    pub phone_number: String,
    pub user: UserView,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncContactsResponse {
    pub registered: Vec<RegisteredNumber>,
    /// Entries that are not phone numbers, as sent.
    pub invalid: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BlockResponse {
    pub success: bool,
    pub is_blocked: bool,
}
