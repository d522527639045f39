//! `ValidJson<T>` and `FormOrJson<T>`: the request body, parsed and
//! validated, or the 4xx of API.md.
//!
//! Every failure names the field: malformed JSON and a wrong content type are
//! 422 on `body`; a missing field, a wrong type, an unknown enum value or an
//! out-of-range number is 422 on that field; then the `validator` rules run.
//! The messages are worded as Laravel words them (laravel.rs).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;
use validator::Validate;

use super::laravel::{human_field, serde_error, validation_error};
use crate::error::ApiError;

/// A JSON body of type `T` that passed `T`'s validation rules.
pub struct ValidJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(is_json_content_type);
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| body_rejection(&rejection))?;
        let parsed: T = parse_typed(&bytes, is_json)?;
        parsed.validate().map_err(validation_error)?;
        Ok(ValidJson(parsed))
    }
}

/// A body sent as a form (`application/x-www-form-urlencoded`, what pusher-js
/// posts to the auth endpoint) or as JSON, validated like [`ValidJson`].
pub struct FormOrJson<T>(pub T);

impl<S, T> FromRequest<S> for FormOrJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|rejection| body_rejection(&rejection))?;
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        let value = if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            let pairs: serde_json::Map<String, serde_json::Value> = form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
                .collect();
            serde_json::Value::Object(pairs)
        } else {
            parse_body(&bytes, Some(is_json_content_type(&content_type)))?
        };
        let parsed: T = from_value(value)?;
        parsed.validate().map_err(validation_error)?;
        Ok(FormOrJson(parsed))
    }
}

fn is_json_content_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A body larger than the limit is 413; any other failure to read it is 400.
pub fn body_rejection(rejection: &BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge("The request body is too large.".into())
    } else {
        ApiError::BadRequest("The request body could not be read.".into())
    }
}

/// Parses a body straight into `T` in one pass. Only a body that fails is
/// parsed again, as a plain JSON value, to tell malformed JSON (422 on `body`)
/// from a bad field (422 on that field).
fn parse_typed<T: DeserializeOwned>(bytes: &[u8], is_json: Option<bool>) -> Result<T, ApiError> {
    if contains_nul_escape(bytes) {
        let value = parse_body(bytes, is_json)?;
        if let Some(field) = field_with_nul(&value, "") {
            let message = format!(
                "The {} field must not contain NUL characters.",
                human_field(&field)
            );
            return Err(ApiError::field(&field, message));
        }
    }
    let trimmed = bytes.trim_ascii_start();
    if is_json == Some(true) && trimmed.first() == Some(&b'{') {
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        if let Ok(parsed) = serde_path_to_error::deserialize::<_, T>(&mut deserializer)
            && deserializer.end().is_ok()
        {
            return Ok(parsed);
        }
    }
    from_value(parse_body(bytes, is_json)?)
}

/// JSON can carry a NUL character only as the escape `\u0000`. PostgreSQL
/// cannot store one in text, and no field natter has wants one.
fn contains_nul_escape(bytes: &[u8]) -> bool {
    bytes
        .windows(6)
        .any(|w| w[0] == b'\\' && w[1] == b'u' && w[2..].iter().all(|b| *b == b'0'))
}

/// The Laravel-style path of the first string holding a NUL, if any.
fn field_with_nul(value: &serde_json::Value, path: &str) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        serde_json::Value::String(text) if text.contains('\0') => Some(if path.is_empty() {
            "body".into()
        } else {
            path.into()
        }),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| field_with_nul(v, &join(&i.to_string()))),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                return Some(join(k));
            }
            field_with_nul(v, &join(k))
        }),
        _ => None,
    }
}

/// An empty body counts as `{}` (so routes whose fields are all optional work
/// without one); anything else must be a JSON object sent as JSON.
pub fn parse_body(bytes: &[u8], is_json: Option<bool>) -> Result<serde_json::Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Object(Default::default()));
    }
    if is_json != Some(true) {
        return Err(ApiError::field(
            "body",
            "The request body must be sent as application/json.",
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|_| ApiError::field("body", "The request body is not valid JSON."))?;
    if !value.is_object() {
        return Err(ApiError::field(
            "body",
            "The request body must be a JSON object.",
        ));
    }
    Ok(value)
}

/// Deserialises `value` into `T`, turning serde's complaint into a 422 on the
/// field it was about.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value)
        .map_err(|err| serde_error(&err.path().to_string(), &err.inner().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Validate)]
    #[allow(dead_code)]
    struct Profile {
        #[validate(length(min = 1, max = 5))]
        name: String,
        #[serde(default)]
        age: Option<u8>,
        #[serde(default)]
        kind: Option<Kind>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Everyone,
    }

    fn field_of(err: ApiError) -> (String, String) {
        match err {
            ApiError::Validation { message, errors } => {
                (errors.keys().next().cloned().unwrap_or_default(), message)
            }
            other => panic!("expected 422, got {other:?}"),
        }
    }

    #[test]
    fn names_the_missing_field() {
        let err = from_value::<Profile>(serde_json::json!({})).unwrap_err();
        assert_eq!(
            field_of(err),
            ("name".into(), "The name field is required.".into())
        );
    }

    #[test]
    fn names_the_field_of_a_wrong_type() {
        let err = from_value::<Profile>(serde_json::json!({"name": 5})).unwrap_err();
        assert_eq!(field_of(err).0, "name");
        let err = from_value::<Profile>(serde_json::json!({"name": "a", "age": 300})).unwrap_err();
        assert_eq!(field_of(err).0, "age");
        let err =
            from_value::<Profile>(serde_json::json!({"name": "a", "kind": "nobody!"})).unwrap_err();
        assert_eq!(
            field_of(err),
            ("kind".into(), "The selected kind is invalid.".into())
        );
    }

    #[test]
    fn refuses_non_json_and_non_objects() {
        assert_eq!(
            field_of(parse_body(b"{", Some(true)).unwrap_err()).0,
            "body"
        );
        assert_eq!(
            field_of(parse_body(b"[1]", Some(true)).unwrap_err()).0,
            "body"
        );
        assert_eq!(
            field_of(parse_body(b"a=b", Some(false)).unwrap_err()).0,
            "body"
        );
        assert!(parse_body(b"", None).unwrap().is_object());
    }

    #[test]
    fn nul_characters_are_refused_by_field() {
        let err = parse_typed::<Profile>(br#"{"name": "a\u0000b"}"#, Some(true)).unwrap_err();
        assert_eq!(field_of(err).0, "name");
        assert!(
            parse_typed::<Profile>(br#"{"name": "a\\u0000b"}"#, Some(true)).is_ok(),
            "an escaped backslash is not a NUL"
        );
    }

    #[test]
    fn length_rules_read_like_laravel() {
        let profile: Profile = from_value(serde_json::json!({"name": "toolong"})).unwrap();
        let (field, message) = field_of(validation_error(profile.validate().unwrap_err()));
        assert_eq!(field, "name");
        assert!(message.contains("5 characters"), "{message}");
    }
}
