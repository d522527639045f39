//! Streaming `multipart/form-data` uploads.
//!
//! The `file` part goes to a temp file on the media disk's filesystem as it
//! arrives, hashed (SHA-256) and counted on the way; nothing holds it in memory
//! but the first [`HEAD_BYTES`] kept for sniffing. The other parts are text
//! fields, bounded in number and size, handed back as a JSON object so routes can
//! validate them exactly like a JSON body.
//!
//! Limits: the body as a whole may be at most the largest per-type limit plus a
//! small allowance for the text fields and part headers ([`UploadLimits::body_cap`]),
//! counted by this reader (the router's MAX_JSON_BODY_BYTES applies only to bodies
//! read whole, which an upload never is). The file may be at most its type's limit,
//! enforced while streaming: when the type is known before the file arrives (a
//! fixed kind such as avatars, or `message_type` sent before `file`) its own limit,
//! else the largest one, and the precise one as soon as the type is known. Either
//! way 413 comes as soon as the limit is passed, and the partial file is removed
//! (the temp file's guard removes it on any early return, error or disconnect).

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{FromRef, FromRequest, Request};
use axum::http::header;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

use crate::background::TaskGroup;
use crate::config::MediaSettings;
use crate::error::{ApiError, ApiResult};
use crate::media::Media;
use crate::media::sniff::{HEAD_BYTES, MediaKind};
use crate::storage::signing::clean_file_name;
use crate::storage::{Storage, TempFile};

/// Text fields one upload may carry.
pub const MAX_FIELDS: usize = 16;
/// Longest field name, in bytes.
pub const MAX_FIELD_NAME: usize = 64;
/// Longest text field, in bytes: a 65,536-character caption of 4-byte characters fits.
pub const MAX_FIELD_BYTES: usize = 65_536 * 4 + 1024;
/// All text fields together.
pub const MAX_FIELDS_TOTAL: u64 = 512 * 1024;
/// Allowance for boundaries and part headers.
const PART_OVERHEAD: u64 = 64 * 1024;
/// Buffer between the body and the temp file.
const WRITE_BUFFER: usize = 256 * 1024;
/// How long the rest of a refused body is read and thrown away (see [`pump`]).
const LINGER: std::time::Duration = std::time::Duration::from_secs(10);

/// The per-type limits (MEDIA_MAX_BYTES_*).
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    pub image: u64,
    pub video: u64,
    pub audio: u64,
    pub document: u64,
}

impl UploadLimits {
    pub fn from_settings(media: &MediaSettings) -> UploadLimits {
        UploadLimits {
            image: media.media_max_bytes_image,
            video: media.media_max_bytes_video,
            audio: media.media_max_bytes_audio,
            document: media.media_max_bytes_document,
        }
    }

    pub fn for_kind(&self, kind: MediaKind) -> u64 {
        match kind {
            MediaKind::Image => self.image,
            MediaKind::Video => self.video,
            MediaKind::Audio => self.audio,
            MediaKind::Document => self.document,
        }
    }

    pub fn largest(&self) -> u64 {
        self.image
            .max(self.video)
            .max(self.audio)
            .max(self.document)
    }

    /// The largest body an upload of `kind` (or of any kind) may have.
    pub fn body_cap(&self, kind: Option<MediaKind>) -> u64 {
        let file = kind.map_or(self.largest(), |k| self.for_kind(k));
        file + MAX_FIELDS_TOTAL + PART_OVERHEAD
    }
}

/// How the kind of the file, and so its limit, is known.
#[derive(Debug, Clone, Copy)]
pub enum KindRule {
    /// Always this kind (avatars: images).
    Fixed(MediaKind),
    /// From this text field (`message_type`), when it names a media kind.
    Field(&'static str),
}

/// A received upload: the text fields and the file, if one was sent.
#[derive(Debug)]
pub struct Upload {
    pub fields: BTreeMap<String, String>,
    pub file: Option<ReceivedFile>,
}

/// The `file` part, on disk.
#[derive(Debug)]
pub struct ReceivedFile {
    /// Removed when dropped, unless stored.
    pub temp: TempFile,
    pub size: u64,
    /// SHA-256 of the bytes as uploaded, lowercase hex.
    pub sha256: String,
    /// The client's file name, cleaned (see `storage::signing::clean_file_name`).
    pub file_name: Option<String>,
    /// The first bytes, for sniffing.
    pub head: Bytes,
}

impl Upload {
    /// The text fields as a JSON object of strings, for `serde`/`validator`.
    pub fn fields_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.fields
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        )
    }

    /// The kind the fields name under `rule`, if any.
    pub fn kind(&self, rule: KindRule) -> Option<MediaKind> {
        kind_of(rule, &self.fields)
    }
}

fn kind_of(rule: KindRule, fields: &BTreeMap<String, String>) -> Option<MediaKind> {
    match rule {
        KindRule::Fixed(kind) => Some(kind),
        KindRule::Field(name) => fields
            .get(name)
            .and_then(|v| MediaKind::from_message_type(v)),
    }
}

/// True when the request says it is `multipart/form-data`.
pub fn is_multipart(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("multipart/form-data"))
}

/// Reads a multipart body: text fields into memory (bounded), `file` to a temp file.
/// The rest of a refused body is drained in `lingering` (see [`pump`]).
pub async fn receive(
    body: Body,
    content_type: Option<&str>,
    storage: &Storage,
    limits: &UploadLimits,
    rule: KindRule,
    lingering: &TaskGroup,
) -> ApiResult<Upload> {
    let boundary = content_type
        .filter(|ct| is_multipart(Some(ct)))
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or_else(|| ApiError::field("file", "The request must be multipart/form-data."))?;
    let cap = match rule {
        KindRule::Fixed(kind) => limits.body_cap(Some(kind)),
        KindRule::Field(_) => limits.body_cap(None),
    };
    let constraints =
        multer::Constraints::new().size_limit(multer::SizeLimit::new().whole_stream(cap));
    let mut multipart =
        multer::Multipart::with_constraints(pump(body, lingering), boundary, constraints);
    let mut upload = Upload {
        fields: BTreeMap::new(),
        file: None,
    };
    let mut text_bytes = 0u64;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            if upload.file.is_some() {
                return Err(ApiError::field("file", "Only one file may be sent."));
            }
            let limit =
                kind_of(rule, &upload.fields).map_or(limits.largest(), |k| limits.for_kind(k));
            upload.file = Some(receive_file(field, storage, limit).await?);
        } else {
            let value = read_text_field(field, &name, &upload.fields).await?;
            text_bytes += value.len() as u64;
            if text_bytes > MAX_FIELDS_TOTAL {
                return Err(ApiError::PayloadTooLarge(
                    "The form fields are too large.".into(),
                ));
            }
            upload.fields.insert(name, value);
        }
    }
    check_final_limit(&upload, limits, rule)?;
    Ok(upload)
}

/// Feeds the body to the multipart reader through a small channel. When the reader
/// stops early (a 413 while streaming, a bad part), the pump goes on reading and
/// discarding what the client still sends, for at most [`LINGER`]: a client still
/// sending then reads the answer, where closing at once would make the kernel reset
/// the connection under it (the "lingering close" of web servers). The answer itself
/// is not delayed. Nothing is kept: memory stays flat whatever the client sends.
/// The task belongs to `tasks` (the server's front group): a stopping server ends
/// the lingering at once instead of waiting for it.
fn pump(body: Body, tasks: &TaskGroup) -> impl futures::Stream<Item = Result<Bytes, axum::Error>> {
    use futures::StreamExt;
    let (tx, mut rx) = mpsc::channel(4);
    let mut stream = body.into_data_stream();
    let stop = tasks.stop_token();
    tasks.spawn(async move {
        while let Some(chunk) = stream.next().await {
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() {
                break;
            }
            if failed {
                return;
            }
        }
        let drain = async { while let Some(Ok(_)) = stream.next().await {} };
        let _ = stop
            .run_until_cancelled(tokio::time::timeout(LINGER, drain))
            .await;
    });
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// With the type known only after the file (`message_type` sent last), the file is
/// checked against its own limit once the body is read.
fn check_final_limit(upload: &Upload, limits: &UploadLimits, rule: KindRule) -> ApiResult<()> {
    if let (Some(file), Some(kind)) = (&upload.file, upload.kind(rule)) {
        let limit = limits.for_kind(kind);
        if file.size > limit {
            return Err(too_large(limit));
        }
    }
    Ok(())
}

async fn read_text_field(
    mut field: multer::Field<'_>,
    name: &str,
    fields: &BTreeMap<String, String>,
) -> ApiResult<String> {
    if field.file_name().is_some() {
        return Err(ApiError::field(
            name_or_body(name),
            "Only the file field may carry a file.",
        ));
    }
    if name.is_empty() || name.len() > MAX_FIELD_NAME {
        return Err(ApiError::field(
            "body",
            "A form field has no name or too long a name.",
        ));
    }
    if fields.len() >= MAX_FIELDS && !fields.contains_key(name) {
        return Err(ApiError::field("body", "Too many form fields."));
    }
    let mut value = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if value.len() + chunk.len() > MAX_FIELD_BYTES {
            return Err(ApiError::field(
                name,
                format!("The {name} field is too long."),
            ));
        }
        value.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(value)
        .map_err(|_| ApiError::field(name, format!("The {name} field must be UTF-8 text.")))?;
    if text.contains('\0') {
        return Err(ApiError::field(
            name,
            format!("The {name} field must not contain NUL characters."),
        ));
    }
    Ok(text)
}

fn name_or_body(name: &str) -> &str {
    if name.is_empty() || name.len() > MAX_FIELD_NAME {
        "body"
    } else {
        name
    }
}

/// Streams the file part to a temp file, hashing and counting; 413 as soon as
/// `limit` is passed (the temp file goes with the early return).
async fn receive_file(
    mut field: multer::Field<'_>,
    storage: &Storage,
    limit: u64,
) -> ApiResult<ReceivedFile> {
    let file_name = field
        .file_name()
        .map(clean_file_name)
        .filter(|n| !n.is_empty());
    let (temp, file) = storage.create_temp().await.map_err(internal)?;
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut hasher = Sha256::new();
    let mut head = Vec::new();
    let mut size = 0u64;
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(limit));
        }
        hasher.update(&chunk);
        if head.len() < HEAD_BYTES {
            let take = chunk.len().min(HEAD_BYTES - head.len());
            head.extend_from_slice(&chunk[..take]);
        }
        out.write_all(&chunk).await.map_err(internal)?;
    }
    if size == 0 {
        return Err(ApiError::field("file", "The file must not be empty."));
    }
    out.flush().await.map_err(internal)?;
    out.into_inner().sync_all().await.map_err(internal)?;
    Ok(ReceivedFile {
        temp,
        size,
        sha256: hex::encode(hasher.finalize()),
        file_name,
        head: Bytes::from(head),
    })
}

/// The 413 for a file over `limit` bytes, in Laravel's words.
pub fn too_large(limit: u64) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "The file may not be greater than {} kilobytes.",
        limit / 1024
    ))
}

fn multipart_error(err: multer::Error) -> ApiError {
    match err {
        multer::Error::StreamSizeExceeded { .. } => {
            ApiError::PayloadTooLarge("The request body is too large.".into())
        }
        multer::Error::StreamReadFailed(_) => {
            ApiError::BadRequest("The request body could not be read.".into())
        }
        _ => ApiError::field("body", "The request body is not valid multipart/form-data."),
    }
}

fn internal(err: std::io::Error) -> ApiError {
    ApiError::Internal(anyhow::Error::new(err).context("cannot write the upload's temp file"))
}

/// The upload of a message (`POST /api/chats/{chat}/messages`): the kind comes from
/// `message_type`.
pub struct MessageUpload(pub Upload);

/// The upload of an avatar: an image.
pub struct AvatarUpload(pub Upload);

/// An avatar upload: `multipart/form-data` with the image in `file`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct AvatarForm {
    /// JPEG, PNG, WebP or GIF, at most MEDIA_MAX_BYTES_IMAGE; stored as a JPEG of
    /// at most 640 px, upright, without metadata.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

impl Media {
    /// Reads an upload's body (for routes that check permissions before reading
    /// it, so that nobody streams a file where they may not put it).
    pub async fn receive(
        &self,
        body: Body,
        content_type: Option<&str>,
        rule: KindRule,
    ) -> ApiResult<Upload> {
        receive(
            body,
            content_type,
            &self.storage,
            &self.limits,
            rule,
            &self.tasks,
        )
        .await
    }
}

/// Reads a request's multipart body under `rule`: what the upload extractors
/// run, and what a route that takes JSON or multipart calls once it has seen
/// the content type (statuses).
pub async fn extract(req: Request, media: &Media, rule: KindRule) -> ApiResult<Upload> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    receive(
        req.into_body(),
        content_type.as_deref(),
        &media.storage,
        &media.limits,
        rule,
        &media.tasks,
    )
    .await
}

impl<S> FromRequest<S> for MessageUpload
where
    Media: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let media = Media::from_ref(state);
        extract(req, &media, KindRule::Field("message_type"))
            .await
            .map(MessageUpload)
    }
}

impl<S> FromRequest<S> for AvatarUpload
where
    Media: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let media = Media::from_ref(state);
        extract(req, &media, KindRule::Fixed(MediaKind::Image))
            .await
            .map(AvatarUpload)
    }
}
