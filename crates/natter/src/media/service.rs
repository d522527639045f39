//! From a received upload to a stored, deduplicated media row; and collecting
//! rows nothing references any more.
//!
//! Storing: sniff (415) -> the content-addressed key -> claim the key's row (an
//! active row means the same upload is already stored: nothing is written) ->
//! process (images: strip, orient, thumbnail; avatars: resize) -> write the
//! objects -> activate the row. Referencing the row (a message, an avatar) is the
//! caller's, in its own transaction, through `store::add_references`.

use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncReadExt;

use crate::clock::now_ms;
use crate::db::Db;
use crate::db::entities::media as media_row;
use crate::error::{ApiError, ApiResult, is_unique_violation};
use crate::media::Media;
use crate::media::images::{self, ImageRefusal, Timings};
use crate::media::sniff::{MediaKind, Sniffed, classify};
use crate::media::store::{self, ACTIVE, Details, NewMedia, PENDING};
use crate::media::upload::{ReceivedFile, Upload};
use crate::storage::{ObjectKey, StorageError, Variant};

/// How long a claim waits for another node's collection of the same key.
const CLAIM_WAIT: Duration = Duration::from_millis(100);
const CLAIM_TRIES: usize = 50;

/// What an upload is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A message (or status) of this kind.
    Message(MediaKind),
    /// A profile or group photo.
    Avatar,
}

/// A stored media row, ready to be referenced and shown.
#[derive(Debug, Clone)]
pub struct StoredMedia {
    pub id: i64,
    pub key: ObjectKey,
    pub thumbnail_key: Option<ObjectKey>,
    pub kind: String,
    pub mime_type: String,
    pub size: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<i64>,
    /// True when the same upload was stored before and no byte was written now.
    pub reused: bool,
    /// Where the time went, when an image was processed now.
    pub timings: Option<Timings>,
}

impl StoredMedia {
    /// From a row; None when its keys are not ours (never for rows natter wrote).
    pub fn from_row(row: &media_row::Model, reused: bool) -> Option<StoredMedia> {
        let dimension = |v: Option<i64>| v.and_then(|v| u32::try_from(v).ok());
        Some(StoredMedia {
            id: row.id,
            key: ObjectKey::parse(&row.storage_key)?,
            thumbnail_key: row.thumbnail_key.as_deref().and_then(ObjectKey::parse),
            kind: row.kind.clone(),
            mime_type: row.mime_type.clone(),
            size: u64::try_from(row.size).unwrap_or_default(),
            width: dimension(row.width),
            height: dimension(row.height),
            duration_ms: row.duration_ms,
            reused,
            timings: None,
        })
    }
}

enum Claim {
    /// The same upload is stored: reuse it.
    Stored(Box<media_row::Model>),
    /// Write the objects, then activate this row (ours, or another upload's of
    /// the same bytes still writing: the bytes are the same, both may write).
    Write { id: i64, ours: bool },
}

/// Stores a received file for `purpose`: 415 when its bytes are not allowed, 422
/// when an image cannot be decoded within the limits.
pub async fn store_upload(
    media: &Media,
    db: &Db,
    file: ReceivedFile,
    purpose: Purpose,
) -> ApiResult<StoredMedia> {
    let kind = match purpose {
        Purpose::Message(kind) => kind,
        Purpose::Avatar => MediaKind::Image,
    };
    let sniffed = classify(kind, &file.head)
        .map_err(|refused| ApiError::UnsupportedMedia(refused.message()))?;
    let key = key_for(&file.sha256, purpose, &sniffed)?;
    let new = NewMedia {
        storage_key: key.as_str().to_string(),
        sha256: file.sha256.clone(),
        kind: match purpose {
            Purpose::Avatar => "avatar".to_string(),
            Purpose::Message(kind) => kind.as_str().to_string(),
        },
        mime_type: stored_mime(purpose, &sniffed),
        size: i64::try_from(file.size).unwrap_or(i64::MAX),
    };
    let (id, ours) = match claim(db, new).await? {
        Claim::Stored(row) => return from_row(&row, true),
        Claim::Write { id, ours } => (id, ours),
    };
    let written = write_objects(media, file, purpose, &sniffed, &key).await;
    let (details, timings) = match written {
        Ok(done) => done,
        Err(err) => {
            if ours {
                let _ = store::delete_pending(&db.write, id).await;
            }
            return Err(err);
        }
    };
    store::activate(&db.write, id, details, now_ms()).await?;
    let row = store::find(&db.write, id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("media row {id} vanished")))?;
    let mut stored = from_row(&row, false)?;
    stored.timings = timings;
    Ok(stored)
}

fn from_row(row: &media_row::Model, reused: bool) -> ApiResult<StoredMedia> {
    StoredMedia::from_row(row, reused)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("media row {} has a bad key", row.id)))
}

/// Images are stored cleaned (same format), avatars as JPEG, the rest as uploaded.
fn key_for(sha256: &str, purpose: Purpose, sniffed: &Sniffed) -> ApiResult<ObjectKey> {
    let (variant, ext) = match purpose {
        Purpose::Avatar => (Variant::Avatar, "jpg"),
        Purpose::Message(MediaKind::Image) => (Variant::Clean, sniffed.ext.as_str()),
        Purpose::Message(_) => (Variant::Original, sniffed.ext.as_str()),
    };
    ObjectKey::derive(sha256, variant, ext)
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no key for extension {ext}")))
}

fn stored_mime(purpose: Purpose, sniffed: &Sniffed) -> String {
    match purpose {
        Purpose::Avatar => "image/jpeg".to_string(),
        Purpose::Message(_) => sniffed.mime.clone(),
    }
}

/// Finds or claims the row of `new.storage_key`; waits while another node
/// collects an old row of the same key.
async fn claim(db: &Db, new: NewMedia) -> ApiResult<Claim> {
    for _ in 0..CLAIM_TRIES {
        match store::find_by_key(&db.write, &new.storage_key).await? {
            Some(row) if row.state == ACTIVE => {
                if store::touch(&db.write, row.id, now_ms()).await? {
                    return Ok(Claim::Stored(Box::new(row)));
                }
            }
            Some(row) if row.state == PENDING => {
                return Ok(Claim::Write {
                    id: row.id,
                    ours: false,
                });
            }
            Some(_) => tokio::time::sleep(CLAIM_WAIT).await,
            None => match store::insert_pending(&db.write, new.clone(), now_ms()).await {
                Ok(row) => {
                    return Ok(Claim::Write {
                        id: row.id,
                        ours: true,
                    });
                }
                Err(err) if is_unique_violation(&err) => continue,
                Err(err) => return Err(err.into()),
            },
        }
    }
    Err(ApiError::Unavailable(
        "The file is being removed from storage; try again shortly.".into(),
    ))
}

/// Processes and writes the objects of one upload.
async fn write_objects(
    media: &Media,
    file: ReceivedFile,
    purpose: Purpose,
    sniffed: &Sniffed,
    key: &ObjectKey,
) -> ApiResult<(Details, Option<Timings>)> {
    let storage = &media.storage;
    match purpose {
        Purpose::Message(MediaKind::Image) => {
            let processed = media.process_image(&file, sniffed, false).await?;
            let Processed::Message(image) = processed else {
                unreachable!("asked for a message image");
            };
            let thumb_key = sibling(key, Variant::Thumbnail)?;
            storage
                .put_bytes(&thumb_key, Bytes::from(image.thumbnail), "image/jpeg")
                .await
                .map_err(storage_error)?;
            storage
                .put_bytes(key, Bytes::from(image.clean), &sniffed.mime)
                .await
                .map_err(storage_error)?;
            let details = Details {
                width: Some(image.width.into()),
                height: Some(image.height.into()),
                duration_ms: None,
                thumbnail_key: Some(thumb_key.as_str().to_string()),
            };
            Ok((details, Some(image.timings)))
        }
        Purpose::Avatar => {
            let Processed::Avatar(avatar) = media.process_image(&file, sniffed, true).await? else {
                unreachable!("asked for an avatar");
            };
            storage
                .put_bytes(key, Bytes::from(avatar.jpeg), "image/jpeg")
                .await
                .map_err(storage_error)?;
            let details = Details {
                width: Some(avatar.width.into()),
                height: Some(avatar.height.into()),
                ..Details::default()
            };
            Ok((details, None))
        }
        Purpose::Message(_) => {
            storage
                .put_temp(key, file.temp, &sniffed.mime)
                .await
                .map_err(storage_error)?;
            Ok((Details::default(), None))
        }
    }
}

fn sibling(key: &ObjectKey, variant: Variant) -> ApiResult<ObjectKey> {
    key.sibling(variant, "jpg")
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no {variant:?} key for {key}")))
}

pub(crate) enum Processed {
    Message(images::ProcessedImage),
    Avatar(images::AvatarImage),
}

impl Media {
    /// Decodes and processes an image on the blocking pool, at most one per core
    /// at a time (each may hold up to MEDIA_IMAGE_MAX_ALLOC bytes of pixels).
    pub(crate) async fn process_image(
        &self,
        file: &ReceivedFile,
        sniffed: &Sniffed,
        avatar: bool,
    ) -> ApiResult<Processed> {
        let format = images::format_of(&sniffed.mime).ok_or_else(|| {
            ApiError::UnsupportedMedia(format!("{} is not an image.", sniffed.mime))
        })?;
        let _permit = self
            .cpu
            .acquire()
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        let bytes = read_whole(file).await?;
        let limits = self.image_limits;
        let work = tokio::task::spawn_blocking(move || {
            if avatar {
                images::process_avatar(&bytes, format, &limits).map(Processed::Avatar)
            } else {
                images::process_message_image(&bytes, format, &limits).map(Processed::Message)
            }
        });
        let result = work.await.map_err(|e| ApiError::Internal(e.into()))?;
        result.map_err(|refusal| image_refusal(&refusal, &limits))
    }
}

fn image_refusal(refusal: &ImageRefusal, limits: &images::ImageLimits) -> ApiError {
    ApiError::field("file", refusal.message(limits))
}

/// An image upload, whole: images are at most MEDIA_MAX_BYTES_IMAGE.
async fn read_whole(file: &ReceivedFile) -> ApiResult<Vec<u8>> {
    let mut bytes = Vec::with_capacity(usize::try_from(file.size).unwrap_or_default());
    tokio::fs::File::open(file.temp.path())
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok(bytes)
}

fn storage_error(err: StorageError) -> ApiError {
    ApiError::Internal(anyhow::Error::new(err).context("cannot write to the media disk"))
}

/// Collects one row if nothing references it and no request was handed it in the
/// last MEDIA_COLLECT_GRACE seconds ([`super::MediaInner::collect_grace_ms`]): marks it deleting, deletes its objects, then the row.
/// An error (the disk is down) leaves it deleting, so a retry picks it up where it
/// stopped. True when the row is gone; false when it must stay (referenced, or too
/// recent: the sweep will see it again).
pub async fn collect(media: &Media, db: &Db, id: i64) -> anyhow::Result<bool> {
    let idle_before = now_ms() - media.collect_grace_ms;
    if !store::mark_deleting(&db.write, id, idle_before).await? {
        return Ok(false);
    }
    let Some(row) = store::find(&db.write, id).await? else {
        return Ok(true);
    };
    let keys = [Some(row.storage_key.as_str()), row.thumbnail_key.as_deref()];
    for key in keys.into_iter().flatten().filter_map(ObjectKey::parse) {
        media.storage.delete(&key).await?;
    }
    store::delete_collected(&db.write, id).await?;
    Ok(true)
}

/// Collects up to `limit` unreferenced rows idle for the grace period; how many
/// went. For a periodic job (after crashes, and uploads never referenced).
pub async fn sweep(media: &Media, db: &Db, limit: u64) -> anyhow::Result<usize> {
    let candidates = store::collectable(&db.read, now_ms() - media.collect_grace_ms, limit).await?;
    let mut collected = 0;
    for id in candidates {
        if collect(media, db, id).await? {
            collected += 1;
        }
    }
    Ok(collected)
}

/// The file of a message upload, stored as the kind its `message_type` names:
/// None when no file was sent; 422 when the type carries no file or a media type
/// came without one. What `POST /api/chats/{chat}/messages` will call after
/// validating the other fields.
pub async fn store_message_file(
    media: &Media,
    db: &Db,
    upload: &mut Upload,
) -> ApiResult<Option<StoredMedia>> {
    let kind = upload
        .fields
        .get("message_type")
        .and_then(|t| MediaKind::from_message_type(t));
    match (kind, upload.file.take()) {
        (Some(kind), Some(file)) => store_upload(media, db, file, Purpose::Message(kind))
            .await
            .map(Some),
        (Some(_), None) => Err(ApiError::field("file", "The file field is required.")),
        (None, Some(_)) => Err(ApiError::field(
            "file",
            "Only image, video, audio and document messages carry a file.",
        )),
        (None, None) => Ok(None),
    }
}
