//! The socket a request speaks for: Laravel's `X-Socket-ID` header, which
//! laravel-echo adds to every request so that `toOthers()` can leave the
//! sender's own socket out of the fan-out. The http layer validates the header
//! and runs the request inside [`scope`]; whatever [`LogTx`](super::LogTx) or
//! transient event the request causes picks it up with [`current`], however
//! deep in a feature it is emitted, so no service signature has to carry it.
//! Work handed to another task (the group-commit writer) takes it along
//! explicitly, captured with [`current`] when handed over.
//!
//! The log is unaffected: the event is stored and served by sync as always,
//! and reaches the sender's other sockets; only this one socket is spared.

use std::future::Future;
use std::sync::Arc;

tokio::task_local! {
    static ORIGIN: Arc<str>;
}

/// The socket id the current request named, if any.
pub fn current() -> Option<Arc<str>> {
    ORIGIN.try_with(Arc::clone).ok()
}

/// Runs `work` as speaking for `socket` (when given).
pub async fn scope<F: Future>(socket: Option<Arc<str>>, work: F) -> F::Output {
    match socket {
        Some(socket) => ORIGIN.scope(socket, work).await,
        None => work.await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn is_seen_only_inside_its_scope() {
        assert!(current().is_none());
        let seen = scope(Some("1.2".into()), async { current() }).await;
        assert_eq!(seen.as_deref(), Some("1.2"));
        assert!(scope(None, async { current() }).await.is_none());
        assert!(current().is_none());
    }
}
