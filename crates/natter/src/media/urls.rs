//! What responses show of stored media: the `media` object of a Message and
//! avatar URLs, signed now for whoever is being answered. Built in bulk: one
//! query for any number of rows, and signing is computation (HMAC for `local`,
//! SigV4 for `s3`), never a request to the disk.

use std::collections::HashMap;

use crate::db::entities::media as media_row;
use crate::error::ApiResult;
use crate::media::store;
use crate::resources::message::MediaView;
use crate::storage::{ObjectKey, Storage};

/// Rows by id, for the rows a page of messages (or users, chats) points at.
pub async fn rows(
    conn: &impl sea_orm::ConnectionTrait,
    mut ids: Vec<i64>,
) -> ApiResult<HashMap<i64, media_row::Model>> {
    ids.sort_unstable();
    ids.dedup();
    Ok(store::find_many(conn, &ids)
        .await?
        .into_iter()
        .map(|row| (row.id, row))
        .collect())
}

/// A signed URL for an object key natter stored (an avatar key from a user or
/// chat row); None for a key that is not ours or when the disk cannot sign.
pub async fn sign(storage: &Storage, key: Option<&str>) -> Option<String> {
    let key = ObjectKey::parse(key?)?;
    match storage.signed_url(&key, None).await {
        Ok(signed) => Some(signed.url),
        Err(err) => {
            tracing::warn!(error = %err, "cannot sign a media URL");
            None
        }
    }
}

/// Signed URLs for several keys at once (each distinct key signed once).
pub async fn sign_all(storage: &Storage, mut keys: Vec<String>) -> HashMap<String, String> {
    keys.sort_unstable();
    keys.dedup();
    let mut out = HashMap::with_capacity(keys.len());
    for key in keys {
        if let Some(url) = sign(storage, Some(&key)).await {
            out.insert(key, url);
        }
    }
    out
}

/// The `media` object of a message showing `row`; `file_name` (documents) makes
/// the URL a download under that name. None when the row is not active (a
/// message whose file is being collected shows none).
pub async fn message_media(
    storage: &Storage,
    row: &media_row::Model,
    file_name: Option<&str>,
) -> Option<MediaView> {
    if row.state != store::ACTIVE {
        return None;
    }
    let key = ObjectKey::parse(&row.storage_key)?;
    let download_name = file_name.filter(|_| row.kind == "document");
    let url = match storage.signed_url(&key, download_name).await {
        Ok(signed) => signed.url,
        Err(err) => {
            tracing::warn!(error = %err, "cannot sign a media URL");
            return None;
        }
    };
    Some(MediaView {
        url,
        size: Some(row.size),
        duration: row.duration_ms.map(seconds),
        mime_type: Some(row.mime_type.clone()),
        file_name: file_name.map(str::to_string),
        thumbnail_url: sign(storage, row.thumbnail_key.as_deref()).await,
        width: row.width,
        height: row.height,
    })
}

/// Whole seconds, as the guide's `media_duration` (a voice note under half a
/// second shows 0, anything longer at least 1).
fn seconds(ms: i64) -> i64 {
    (ms + 500) / 1000
}
