//! `AppState`: the base services every feature may use, built once at start.
//! Only base services: what a feature owns (the writer, messages') it keeps
//! in a state of its own that holds this one (`messages::MessagesState`).

use std::ops::Deref;
use std::sync::Arc;

use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use rustls::crypto::ring;

use crate::background::TaskGroup;
use crate::cache::{KeyedThrottle, TtlCache};
use crate::config::{Config, redact_url};
use crate::db::entities::access_token;
use crate::db::{CONNECT_TIMEOUT, Db};
use crate::jobs::Waker;
use crate::ratelimit::{MemoryLimiter, RateLimiter, RedisLimiter};
use crate::realtime::Realtime;
use crate::realtime::hub::LoginEnded;
use crate::resources::user::UserSummary;
use crate::sms::{self, SmsSender};
use crate::storage::Storage;
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
    /// Sockets, channels, presence and the bus between nodes.
    pub realtime: Arc<Realtime>,
    /// Cancelled when the server is asked to stop: the HTTP server, sockets and
    /// the tasks that serve them watch it.
    pub shutdown: CancellationToken,
    pub caches: Caches,
    /// The media disk (local folder or S3).
    pub storage: Storage,
    /// Wakes this node's job runner: call it after committing a transaction
    /// that enqueued jobs, or they wait up to JOB_POLL_INTERVAL.
    pub jobs: Waker,
}

/// Hot lookups kept for CACHE_TTL seconds (see cache.rs).
pub struct Caches {
    /// Token id -> the token row, for authenticating requests without a query.
    /// Shared with real time's hub, which drops a login's tokens when any
    /// node says the login ended.
    pub tokens: Arc<TtlCache<i64, access_token::Model>>,
    /// User id -> name and public photo, for message senders.
    pub summaries: TtlCache<i64, UserSummary>,
    /// Login session id -> when this node last wrote its `last_active_at`:
    /// written at most once per [`SESSION_ACTIVITY_EVERY`], never per request.
    pub session_activity: KeyedThrottle<i64>,
}

/// How often a session's `last_active_at` may be written (per node).
pub const SESSION_ACTIVITY_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// Connects to the database (and Redis when configured) and builds the drivers.
    /// Runs pending migrations first. Real time's fan-out tasks run in `fanout`;
    /// `shutdown` is the server's stop signal.
    pub async fn build(
        config: Config,
        shutdown: CancellationToken,
        fanout: &TaskGroup,
    ) -> anyhow::Result<AppState> {
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
        let storage = Storage::from_config(&config)?;
        let metrics = telemetry::handle();
        let cache_ttl = std::time::Duration::from_secs(config.settings.cache_ttl);
        let realtime = Realtime::start(&config, redis.clone(), fanout);
        let tokens = Arc::new(TtlCache::new(cache_ttl, 200_000));
        realtime
            .hub
            .on_login_ended(forget_tokens_of(tokens.clone(), config.node_id.clone()));
        Ok(AppState(Arc::new(Shared {
            config,
            db,
            limiter,
            sms,
            metrics,
            redis,
            realtime,
            shutdown,
            caches: Caches {
                tokens,
                summaries: TtlCache::new(cache_ttl, 200_000),
                session_activity: KeyedThrottle::new(SESSION_ACTIVITY_EVERY, 200_000),
            },
            storage,
            jobs: Waker::default(),
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
    // One plain connection first, within the start's connect timeout: the
    // manager retries a refused connection and would hide the cause.
    let cannot = || format!("cannot connect to REDIS_URL {}", redact_url(url));
    match tokio::time::timeout(CONNECT_TIMEOUT, client.get_multiplexed_async_connection()).await {
        Ok(probe) => drop(probe.with_context(cannot)?),
        Err(_) => anyhow::bail!(
            "{}: no answer within {} s",
            cannot(),
            CONNECT_TIMEOUT.as_secs()
        ),
    }
    // While Redis is down a command waits for the manager's reconnection
    // attempts: one retry after 100 ms, so a request that needs Redis gets its
    // 503 at once instead of after the default six (about 6 s). The manager
    // tries again on the next command, so it is back as soon as Redis is.
    let options = ConnectionManagerConfig::new()
        .set_number_of_retries(1)
        .set_max_delay(std::time::Duration::from_millis(500));
    let manager = ConnectionManager::new_with_config(client, options);
    let manager = tokio::time::timeout(CONNECT_TIMEOUT, manager)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))
        .with_context(cannot)?
        .with_context(cannot)?;
    Ok(manager)
}

/// Drops from `tokens` those of an ended login: the session's, or every
/// token of the user when `session` is None. A scan of the cache: 21 µs at
/// 10,000 cached tokens, 1.7 ms at its 200,000 (dashmap's `retain`, release
/// build), paid once per ended login, never per request.
pub fn forget_login_tokens(
    tokens: &TtlCache<i64, access_token::Model>,
    user: i64,
    session: Option<i64>,
) {
    tokens.remove_where(|t| t.user_id == user && session.is_none_or(|s| t.session_id == s));
}

/// The hub's hook: another node's logout, ban or refresh-token reuse reaches
/// this node's cache through the bus, not after CACHE_TTL. What this node
/// ended itself it dropped already, before answering (sessions/service.rs),
/// so the fan-out's one task does not scan the cache a second time.
fn forget_tokens_of(
    tokens: Arc<TtlCache<i64, access_token::Model>>,
    node_id: String,
) -> LoginEnded {
    Box::new(move |origin, user, session| {
        if origin != node_id {
            forget_login_tokens(&tokens, user, session);
        }
    })
}

/// rustls needs one process-wide crypto provider; natter uses ring (no C
/// toolchain needed beyond cc). Installing twice is harmless.
pub fn install_tls_provider() {
    let _ = ring::default_provider().install_default();
}
