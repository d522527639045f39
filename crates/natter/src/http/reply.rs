//! Answers shared by routes of several features.

use serde::Serialize;
use utoipa::ToSchema;

// `{"success": true}`: a change that has nothing else to show. (A plain
// comment: a doc comment would change the OpenAPI document.)
#[derive(Debug, Serialize, ToSchema)]
pub struct Success {
    pub success: bool,
}
