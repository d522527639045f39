//! natter: a self-hostable WhatsApp-style messaging backend.
//!
//! Start at [`start`] (what `natter serve` runs) and [`app`] (the router). The
//! layout is one folder per feature (see docs/architecture.md): `routes.rs`
//! extracts and shapes, `service.rs` decides, `store.rs` queries, `dto.rs`
//! holds the wire types.

pub mod auth;
pub mod cache;
pub mod chats;
pub mod clock;
pub mod config;
pub mod contacts;
pub mod db;
pub mod error;
pub mod groups;
pub mod http;
pub mod jobs;
pub mod messages;
pub mod ops;
pub mod phone;
pub mod push;
pub mod ratelimit;
pub mod realtime;
pub mod sms;
pub mod state;
pub mod sync;
pub mod users;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::CorsLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa_axum::router::OpenApiRouter;

use crate::config::Config;
use crate::http::middleware::{self, NatterRequestId, REQUEST_ID_HEADER};
use crate::state::AppState;

/// Every route, documented or not, with the middleware that wraps them all.
pub fn app(state: AppState) -> Router {
    let (router, api) = OpenApiRouter::new()
        .merge(auth::router())
        .merge(users::router())
        .merge(contacts::router())
        .merge(chats::router())
        .merge(groups::router())
        .merge(messages::router())
        .merge(sync::router())
        .merge(realtime::router())
        .merge(ops::router())
        .split_for_parts();
    let api = http::openapi::finish(api);
    let body_limit = state.config.settings.max_json_body_bytes as usize;
    let request_id = axum::http::HeaderName::from_static(REQUEST_ID_HEADER);
    router
        .route(
            "/api/openapi.json",
            get(move || async move { axum::Json(api.clone()) }),
        )
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(axum::middleware::from_fn(middleware::observe))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(CorsLayer::permissive())
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, NatterRequestId::new()))
        .with_state(state)
}

/// A server started by [`start`]: where it listens and how to stop it.
pub struct Running {
    pub local_addr: SocketAddr,
    pub state: AppState,
    /// The push drivers PUSH_DRIVER configured.
    pub push: Arc<push::Push>,
    /// Wakes this node's job runner after a commit that enqueued jobs.
    pub jobs: jobs::Waker,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    runner: tokio::task::JoinHandle<()>,
}

impl Running {
    /// Asks the server to stop (as SIGTERM does) and waits for it to finish.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits until the server stops on its own (a signal): HTTP first, then
    /// the job runner (which finishes or releases its running jobs).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let served = (&mut self.task).await.context("server task failed")?;
        (&mut self.runner).await.context("job runner failed")?;
        served
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

impl Drop for Running {
    /// A server nobody holds any more stops, rather than serving on unseen.
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Connects, migrates, binds HTTP_ADDR and serves in the background.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let addr = config.settings.http_addr;
    // Push drivers first: a bad key file stops the start before anything runs.
    state::install_tls_provider();
    let push = Arc::new(push::from_config(&config)?);
    let state = AppState::build(config).await?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on HTTP_ADDR {addr}"))?;
    let local_addr = listener.local_addr()?;
    let shutdown = state.shutdown.clone();
    let runner = jobs::Runner::start(
        state.db.clone(),
        job_registry(&state.config),
        jobs::RunnerOptions::from_config(&state.config),
        shutdown.clone(),
    );
    let router = app(state.clone());
    sync::service::spawn_retention(state.clone(), shutdown.clone());
    realtime::spawn_liveness(state.clone(), shutdown.clone());
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await
        .context("HTTP server failed")
    });
    Ok(Running {
        local_addr,
        state,
        push,
        jobs: runner.waker,
        shutdown,
        task,
        runner: runner.task,
    })
}

/// The job kinds this node runs and the periodic work it schedules.
fn job_registry(config: &Config) -> jobs::Registry {
    let mut registry = jobs::Registry::new();
    if config.settings.job_probe {
        let path = config
            .settings
            .database
            .storage_dir
            .join(jobs::probe::FILE_NAME);
        registry.register(jobs::probe::KIND, Arc::new(jobs::probe::Probe::new(path)));
    }
    registry
}

/// Resolves when the process is asked to stop (SIGTERM or Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

/// How long in-flight requests get to finish after a stop signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
