//! `AppState`: everything a request handler may use, built once at start.

use std::ops::Deref;
use std::sync::Arc;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use redis::aio::ConnectionManager;

use crate::cache::TtlCache;
use crate::config::{Config, redact_url};
use crate::db::Db;
use crate::messages::writer::Writer;
use crate::ratelimit::{MemoryLimiter, RateLimiter, RedisLimiter};
use crate::realtime::Realtime;
use crate::resources::user::UserSummary;
use crate::sms::{self, SmsSender};
use crate::synclog::CommittedEvent;
use crate::telemetry;
use tokio_util::sync::CancellationToken;

/// Cheap to clone: one pointer.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub config: Config,
    pub db: Db,
    pub limiter: Arc<dyn RateLimiter>,
    pub sms: Arc<dyn SmsSender>,
    pub metrics: PrometheusHandle,
    /// Set when REDIS_URL is.
    pub redis: Option<ConnectionManager>,
    /// The group-commit writer for sends and receipts.
    pub writer: Writer,
    /// Sockets, channels, presence and the bus between nodes.
    pub realtime: Arc<Realtime>,
    /// Cancelled when the server is asked to stop; background tasks watch it.
    pub shutdown: CancellationToken,
    pub caches: Caches,
}

/// Hot lookups kept for CACHE_TTL seconds (see cache.rs).
pub struct Caches {
    /// Token id -> the token row, for authenticating requests without a query.
    pub tokens: TtlCache<i64, crate::db::entities::access_token::Model>,
    /// User id -> name and public photo, for message senders.
    pub summaries: TtlCache<i64, UserSummary>,
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Connects to the database (and Redis when configured) and builds the drivers.
    /// Runs pending migrations first.
    pub async fn build(config: Config) -> anyhow::Result<AppState> {
        let db = Db::connect(
            &config.database_url,
            config.settings.database.db_max_connections,
        )
        .await?;
        db.migrate().await.context("migrations failed")?;
        let redis = match &config.settings.redis_url {
            Some(url) => Some(connect_redis(url).await?),
            None => None,
        };
        let limiter: Arc<dyn RateLimiter> = match &redis {
            Some(conn) => Arc::new(RedisLimiter::new(conn.clone(), &config.redis_prefix())),
            None => Arc::new(MemoryLimiter::new()),
        };
        install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .context("cannot build the HTTP client")?;
        let sms = sms::from_config(&config, http);
        let metrics = telemetry::handle();
        let cache_ttl = std::time::Duration::from_secs(config.settings.cache_ttl);
        let shutdown = CancellationToken::new();
        let realtime = Realtime::start(&config, redis.clone(), shutdown.clone());
        let publisher = realtime.clone();
        let writer = Writer::spawn(
            db.clone(),
            config.settings.writer_max_batch as usize,
            Arc::new(move |events| publisher.publish(events)),
        )
        .context("cannot start the group-commit writer")?;
        Ok(AppState(Arc::new(Shared {
            config,
            db,
            limiter,
            sms,
            metrics,
            redis,
            writer,
            realtime,
            shutdown,
            caches: Caches {
                tokens: TtlCache::new(cache_ttl, 200_000),
                summaries: TtlCache::new(cache_ttl, 200_000),
            },
        })))
    }

    /// Hands committed events to the real-time fan-out.
    pub fn publish(&self, events: Vec<CommittedEvent>) {
        self.realtime.publish(events);
    }
}

async fn connect_redis(url: &str) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(url)
        .with_context(|| format!("invalid REDIS_URL {}", redact_url(url)))?;
    let manager = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        ConnectionManager::new(client),
    )
    .await
    .with_context(|| format!("timed out connecting to REDIS_URL {}", redact_url(url)))?
    .with_context(|| format!("cannot connect to REDIS_URL {}", redact_url(url)))?;
    Ok(manager)
}

/// rustls needs one process-wide crypto provider; natter uses ring (no C
/// toolchain needed beyond cc). Installing twice is harmless.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
