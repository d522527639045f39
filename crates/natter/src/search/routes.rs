//! HTTP handler for search.

use axum::Json;
use axum::extract::State;

use super::dto::{SearchQuery, SearchResults};
use super::service;
use crate::error::ApiResult;
use crate::http::auth::AuthUser;
use crate::http::query::ValidQuery;
use crate::state::AppState;

/// Searches the messages the caller could see: of chats they are or were in,
/// sent while they were a member; never deleted, expired, view-once or
/// system messages. Best match first (newer first among equals), paged with
/// `before`.
#[utoipa::path(get, path = "/api/search", tag = "search", security(("bearer" = [])),
    params(SearchQuery),
    responses((status = 200, body = SearchResults),
        (status = 422, description = "q missing, empty or over 100 characters; a bad limit or before")))]
pub async fn search(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidQuery(query): ValidQuery<SearchQuery>,
) -> ApiResult<Json<SearchResults>> {
    Ok(Json(service::search(&state, auth.user_id, query).await?))
}
