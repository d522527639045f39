//! `GET /media/{path}`: the local disk's signed URLs.
//!
//! The signature is checked first (403 for anything wrong with it, expired or
//! tampered, the same answer either way); then the file is streamed, never read
//! whole, with `Range` (206/416), `ETag`/`If-None-Match` (304), the stored type,
//! `nosniff`, a sandboxing CSP, and a cache lifetime no longer than the link's.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::error::{ApiError, ApiResult};
use crate::media::store;
use crate::state::AppState;
use crate::storage::signing::content_disposition;
use crate::storage::{ObjectKey, StorageError, Variant, unix_now};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MediaQuery {
    /// Unix time (seconds) after which the link no longer works.
    pub expires: Option<String>,
    /// Hex HMAC-SHA256 of the path, `expires` and `name` under the app key.
    pub signature: Option<String>,
    /// Download name (documents); part of the signature.
    pub name: Option<String>,
}

/// A stored file, through a signed link from a Message, Status or avatar URL.
#[utoipa::path(get, path = "/media/{path}", tag = "media",
    params(("path" = String, Path, description = "The object key, e.g. media/ab/cd/<sha256>.jpg"), MediaQuery),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = 206, description = "The requested byte range", content_type = "application/octet-stream"),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 403, description = "Missing, tampered or expired signature"),
        (status = 404, description = "No such file"),
        (status = 416, description = "Range not satisfiable"),
    ))]
pub async fn serve_media(
    State(state): State<AppState>,
    Path(path): Path<String>,
    Query(query): Query<MediaQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let expires_at = state
        .storage
        .verify(
            &path,
            query.expires.as_deref(),
            query.signature.as_deref(),
            query.name.as_deref(),
        )
        .map_err(|_| ApiError::forbidden("This link is invalid or has expired."))?;
    let key = ObjectKey::parse(&path).ok_or_else(|| ApiError::not_found("File"))?;
    let mut common = HeaderMap::new();
    set_common_headers(&mut common, &key, expires_at, query.name.as_deref());
    if matches_etag(headers.get(header::IF_NONE_MATCH), &key.etag()) {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    let size = state
        .storage
        .head(&key)
        .await
        .map_err(storage_error)?
        .ok_or_else(|| ApiError::not_found("File"))?;
    let range = match requested_range(&headers, &key, size) {
        Ok(range) => range,
        Err(()) => return Ok(unsatisfiable(size, common)),
    };
    let content_type = content_type(&state, &key).await?;
    let download = state
        .storage
        .get(&key, range.clone())
        .await
        .map_err(storage_error)?;
    let mut response = Response::new(Body::from_stream(download.body));
    *response.headers_mut() = common;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, header_value(&content_type));
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(download.range.end - download.range.start),
    );
    if range.is_some() {
        *response.status_mut() = StatusCode::PARTIAL_CONTENT;
        let value = format!(
            "bytes {}-{}/{}",
            download.range.start,
            download.range.end - 1,
            download.size
        );
        response
            .headers_mut()
            .insert(header::CONTENT_RANGE, header_value(&value));
    }
    Ok(response)
}

fn set_common_headers(
    headers: &mut HeaderMap,
    key: &ObjectKey,
    expires_at: u64,
    name: Option<&str>,
) {
    let max_age = expires_at.saturating_sub(unix_now());
    headers.insert(header::ETAG, header_value(&key.etag()));
    headers.insert(
        header::CACHE_CONTROL,
        header_value(&format!("private, max-age={max_age}")),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Uploaded HTML or SVG opened from this origin can run nothing.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        header_value(&content_disposition(name)),
    );
}

fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// `If-None-Match`: `*` or a list of (possibly weak) tags.
fn matches_etag(header: Option<&HeaderValue>, etag: &str) -> bool {
    let Some(value) = header.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    value
        .split(',')
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}

/// The byte range asked for (end exclusive): None for the whole file (no `Range`,
/// an `If-Range` that no longer matches, several ranges or a unit we do not
/// serve), Err when it lies outside the file (416).
fn requested_range(
    headers: &HeaderMap,
    key: &ObjectKey,
    size: u64,
) -> Result<Option<std::ops::Range<u64>>, ()> {
    let Some(value) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    if let Some(if_range) = headers.get(header::IF_RANGE)
        && if_range.to_str().ok() != Some(key.etag().as_str())
    {
        return Ok(None);
    }
    parse_range(value, size)
}

fn parse_range(value: &str, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let range = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let length: u64 = suffix.parse().map_err(|_| ())?;
            size.saturating_sub(length)..size
        }
        (start, "") => start.parse().map_err(|_| ())?..size,
        (start, end) => {
            let start: u64 = start.parse().map_err(|_| ())?;
            let end: u64 = end.parse().map_err(|_| ())?;
            if end < start {
                return Err(());
            }
            // An end past the file is the file's end (RFC 9110 14.1.2), also u64::MAX.
            start..end.saturating_add(1).min(size)
        }
    };
    if range.start >= size || range.is_empty() {
        return Err(());
    }
    Ok(Some(range))
}

fn unsatisfiable(size: u64, mut headers: HeaderMap) -> Response {
    headers.insert(
        header::CONTENT_RANGE,
        header_value(&format!("bytes */{size}")),
    );
    let body = serde_json::json!({ "success": false, "message": "Range not satisfiable." });
    (StatusCode::RANGE_NOT_SATISFIABLE, headers, axum::Json(body)).into_response()
}

/// The type stored with the object; thumbnails and avatars are always JPEG.
async fn content_type(state: &AppState, key: &ObjectKey) -> ApiResult<String> {
    if matches!(key.variant(), Variant::Thumbnail | Variant::Avatar) {
        return Ok("image/jpeg".into());
    }
    let stored = store::mime_of(&state.db.read, key.as_str()).await?;
    Ok(stored.unwrap_or_else(|| mime_of_extension(key.extension()).to_string()))
}

/// For objects without a row (a row being collected): the type their extension names.
fn mime_of_extension(ext: &str) -> &'static str {
    match ext {
        "jpg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "3gp" => "video/3gpp",
        "mov" => "video/quicktime",
        "ogg" => "audio/ogg",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "wav" => "audio/wav",
        "amr" => "audio/amr",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        _ => "application/octet-stream",
    }
}

fn storage_error(err: StorageError) -> ApiError {
    match err {
        StorageError::NotFound => ApiError::not_found("File"),
        other => ApiError::Internal(anyhow::Error::new(other).context("media disk read failed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_rfc_9110() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some(0..10)));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some(90..100)));
        assert_eq!(parse_range("bytes=-10", 100), Ok(Some(90..100)));
        assert_eq!(parse_range("bytes=95-200", 100), Ok(Some(95..100)));
        assert_eq!(
            parse_range("bytes=0-18446744073709551615", 100),
            Ok(Some(0..100))
        );
        assert_eq!(parse_range("bytes=100-", 100), Err(()));
        assert_eq!(parse_range("bytes=5-1", 100), Err(()));
        assert_eq!(parse_range("bytes=-0", 100), Err(()));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(parse_range("items=0-1", 100), Ok(None));
    }

    #[test]
    fn if_none_match_takes_lists_weak_tags_and_star() {
        let etag = "\"abc\"";
        let check = |v: &'static str| matches_etag(Some(&HeaderValue::from_static(v)), etag);
        assert!(check("\"abc\""));
        assert!(check("\"x\", W/\"abc\""));
        assert!(check("*"));
        assert!(!check("\"abd\""));
        assert!(!matches_etag(None, etag));
    }
}
