//! The one error type every route returns, and the table that turns it into the
//! status codes and Laravel-shaped bodies of API.md. Written once, here.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use redis::{ErrorKind as RedisErrorKind, RedisError, ServerErrorKind};
use sea_orm::sqlx::Error as SqlxError;
use sea_orm::{DbErr, RuntimeErr, SqlErr};
use serde_json::json;

use crate::outage::{REMIND_EVERY, Throttle};

/// What a client is told to wait (`Retry-After`, seconds) when a dependency
/// (the database, Redis) cannot be reached: long enough not to hammer it,
/// short enough that a restart is barely noticed.
pub const DEPENDENCY_RETRY_AFTER_SECS: u64 = 5;

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

    /// The dependency whose being unreachable caused this error ("database",
    /// "Redis"), if that is what it is: the request is answered 503 with
    /// `Retry-After`, not 500, since nothing is wrong with it or with natter.
    pub fn dependency_down(&self) -> Option<&'static str> {
        match self {
            ApiError::Db(err) => db_unreachable(err).then_some("database"),
            ApiError::Internal(err) => unreachable_in_chain(err),
            _ => None,
        }
    }

    pub fn status(&self) -> StatusCode {
        if self.dependency_down().is_some() {
            return StatusCode::SERVICE_UNAVAILABLE;
        }
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
        if let Some(dependency) = self.dependency_down() {
            return dependency_unavailable(dependency, &self);
        }
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

/// 503 with `Retry-After` for a request that met an unreachable dependency.
/// Logged as a warning, at most one line per dependency every 30 s (with the
/// number of requests answered so meanwhile): under load an outage would
/// otherwise write a line per request.
fn dependency_unavailable(dependency: &'static str, err: &ApiError) -> Response {
    static DATABASE: Throttle = Throttle::new(REMIND_EVERY);
    static REDIS: Throttle = Throttle::new(REMIND_EVERY);
    let throttle = if dependency == "Redis" {
        &REDIS
    } else {
        &DATABASE
    };
    if let Some(held_back) = throttle.allow() {
        tracing::warn!(
            error = %err,
            dependency,
            also_answered_503 = held_back,
            "{dependency} unreachable: answering 503"
        );
    }
    let body = json!({ "success": false, "message": "Service temporarily unavailable." });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(DEPENDENCY_RETRY_AFTER_SECS),
    );
    response
}

/// A database error that says the database cannot be reached (no connection
/// to be had, the connection broke), not that a statement was wrong.
pub fn db_unreachable(err: &DbErr) -> bool {
    match err {
        DbErr::ConnectionAcquire(_) => true,
        DbErr::Conn(RuntimeErr::SqlxError(cause))
        | DbErr::Exec(RuntimeErr::SqlxError(cause))
        | DbErr::Query(RuntimeErr::SqlxError(cause)) => matches!(
            **cause,
            SqlxError::Io(_)
                | SqlxError::Tls(_)
                | SqlxError::PoolTimedOut
                | SqlxError::PoolClosed
                | SqlxError::WorkerCrashed
        ),
        _ => false,
    }
}

/// A Redis error that says Redis cannot be reached or cannot serve yet
/// (refused, dropped, timed out, still loading its data after a restart).
pub fn redis_unreachable(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_timeout()
        || matches!(
            err.kind(),
            RedisErrorKind::Server(ServerErrorKind::BusyLoading | ServerErrorKind::MasterDown)
        )
}

/// The unreachable dependency anywhere in an error's chain of causes.
fn unreachable_in_chain(err: &anyhow::Error) -> Option<&'static str> {
    err.chain().find_map(|cause| {
        if cause
            .downcast_ref::<RedisError>()
            .is_some_and(redis_unreachable)
        {
            return Some("Redis");
        }
        cause
            .downcast_ref::<DbErr>()
            .is_some_and(db_unreachable)
            .then_some("database")
    })
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sea_orm::error::ConnAcquireErr;

    use super::*;

    fn io_error() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused")
    }

    #[test]
    fn an_unreachable_database_is_503_with_retry_after() {
        let down = [
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            DbErr::Conn(RuntimeErr::SqlxError(Arc::new(SqlxError::Io(io_error())))),
            DbErr::Query(RuntimeErr::SqlxError(Arc::new(SqlxError::PoolClosed))),
        ];
        for err in down {
            let response = ApiError::Db(err).into_response();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        }
        // A wrong statement is still a bug: 500, no Retry-After.
        let bug = ApiError::Db(DbErr::Custom("syntax error".into())).into_response();
        assert_eq!(bug.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(bug.headers().get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn an_unreachable_redis_anywhere_in_the_chain_is_503() {
        let refused = RedisError::from(io_error());
        let err = anyhow::Error::new(refused).context("rate limiter");
        assert_eq!(ApiError::Internal(err).dependency_down(), Some("Redis"));
        let other = anyhow::anyhow!("a bug");
        assert_eq!(
            ApiError::Internal(other).status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
