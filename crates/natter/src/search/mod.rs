//! Message search (`GET /api/search`, issue 19): the caller's words found in
//! the messages they could see, ranked by each backend's full-text engine
//! (SQLite FTS5, PostgreSQL full text, MySQL/MariaDB FULLTEXT) behind one
//! query builder. docs/search.md says what each engine does differently.

pub mod dto;
pub mod routes;
pub mod service;
mod store;
pub mod terms;

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(routes::search))
}
