//! Group requests and responses (a group is a Chat of type `group`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::Validate;

use crate::http::validate::not_blank;

use crate::resources::chat::Role;

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct CreateGroupRequest {
    #[validate(length(min = 1, max = 100), custom(function = "not_blank"))]
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    #[validate(length(max = 2048))]
    #[schema(max_length = 2048)]
    pub description: Option<String>,
    /// User ids to add besides the creator: at most 100,000 entries (the
    /// ceiling of `GROUP_MAX_MEMBERS`); more distinct users than the group
    /// may hold is 422 too.
    #[serde(default)]
    #[validate(length(
        max = 100000,
        message = "The :attribute field must not have more than 100000 items."
    ))]
    #[schema(max_items = 100000)]
    pub participants: Vec<i64>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct UpdateGroupRequest {
    #[validate(length(min = 1, max = 100), custom(function = "not_blank"))]
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    #[validate(length(max = 2048))]
    #[schema(max_length = 2048)]
    pub description: Option<String>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct AddMembersRequest {
    /// User ids to add: 1 to 100,000 entries (the ceiling of
    /// `GROUP_MAX_MEMBERS`); more distinct users than the group may still
    /// take is 422 too.
    #[validate(length(
        min = 1,
        max = 100000,
        message = "The :attribute field must have between 1 and 100000 users."
    ))]
    #[schema(min_items = 1, max_items = 100000)]
    pub user_ids: Vec<i64>,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
pub struct RoleRequest {
    pub role: Role,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InviteLink {
    pub code: String,
    pub url: String,
}
