//! `ValidQuery<T>`: the query string, parsed and validated like a JSON body.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use validator::Validate;

use super::laravel::{human_field, validation_error};
use crate::error::ApiError;

pub struct ValidQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ValidQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let deserializer =
            serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        let parsed: T = serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let text = err.inner().to_string();
            let field = match text
                .strip_prefix("duplicate field `")
                .and_then(|r| r.split('`').next())
            {
                Some(name) => name.to_string(),
                None => err.path().to_string(),
            };
            let field = if field.is_empty() || field == "." {
                "query".to_string()
            } else {
                field
            };
            let message = format!("The {} field is invalid.", human_field(&field));
            ApiError::field(&field, message)
        })?;
        parsed.validate().map_err(validation_error)?;
        Ok(ValidQuery(parsed))
    }
}
