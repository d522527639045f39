//! `AuthUser`: the caller, from `Authorization: Bearer <id>|<secret>`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use crate::auth::service::{TokenKind, authenticate};
use crate::error::ApiError;
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

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or(ApiError::Unauthenticated)?;
        let found = authenticate(state, token, TokenKind::Access).await?;
        Ok(AuthUser {
            user_id: found.user_id,
            session_id: found.session_id,
            token_id: found.token_id,
        })
    }
}
