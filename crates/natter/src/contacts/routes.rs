//! HTTP handlers for contacts.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::dto::{
    AddContactRequest, BlockResponse, ContactList, ContactView, SyncContactsRequest,
    SyncContactsResponse,
};
use super::service;
use crate::error::ApiResult;
use crate::http::auth::AuthUser;
use crate::http::json::ValidJson;
use crate::http::pagination::PageQuery;
use crate::http::path::ValidPath;
use crate::http::query::ValidQuery;
use crate::http::reply::Success;
use crate::state::AppState;

/// The caller's contacts, oldest first.
#[utoipa::path(get, path = "/api/contacts", tag = "contacts", security(("bearer" = [])),
    params(PageQuery), responses((status = 200, body = ContactList)))]
pub async fn list(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidQuery(page): ValidQuery<PageQuery>,
) -> ApiResult<Json<ContactList>> {
    Ok(Json(service::list(&state, auth.user_id, page).await?))
}

/// Adds a contact by phone number or user id (200 with the existing one when already added).
#[utoipa::path(post, path = "/api/contacts", tag = "contacts", security(("bearer" = [])),
    request_body = AddContactRequest,
    responses((status = 201, body = ContactView), (status = 200, body = ContactView, description = "Already a contact"),
        (status = 404, description = "No user has that number"), (status = 422, description = "Validation failed"),
        (status = 429, description = "Too many users looked up this hour (USER_LOOKUPS_PER_HOUR)")))]
pub async fn add(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidJson(request): ValidJson<AddContactRequest>,
) -> ApiResult<(StatusCode, Json<ContactView>)> {
    let (contact, created) = service::add(&state, auth.user_id, request).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(contact)))
}

/// Tells which of up to 1,000 phone numbers belong to users.
#[utoipa::path(post, path = "/api/contacts/sync", tag = "contacts", security(("bearer" = [])),
    request_body = SyncContactsRequest,
    responses((status = 200, body = SyncContactsResponse), (status = 429, description = "Rate limited")))]
pub async fn sync(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidJson(request): ValidJson<SyncContactsRequest>,
) -> ApiResult<Json<SyncContactsResponse>> {
    Ok(Json(service::sync(&state, auth.user_id, request).await?))
}

/// Blocks or unblocks a contact.
#[utoipa::path(put, path = "/api/contacts/{contact}/block", tag = "contacts", security(("bearer" = [])),
    params(("contact" = i64, Path, description = "Contact id")),
    responses((status = 200, body = BlockResponse), (status = 404, description = "Not the caller's contact")))]
pub async fn toggle_block(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(contact): ValidPath<i64>,
) -> ApiResult<Json<BlockResponse>> {
    Ok(Json(
        service::toggle_block(&state, auth.user_id, contact).await?,
    ))
}

/// Removes a contact.
#[utoipa::path(delete, path = "/api/contacts/{contact}", tag = "contacts", security(("bearer" = [])),
    params(("contact" = i64, Path, description = "Contact id")),
    responses((status = 200, body = Success), (status = 404, description = "Not the caller's contact")))]
pub async fn delete(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(contact): ValidPath<i64>,
) -> ApiResult<Json<Success>> {
    service::delete(&state, auth.user_id, contact).await?;
    Ok(Json(Success { success: true }))
}
