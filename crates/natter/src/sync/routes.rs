//! HTTP handler for the sync log.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::dto::{ResyncRequired, SyncPage, SyncQuery};
use super::service;
use crate::error::ApiResult;
use crate::http::auth::AuthUser;
use crate::http::query::ValidQuery;
use crate::messages::MessagesState;

/// Everything addressed to the caller after `since`, in order, once. The body
/// is [`SyncPage`], rendered by the service without re-parsing stored events.
#[utoipa::path(get, path = "/api/sync", tag = "sync", security(("bearer" = [])), params(SyncQuery),
    responses((status = 200, body = SyncPage), (status = 410, body = ResyncRequired)))]
pub async fn sync(
    State(state): State<MessagesState>,
    auth: AuthUser,
    ValidQuery(query): ValidQuery<SyncQuery>,
) -> ApiResult<impl IntoResponse> {
    let body = service::page(
        &state.app,
        &state.writer,
        auth.user_id,
        query.since,
        query.limit,
    )
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body))
}
