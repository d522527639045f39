//! The top of natter: the router (every feature's routes with their state and
//! the middleware around them all), start and an ordered stop, and the
//! application's answers to real time ([`policy::AppPolicy`]). Nothing below
//! imports it.

pub mod jobs;
pub mod policy;
pub mod realtime;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderName;
use axum::routing::get;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa_axum::router::OpenApiRouter;

use crate::background::TaskGroup;
use crate::config::Config;
use crate::http::middleware::{self, NatterRequestId, REQUEST_ID_HEADER};
use crate::http::openapi;
use crate::http::security::{self, SecurityHeaders};
use crate::jobs::{Runner, RunnerOptions, Waker};
use crate::media::{Media, MediaState};
use crate::messages::MessagesState;
use crate::messages::writer::{Publish, Pushes, Writer, WriterThread};
use crate::push::{self, Push};
use crate::realtime::{Policy, Sockets, clear_stale_presence, run_liveness};
use crate::state::{AppState, install_tls_provider};
use crate::statuses::StatusesState;
use crate::{
    auth, broadcasts, calls, chats, contacts, devices, groups, linked, media, messages, ops, phone,
    pusher, search, statuses, sync, users, web,
};
use policy::AppPolicy;
use realtime::RealtimeState;

/// Every route, documented or not, with the middleware that wraps them all.
fn app(state: &AppState, messages: MessagesState, realtime: RealtimeState) -> Router {
    let uploads = MediaState {
        app: state.clone(),
        media: messages.media.clone(),
    };
    let statuses = StatusesState {
        app: state.clone(),
        media: messages.media.clone(),
    };
    let (router, api) = OpenApiRouter::new()
        .merge(auth::router().with_state(state.clone()))
        .merge(linked::router().with_state(state.clone()))
        .merge(users::router().with_state(uploads.clone()))
        .merge(contacts::router().with_state(state.clone()))
        .merge(devices::router().with_state(state.clone()))
        .merge(chats::router().with_state(state.clone()))
        .merge(groups::router().with_state(uploads))
        .merge(statuses::router().with_state(statuses))
        .merge(calls::router().with_state(state.clone()))
        .merge(messages::router().with_state(messages.clone()))
        .merge(search::router().with_state(state.clone()))
        .merge(broadcasts::router().with_state(messages.clone()))
        .merge(sync::router().with_state(messages))
        .merge(realtime::router().with_state(realtime))
        .merge(ops::router().with_state(state.clone()))
        .merge(media::router().with_state(state.clone()))
        .merge(web::router().with_state(state.clone()))
        .split_for_parts();
    // Pusher's HTTP API: its contract is Pusher's, not in the OpenAPI document.
    let router = router.merge(pusher::router().with_state(state.clone()));
    let api = openapi::finish(api);
    let body_limit = state.config.settings.max_json_body_bytes as usize;
    let header_limit = state.config.settings.max_header_bytes as usize;
    let request_id = HeaderName::from_static(REQUEST_ID_HEADER);
    let headers = SecurityHeaders::from_config(&state.config);
    router
        .route(
            openapi::DOCUMENT_PATH,
            get(move || async move { axum::Json(api.clone()) }),
        )
        .fallback_service(web::fallback(&state.config))
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(axum::middleware::from_fn(move |request, next| {
            middleware::admit(header_limit, request, next)
        }))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(security::cors(&state.config.settings.cors_allowed_origins))
        .layer(axum::middleware::from_fn(move |request, next| {
            middleware::observe(headers.clone(), request, next)
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, NatterRequestId::new()))
}

/// Everything a server runs besides answering HTTP, in the groups it stops in.
#[derive(Clone, Default)]
pub struct Background {
    /// Stopped first, with HTTP: sockets (told to reconnect elsewhere) and
    /// presence liveness. Its stop token is `AppState::shutdown`.
    front: TaskGroup,
    /// The job runner (with its periodic scheduler and gauges): stopped once
    /// no request can enqueue work for it; running jobs get their grace, the
    /// rest are released to other nodes. Before the writer, so a handler may
    /// still use it.
    jobs: TaskGroup,
    /// The group-commit writer's thread: stopped once no request can reach it,
    /// after committing what was queued.
    writer: TaskGroup,
    /// Real-time fan-out (dispatcher, Redis bus): stopped last, so what the
    /// writer committed is still delivered.
    fanout: TaskGroup,
}

impl Background {
    /// Tasks, connections and threads still alive.
    pub fn running(&self) -> usize {
        self.front.running() + self.jobs.running() + self.writer.running() + self.fanout.running()
    }

    fn cancel_all(&self) {
        self.front.cancel();
        self.jobs.cancel();
        self.writer.cancel();
        self.fanout.cancel();
    }
}

/// A server started by [`start`]: where it listens and how to stop it.
pub struct Running {
    pub local_addr: SocketAddr,
    /// Where `/metrics` is served when METRICS_ADDR is set.
    pub metrics_addr: Option<SocketAddr>,
    pub state: AppState,
    /// Upload processing (limits, ffmpeg found at start); its lingering reads
    /// run in the front group.
    pub media: Media,
    /// The push drivers PUSH_DRIVER configured.
    pub push: Arc<Push>,
    /// Wakes this node's job runner after a commit that enqueued jobs.
    pub jobs: Waker,
    background: Background,
    http: JoinHandle<anyhow::Result<()>>,
    writer: Option<WriterThread>,
    stage: StopStage,
}

/// Which step of [`Running::wait`] a stopping server is in, so a stop that
/// overruns its grace can say what it was still waiting for.
#[derive(Clone, Default)]
pub struct StopStage(Arc<std::sync::Mutex<&'static str>>);

impl StopStage {
    fn enter(&self, stage: &'static str) {
        tracing::debug!(stage, "stopping");
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = stage;
    }

    /// The step in progress ("" before the stop began).
    pub fn current(&self) -> &'static str {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Running {
    /// Asks the server to stop (as SIGTERM does) and waits until it has.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.background.front.cancel();
        self.wait().await
    }

    /// Waits until the server is asked to stop, then stops everything in
    /// order: HTTP (in-flight requests finish), sockets and the front tasks,
    /// the job runner (running jobs finish or are released), the writer (what
    /// was queued is committed), the fan-out (what was committed goes out),
    /// and last the database (SQLite's WAL checkpointed into the database
    /// file).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let served = match (&mut self.http).await {
            Ok(result) => result,
            Err(err) => Err(err).context("server task failed"),
        };
        let stage = self.stage.clone();
        stage.enter("closing sockets and front tasks");
        self.background.front.stop().await;
        stage.enter("finishing running jobs");
        self.background.jobs.stop().await;
        if let Some(writer) = self.writer.take() {
            stage.enter("committing the writer's queue");
            self.background.writer.cancel();
            writer.join().await;
        }
        stage.enter("delivering what was committed");
        self.background.fanout.stop().await;
        stage.enter("closing the database");
        self.state.db.close().await;
        served
    }

    /// Where a stop is; read it while [`Running::wait`] runs.
    pub fn stop_stage(&self) -> StopStage {
        self.stage.clone()
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.background.front.stop_token()
    }

    /// The server's background work, to check that a stopped server left none.
    pub fn background(&self) -> Background {
        self.background.clone()
    }
}

impl Drop for Running {
    /// A server nobody holds any more stops, rather than serving on unseen.
    fn drop(&mut self) {
        self.background.cancel_all();
    }
}

/// Connects, migrates, binds HTTP_ADDR and serves in the background.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    let background = Background::default();
    let started = start_in(config, &background).await;
    if started.is_err() {
        background.cancel_all();
    }
    started
}

/// Serves `$router` on `$listener` in a task until `$stop`; a macro because
/// the plain and the TLS listener are different types, and axum's bounds on a
/// generic listener would be longer than this.
macro_rules! serve {
    ($listener:expr, $router:expr, $stop:expr) => {{
        let (listener, router, stop) = ($listener, $router, $stop);
        tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
            .context("HTTP server failed")
        })
    }};
}

async fn start_in(config: Config, background: &Background) -> anyhow::Result<Running> {
    let addr = config.settings.http_addr;
    let front = &background.front;
    // Push drivers first: a bad key file stops the start before anything runs.
    install_tls_provider();
    phone::warm_up();
    let push = Arc::new(push::from_config(&config)?);
    // So are unreadable TLS files.
    let certificates = match (&config.settings.tls_cert, &config.settings.tls_key) {
        (Some(cert), Some(key)) => Some(tls::Certificates::load(cert, key)?),
        _ => None,
    };
    let state = AppState::build(config, front.stop_token(), &background.fanout).await?;
    let listener = listen(addr, state.config.settings.listen_backlog)
        .with_context(|| format!("cannot listen on HTTP_ADDR {addr}"))?;
    let local_addr = listener.local_addr()?;
    let media = Media::new(&state.config, state.storage.clone(), front.clone()).await;
    let realtime = state.realtime.clone();
    let publish: Publish = Arc::new(move |events| realtime.publish(events));
    let max_batch = state.config.settings.writer_max_batch as usize;
    let pushes = Pushes {
        presence: state.realtime.presence.clone(),
        waker: state.jobs.clone(),
    };
    let (writer, writer_thread) = Writer::spawn(
        state.db.clone(),
        max_batch,
        publish,
        pushes,
        &background.writer,
    )
    .context("cannot start the group-commit writer")?;
    let policy: Arc<dyn Policy> = Arc::new(AppPolicy { app: state.clone() });
    let sockets = Sockets {
        realtime: state.realtime.clone(),
        policy,
        config: Arc::new(state.config.clone()),
        connections: front.clone(),
    };
    let Runner { waker, task } = Runner::start_with(
        state.db.clone(),
        jobs::registry(&state, &media, push.clone()),
        RunnerOptions::from_config(&state.config),
        background.jobs.stop_token(),
        state.jobs.clone(),
    );
    background.jobs.spawn(async move {
        if task.await.is_err() {
            tracing::error!("the job runner panicked");
        }
    });
    clear_stale_presence(&sockets).await;
    if let Some(events) = state.realtime.webhooks.take_receiver() {
        let batcher = pusher::webhooks::Batcher {
            db: state.db.clone(),
            waker: waker.clone(),
            urls: state.config.settings.pusher.pusher_webhook_url.clone(),
        };
        background
            .jobs
            .spawn(batcher.run(events, background.jobs.stop_token()));
    }
    front.spawn(run_liveness(sockets.clone(), front.stop_token()));
    // This node's socket count, for `natter stats` (ops/nodes.rs).
    front.spawn(ops::nodes::report(state.clone(), front.stop_token()));
    // What users and sockets that went quiet left in memory (ops/upkeep.rs).
    front.spawn(ops::upkeep::run(state.clone(), front.stop_token()));
    let messages = MessagesState {
        app: state.clone(),
        writer,
        media: media.clone(),
    };
    let realtime = RealtimeState {
        app: state.clone(),
        sockets,
    };
    let router = app(&state, messages, realtime);
    let metrics_addr = serve_metrics(&state, front).await?;
    let http = match certificates {
        Some(certificates) => {
            front.spawn(tls::reload_on_hangup(
                certificates.clone(),
                front.stop_token(),
            ));
            // tap_io only for its type: axum hands the peer address
            // (ConnectInfo) to handlers for a TcpListener or a tapped listener.
            let listener = tls::TlsListener::new(listener, certificates, front)?.tap_io(|_| {});
            serve!(listener, router, front.stop_token())
        }
        None => serve!(
            listener.tap_io(|tcp| without_delay(tcp)),
            router,
            front.stop_token()
        ),
    };
    Ok(Running {
        local_addr,
        metrics_addr,
        state,
        media,
        push,
        jobs: waker,
        background: background.clone(),
        http,
        writer: Some(writer_thread),
        stage: StopStage::default(),
    })
}

/// Turns Nagle's algorithm off on an accepted connection. With it on, a
/// socket's second small frame waited for the client's acknowledgement of the
/// first, which a client that only listens delays by up to 40 ms (delayed
/// ACK): W1 at light load had its deliveries at p50 8 ms and p99 34 ms while
/// its sends were acknowledged in 1.7 / 3.4 ms (issue 20). Every write natter
/// makes is a whole response or frame, so nothing is gained by waiting.
fn without_delay(tcp: &tokio::net::TcpStream) {
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::debug!(error = %err, "could not set TCP_NODELAY");
    }
}

/// Binds `addr` with a listen backlog of `backlog` (tokio's `bind` uses 1024
/// and std's 128; a burst of connects beyond it waits a second per SYN retry).
/// SO_REUSEADDR as `TcpListener::bind` sets it, so a restart finds the port free.
fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// With METRICS_ADDR, binds it and serves `/metrics` there in the front group
/// (stopped with HTTP); returns the address bound.
async fn serve_metrics(state: &AppState, front: &TaskGroup) -> anyhow::Result<Option<SocketAddr>> {
    let Some(addr) = state.config.settings.metrics_addr else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on METRICS_ADDR {addr}"))?;
    let bound = listener.local_addr()?;
    let router = ops::metrics_router(state.clone());
    let stop = front.stop_token();
    front.spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(err) = served {
            tracing::error!(error = %err, "the metrics listener failed");
        }
    });
    Ok(Some(bound))
}

/// Resolves when the process is asked to stop (SIGTERM or Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
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
