//! Media disks: where uploaded files and the files made from them are kept.
//!
//! Two backends behind one type, both through `object_store`: `local` (a folder,
//! MEDIA_ROOT) and `s3` (any S3-compatible store). Keys are content-addressed
//! ([`keys`]), so the same upload is stored once. Reading supports byte ranges;
//! nothing here loads a whole object into memory except [`Storage::put_bytes`],
//! which callers use for the small files they make (thumbnails, cleaned images).
//! URLs handed to clients are signed and expire ([`signing`] for `local`, S3's
//! presigned URLs for `s3`).

pub mod keys;
pub mod signing;
mod temp;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::path::Path as StorePath;
use object_store::signer::{Method, SignedUrlOptions, Signer};
use object_store::{
    Attribute, Attributes, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMultipartOptions,
    PutOptions, PutPayload, WriteMultipart,
};
use tokio::io::AsyncReadExt;

use crate::clock::now_ms;
use crate::config::{Config, MediaDiskKind};
pub use keys::{ObjectKey, Variant};
use signing::{SignatureError, UrlSigner};
pub use temp::TempFile;

/// Objects up to this size go to S3 in one PUT; larger ones as a multipart upload
/// of parts this large, read from the file one part at a time.
const S3_PART_BYTES: usize = 8 * 1024 * 1024;
/// Parts of one multipart upload in flight at once (so at most this many parts in memory).
const S3_PARTS_IN_FLIGHT: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("object not found")]
    NotFound,
    #[error("range not satisfiable for an object of {size} bytes")]
    RangeNotSatisfiable { size: u64 },
    #[error("media disk I/O failed")]
    Io(#[from] std::io::Error),
    #[error("object store failed")]
    Store(#[source] object_store::Error),
}

impl From<object_store::Error> for StorageError {
    fn from(err: object_store::Error) -> Self {
        match err {
            object_store::Error::NotFound { .. } => StorageError::NotFound,
            other => StorageError::Store(other),
        }
    }
}

/// An object being read: its whole size, the byte range being sent, the bytes.
pub struct Download {
    pub size: u64,
    pub range: Range<u64>,
    pub body: BoxStream<'static, Result<Bytes, StorageError>>,
}

/// A URL a client can fetch an object with until `expires_at` (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedUrl {
    pub url: String,
    pub expires_at: u64,
}

/// A media disk. Cheap to clone.
#[derive(Clone)]
pub struct Storage(Arc<Inner>);

struct Inner {
    disk: Disk,
    tmp_dir: PathBuf,
    signer: UrlSigner,
    url_ttl: u64,
}

enum Disk {
    Local {
        root: PathBuf,
        store: LocalFileSystem,
    },
    S3 {
        store: AmazonS3,
    },
}

impl Storage {
    /// Opens the disk MEDIA_DISK names, creating MEDIA_ROOT and its temp folder.
    pub fn from_config(config: &Config) -> anyhow::Result<Storage> {
        let media = &config.settings.media;
        let root = config.media_root.clone();
        let tmp_dir = root.join("tmp");
        std::fs::create_dir_all(&tmp_dir)
            .with_context(|| format!("cannot create MEDIA_ROOT {}", tmp_dir.display()))?;
        temp::remove_stale(&tmp_dir);
        let disk = match media.media_disk {
            MediaDiskKind::Local => Disk::Local {
                store: LocalFileSystem::new_with_prefix(&root)
                    .with_context(|| format!("cannot open MEDIA_ROOT {}", root.display()))?,
                root,
            },
            MediaDiskKind::S3 => Disk::S3 {
                store: s3_store(config)?,
            },
        };
        Ok(Storage(Arc::new(Inner {
            disk,
            tmp_dir,
            signer: UrlSigner::new(&config.app_key, &config.settings.app_url),
            url_ttl: media.media_url_ttl,
        })))
    }

    pub fn kind(&self) -> MediaDiskKind {
        match self.0.disk {
            Disk::Local { .. } => MediaDiskKind::Local,
            Disk::S3 { .. } => MediaDiskKind::S3,
        }
    }

    fn store(&self) -> &dyn ObjectStore {
        match &self.0.disk {
            Disk::Local { store, .. } => store,
            Disk::S3 { store } => store,
        }
    }

    /// A new temp file for an upload, removed when dropped unless stored.
    pub async fn create_temp(&self) -> std::io::Result<(TempFile, tokio::fs::File)> {
        TempFile::create(&self.0.tmp_dir).await
    }

    /// Stores a finished temp file under `key`. On `local` the file is moved into
    /// place (a rename); on `s3` it is streamed up, in parts when large. Storing the
    /// same key again is harmless: keys name their content.
    pub async fn put_temp(
        &self,
        key: &ObjectKey,
        file: TempFile,
        content_type: &str,
    ) -> Result<(), StorageError> {
        match &self.0.disk {
            Disk::Local { root, .. } => Ok(file.persist(&root.join(key.as_str())).await?),
            Disk::S3 { store } => upload_file(store, key, file.path(), content_type).await,
        }
    }

    /// Stores a small object made in memory (a thumbnail, a cleaned image).
    pub async fn put_bytes(
        &self,
        key: &ObjectKey,
        bytes: Bytes,
        content_type: &str,
    ) -> Result<(), StorageError> {
        match &self.0.disk {
            Disk::Local { root, .. } => {
                let (temp, mut file) = self.create_temp().await?;
                tokio::io::AsyncWriteExt::write_all(&mut file, &bytes).await?;
                file.sync_all().await?;
                drop(file);
                Ok(temp.persist(&root.join(key.as_str())).await?)
            }
            Disk::S3 { store } => {
                let options = PutOptions {
                    attributes: content_type_attribute(content_type),
                    ..PutOptions::default()
                };
                store
                    .put_opts(&store_path(key), PutPayload::from(bytes), options)
                    .await?;
                Ok(())
            }
        }
    }

    /// Reads an object, or the byte range `range` of it (end exclusive).
    pub async fn get(
        &self,
        key: &ObjectKey,
        range: Option<Range<u64>>,
    ) -> Result<Download, StorageError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self.store().get_opts(&store_path(key), options).await?;
        Ok(Download {
            size: result.meta.size,
            range: result.range.clone(),
            body: result
                .into_stream()
                .map(|r| r.map_err(StorageError::from))
                .boxed(),
        })
    }

    /// The size of an object, or None when there is none.
    pub async fn head(&self, key: &ObjectKey) -> Result<Option<u64>, StorageError> {
        match self.store().head(&store_path(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    pub async fn exists(&self, key: &ObjectKey) -> Result<bool, StorageError> {
        Ok(self.head(key).await?.is_some())
    }

    /// Deletes an object; deleting one that is not there succeeds.
    pub async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        match self.store().delete(&store_path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    /// A URL a client can fetch `key` with for at least MEDIA_URL_TTL seconds.
    /// `download_name` (documents) makes it a download under that name.
    pub async fn signed_url(
        &self,
        key: &ObjectKey,
        download_name: Option<&str>,
    ) -> Result<SignedUrl, StorageError> {
        let now = unix_now();
        let name = download_name
            .map(signing::clean_file_name)
            .filter(|n| !n.is_empty());
        match &self.0.disk {
            Disk::Local { .. } => {
                let expires_at = signing::expiry(now, self.0.url_ttl);
                let url = self.0.signer.url(key, expires_at, name.as_deref());
                Ok(SignedUrl { url, expires_at })
            }
            Disk::S3 { store } => {
                let mut options = SignedUrlOptions::new();
                if name.is_some() {
                    let disposition = signing::content_disposition(name.as_deref());
                    options = options.with_query([("response-content-disposition", disposition)]);
                }
                let ttl = Duration::from_secs(self.0.url_ttl);
                let url = store
                    .signed_url_opts(Method::GET, &store_path(key), ttl, &options)
                    .await?;
                Ok(SignedUrl {
                    url: url.to_string(),
                    expires_at: now + self.0.url_ttl,
                })
            }
        }
    }

    /// Checks the query of a `/media/{path}` request (see [`signing`]).
    pub fn verify(
        &self,
        path: &str,
        expires: Option<&str>,
        signature: Option<&str>,
        name: Option<&str>,
    ) -> Result<u64, SignatureError> {
        self.0
            .signer
            .verify(path, expires, signature, name, unix_now())
    }

    /// Where `key` lives on the `local` disk (None on `s3`). For tools that need a
    /// path (ffprobe) and for tests.
    pub fn local_path(&self, key: &ObjectKey) -> Option<PathBuf> {
        match &self.0.disk {
            Disk::Local { root, .. } => Some(root.join(key.as_str())),
            Disk::S3 { .. } => None,
        }
    }

    pub fn tmp_dir(&self) -> &Path {
        &self.0.tmp_dir
    }
}

pub fn unix_now() -> u64 {
    u64::try_from(now_ms() / 1000).unwrap_or_default()
}

fn store_path(key: &ObjectKey) -> StorePath {
    StorePath::from(key.as_str())
}

fn content_type_attribute(content_type: &str) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::ContentType, content_type.to_string().into());
    attributes
}

fn s3_store(config: &Config) -> anyhow::Result<AmazonS3> {
    let media = &config.settings.media;
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(media.aws_bucket.clone().unwrap_or_default())
        .with_region(&media.aws_default_region)
        .with_virtual_hosted_style_request(!media.aws_use_path_style_endpoint);
    if let (Some(id), Some(secret)) = (&media.aws_access_key_id, &media.aws_secret_access_key) {
        builder = builder
            .with_access_key_id(id)
            .with_secret_access_key(secret);
    }
    if let Some(endpoint) = &media.aws_endpoint {
        builder = builder
            .with_endpoint(endpoint)
            .with_allow_http(endpoint.starts_with("http://"));
    }
    builder.build().context("invalid S3 settings (AWS_*)")
}

/// Streams a file to S3: one PUT when small, else a multipart upload holding at
/// most [`S3_PARTS_IN_FLIGHT`] parts in memory. A failed upload is aborted.
async fn upload_file(
    store: &AmazonS3,
    key: &ObjectKey,
    path: &Path,
    content_type: &str,
) -> Result<(), StorageError> {
    let mut file = tokio::fs::File::open(path).await?;
    let size = file.metadata().await?.len();
    let location = store_path(key);
    if size <= S3_PART_BYTES as u64 {
        let mut bytes = Vec::with_capacity(size as usize);
        file.read_to_end(&mut bytes).await?;
        let options = PutOptions {
            attributes: content_type_attribute(content_type),
            ..PutOptions::default()
        };
        store
            .put_opts(&location, PutPayload::from(bytes), options)
            .await?;
        return Ok(());
    }
    let options = PutMultipartOptions {
        attributes: content_type_attribute(content_type),
        ..PutMultipartOptions::default()
    };
    let upload = store.put_multipart_opts(&location, options).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, S3_PART_BYTES);
    let mut buffer = vec![0u8; 1024 * 1024];
    loop {
        let read = match file.read(&mut buffer).await {
            Ok(0) => break,
            Ok(read) => read,
            Err(err) => {
                let _ = writer.abort().await;
                return Err(err.into());
            }
        };
        if let Err(err) = writer.wait_for_capacity(S3_PARTS_IN_FLIGHT).await {
            let _ = writer.abort().await;
            return Err(err.into());
        }
        writer.write(&buffer[..read]);
    }
    writer.finish().await?;
    Ok(())
}
