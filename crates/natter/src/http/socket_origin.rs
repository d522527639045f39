//! `X-Socket-ID`: laravel-echo sends the socket id of the page's connection
//! with every request, and Laravel's `toOthers()` leaves that socket out of
//! the broadcast. natter does the same for every event a request causes: the
//! request runs inside [`synclog::origin::scope`](crate::synclog::origin), and
//! the fan-out spares the socket. A header that is not a socket id
//! (`<digits>.<digits>`) is ignored, as if absent.

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

use crate::realtime::channels::valid_socket_id;
use crate::synclog::origin;

pub const SOCKET_ID_HEADER: &str = "x-socket-id";

/// Runs the request as speaking for its `X-Socket-ID` (from `middleware::admit`).
pub async fn scope(request: Request, next: Next) -> Response {
    let socket = request
        .headers()
        .get(SOCKET_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|s| valid_socket_id(s))
        .map(Arc::<str>::from);
    origin::scope(socket, next.run(request)).await
}
