//! HTTP handler for the sync log.

use axum::Json;
use axum::extract::State;

use super::dto::{ResyncRequired, SyncPage, SyncQuery};
use super::service;
use crate::error::ApiResult;
use crate::http::auth::AuthUser;
use crate::http::query::ValidQuery;
use crate::state::AppState;

/// Everything addressed to the caller after `since`, in order, once.
#[utoipa::path(get, path = "/api/sync", tag = "sync", security(("bearer" = [])), params(SyncQuery),
    responses((status = 200, body = SyncPage), (status = 410, body = ResyncRequired)))]
pub async fn sync(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidQuery(query): ValidQuery<SyncQuery>,
) -> ApiResult<Json<SyncPage>> {
    Ok(Json(
        service::page(&state, auth.user_id, query.since, query.limit).await?,
    ))
}
