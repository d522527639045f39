//! Media: streaming uploads, sniffing, image processing, ffmpeg probing, the
//! `media` rows, and the `/media/{path}` route that serves the local disk's signed
//! URLs. The disks themselves are `crate::storage` (below `state`); this module sits
//! above `http`, and the features that carry files (messages, users, groups,
//! statuses) use it. docs/media.md tells the whole story.

pub mod images;
pub mod probe;
pub mod routes;
pub mod service;
pub mod sniff;
pub mod store;
pub mod upload;
pub mod view;

use std::ops::Deref;
use std::sync::Arc;

use tokio::sync::Semaphore;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::background::TaskGroup;
use crate::config::Config;
use crate::media::images::ImageLimits;
use crate::media::probe::Ffmpeg;
use crate::media::upload::UploadLimits;
use crate::state::AppState;
use crate::storage::Storage;

/// What storing and processing uploads needs, built once at start. Cheap to clone.
#[derive(Clone)]
pub struct Media(Arc<MediaInner>);

pub struct MediaInner {
    pub storage: Storage,
    pub limits: UploadLimits,
    pub image_limits: ImageLimits,
    /// None when ffmpeg/ffprobe are not on the PATH.
    pub ffmpeg: Option<Ffmpeg>,
    /// Image decodes at once: one per core, each bounded by MEDIA_IMAGE_MAX_ALLOC.
    cpu: Semaphore,
    /// Where upload work outliving its request runs (the lingering read after an
    /// early 413): the server's front group, stopped with HTTP.
    pub tasks: TaskGroup,
    /// How long a row handed to a request (stored or reused) is safe from
    /// collection (MEDIA_COLLECT_GRACE): far more than a request takes to
    /// reference it.
    pub collect_grace_ms: i64,
}

impl Deref for Media {
    type Target = MediaInner;

    fn deref(&self) -> &MediaInner {
        &self.0
    }
}

impl Media {
    /// Reads the limits and looks for ffmpeg (logged once). `tasks` owns the work
    /// that outlives a request.
    pub async fn new(config: &Config, storage: Storage, tasks: TaskGroup) -> Media {
        let media = &config.settings.media;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Media(Arc::new(MediaInner {
            storage,
            limits: UploadLimits::from_settings(media),
            image_limits: ImageLimits {
                max_side: media.media_image_max_side,
                max_alloc: media.media_image_max_alloc,
            },
            ffmpeg: Ffmpeg::detect().await,
            cpu: Semaphore::new(cores),
            tasks,
            collect_grace_ms: i64::try_from(media.media_collect_grace)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000),
        }))
    }
}

#[derive(OpenApi)]
#[openapi(paths(routes::serve_media))]
struct MediaDoc;

/// `GET /media/{path}`. The route takes the whole rest of the path; the document
/// names it `{path}`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(MediaDoc::openapi())
        .route("/media/{*path}", axum::routing::get(routes::serve_media))
}
