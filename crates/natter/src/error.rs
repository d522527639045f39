//! The one error type every route returns, and the table that turns it into the
//! status codes and Laravel-shaped bodies of API.md. Written once, here.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sea_orm::{DbErr, SqlErr};
use serde_json::json;

/// Field name -> messages, as in Laravel's `errors` object. A BTreeMap keeps the
/// order stable so "the first error" is deterministic.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 422: validation failed.
    #[error("validation failed: {message}")]
    Validation {
        message: String,
        errors: FieldErrors,
    },
    /// 400: a well-formed request the server refuses (wrong OTP, bad state).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 401: no token, or an unknown, revoked or expired one.
    #[error("unauthenticated")]
    Unauthenticated,
    /// 403: authenticated but not allowed.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404: no such thing, or a thing the caller may not know about.
    #[error("not found: {0}")]
    NotFound(String),
    /// 409: a state conflict.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 410: a sync position older than the log keeps; the client must reload.
    #[error("resync required")]
    GoneResync { latest_seq: i64 },
    /// 410: a thing that existed and is no more for this caller (a view-once
    /// file already opened).
    #[error("gone: {0}")]
    Gone(String),
    /// 413: a body larger than the configured limit.
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    /// 415: an upload whose sniffed type is not allowed.
    #[error("unsupported media: {0}")]
    UnsupportedMedia(String),
    /// 429: rate limited; retry after this many seconds.
    #[error("rate limited for {retry_after_secs}s")]
    RateLimited { retry_after_secs: u64 },
    /// 503: a dependency the route needs is not configured or not reachable.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// 500: the database failed. Logged with the request id, never sent.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// 500: a bug, or a failure outside the database. The cause is logged with
    /// the request id, never sent.
    #[error("internal error: {0}")]
    Internal(#[from] anyhow::Error),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// A 422 for one field.
    pub fn field(field: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        let mut errors = FieldErrors::new();
        errors.insert(field.to_string(), vec![message.clone()]);
        ApiError::Validation { message, errors }
    }

    /// A 422 from several fields' messages; the first message becomes the summary.
    pub fn fields(errors: FieldErrors) -> ApiError {
        let message = errors
            .values()
            .flat_map(|messages| messages.first())
            .next()
            .cloned()
            .unwrap_or_else(|| "The given data was invalid.".to_string());
        ApiError::Validation { message, errors }
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::NotFound(format!("{what} not found"))
    }

    pub fn forbidden(why: impl Into<String>) -> ApiError {
        ApiError::Forbidden(why.into())
    }

    /// A 422 on `field` when `err` violates `key`; any other error stays a
    /// database error.
    pub fn unique_as_field(err: DbErr, key: &UniqueKey, field: &str, message: &str) -> ApiError {
        if key.violated_by(&err) {
            ApiError::field(field, message)
        } else {
            ApiError::Db(err)
        }
    }

    /// True when this is a database error violating any unique constraint.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, ApiError::Db(err) if is_unique_violation(err))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::GoneResync { .. } | ApiError::Gone(_) => StatusCode::GONE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMedia(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Db(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            ApiError::Validation { message, errors } => {
                json!({ "message": message, "errors": errors })
            }
            ApiError::Unauthenticated => json!({ "message": "Unauthenticated." }),
            ApiError::GoneResync { latest_seq } => {
                json!({ "success": false, "message": "resync required", "latest_seq": latest_seq })
            }
            ApiError::RateLimited { .. } => {
                json!({ "success": false, "message": "Too many requests." })
            }
            ApiError::Db(cause) => server_error(&format!("{cause}")),
            ApiError::Internal(cause) => server_error(&format!("{cause:#}")),
            ApiError::BadRequest(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::Conflict(m)
            | ApiError::Gone(m)
            | ApiError::PayloadTooLarge(m)
            | ApiError::UnsupportedMedia(m)
            | ApiError::Unavailable(m) => json!({ "success": false, "message": m }),
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let ApiError::RateLimited { retry_after_secs } = self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after_secs.max(1)),
            );
        }
        response
    }
}

/// The body of every 500, after logging the cause. The request-id layer adds
/// the id to the current span, so the log line and the client's x-request-id
/// header can be matched.
fn server_error(cause: &str) -> serde_json::Value {
    tracing::error!(error = cause, "request failed with a server error");
    json!({ "success": false, "message": "Server error." })
}

/// True when a database error is a unique-constraint violation, on any of the three
/// backends. Callers retry as a lookup (two requests creating one thing meet
/// at the index), or answer with [`ApiError::unique_as_field`].
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// A unique index, as the three databases name it when it is violated:
/// PostgreSQL and MySQL by the index name, SQLite by `table.column` list.
#[derive(Debug, Clone, Copy)]
pub struct UniqueKey {
    pub table: &'static str,
    pub name: &'static str,
    pub columns: &'static [&'static str],
}

impl UniqueKey {
    /// True when `err` is a violation of this index.
    pub fn violated_by(&self, err: &DbErr) -> bool {
        let Some(SqlErr::UniqueConstraintViolation(message)) = err.sql_err() else {
            return false;
        };
        let sqlite = self
            .columns
            .iter()
            .map(|column| format!("{}.{column}", self.table))
            .collect::<Vec<_>>()
            .join(", ");
        message.contains(self.name) || message.contains(&sqlite)
    }
}
