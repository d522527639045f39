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
pub mod messages;
pub mod ops;
pub mod phone;
pub mod ratelimit;
pub mod realtime;
pub mod resources;
pub mod secrets;
pub mod sms;
pub mod state;
pub mod sync;
pub mod telemetry;
pub mod users;
pub mod web;

use std::net::SocketAddr;
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
        .merge(web::router())
        .split_for_parts();
    let api = http::openapi::finish(api);
    let body_limit = state.config.settings.max_json_body_bytes as usize;
    let request_id = axum::http::HeaderName::from_static(REQUEST_ID_HEADER);
    router
        .route(
            "/api/openapi.json",
            get(move || async move { axum::Json(api.clone()) }),
        )
        .fallback_service(web::fallback(&state.config))
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
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Asks the server to stop (as SIGTERM does) and waits for it to finish.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        (&mut self.task).await.context("server task failed")?
    }

    /// Waits until the server stops on its own (a signal).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        (&mut self.task).await.context("server task failed")?
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
    let state = AppState::build(config).await?;
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on HTTP_ADDR {addr}"))?;
    let local_addr = listener.local_addr()?;
    let shutdown = state.shutdown.clone();
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
        shutdown,
        task,
    })
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
