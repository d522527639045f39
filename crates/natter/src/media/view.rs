//! A stored media row as the `media` object of a resource: signed, expiring
//! URLs for the file and its thumbnail (docs/media.md). Rows are read in bulk
//! by the caller; signing is local work (an HMAC, or a presigned S3 URL), no
//! request per item.

use std::collections::HashMap;

use sea_orm::ConnectionTrait;

use crate::db::entities::media as media_row;
use crate::error::{ApiError, ApiResult};
use crate::media::store;
use crate::resources::message::MediaView;
use crate::storage::{ObjectKey, Storage};

/// Media rows by id, in one query.
pub async fn rows(
    conn: &impl ConnectionTrait,
    ids: &[i64],
) -> ApiResult<HashMap<i64, media_row::Model>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(store::find_many(conn, ids)
        .await?
        .into_iter()
        .map(|row| (row.id, row))
        .collect())
}

/// The `media` object of one row; `file_name` is signed into document links.
pub async fn view(
    storage: &Storage,
    row: &media_row::Model,
    file_name: Option<&str>,
) -> ApiResult<MediaView> {
    let key = ObjectKey::parse(&row.storage_key).ok_or_else(|| bad_key(row.id))?;
    let url = storage
        .signed_url(&key, file_name)
        .await
        .map_err(|e| ApiError::Internal(anyhow::Error::new(e).context("cannot sign a media URL")))?
        .url;
    let thumbnail_url = match row.thumbnail_key.as_deref().and_then(ObjectKey::parse) {
        Some(thumb) => Some(
            storage
                .signed_url(&thumb, None)
                .await
                .map_err(|e| ApiError::Internal(anyhow::Error::new(e)))?
                .url,
        ),
        None => None,
    };
    Ok(MediaView {
        url,
        size: Some(row.size),
        duration: row.duration_ms.map(|ms| (ms + 500) / 1000),
        mime_type: Some(row.mime_type.clone()),
        file_name: file_name.map(str::to_string),
        thumbnail_url,
    })
}

fn bad_key(id: i64) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("media row {id} has a bad key"))
}
