//! Operations: /health, /ready, /metrics, each node's socket count (nodes.rs),
//! and the memory upkeep (upkeep.rs).

pub mod nodes;
pub mod routes;
pub mod upkeep;

use axum::Router;
use axum::routing::get;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::http::middleware;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::health))
        .routes(routes!(routes::ready))
        .routes(routes!(routes::metrics))
}

/// What METRICS_ADDR serves: `/metrics` and nothing else (a JSON 404).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(routes::metrics_listener))
        .fallback(middleware::not_found)
        .with_state(state)
}
