//! `AuthUser`: the caller, from `Authorization: Bearer <id>|<secret>`.

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use crate::error::ApiError;
use crate::sessions::service::{TokenKind, authenticate};
use crate::state::AppState;

/// The authenticated caller of a route that needs an access token.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub user_id: i64,
    pub session_id: i64,
    pub token_id: i64,
}

/// The bearer token of a request, if it has one.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Works with any router state that holds the [`AppState`] (features with
/// their own state, such as messages with the writer, compose it).
impl<S> FromRequestParts<S> for AuthUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or(ApiError::Unauthenticated)?;
        let found = authenticate(&AppState::from_ref(state), token, TokenKind::Access).await?;
        Ok(AuthUser {
            user_id: found.user_id,
            session_id: found.session_id,
            token_id: found.token_id,
        })
    }
}
