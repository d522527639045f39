//! What the HTTP drivers share: their clients, and reading a provider's answer.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Response, StatusCode};

use super::PushError;
use super::guard::PublicOnly;
use crate::config::SettingError;

/// A provider's answer gets this long, connection included.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Characters of an error body kept in a reason (provider error bodies name
/// the problem and hold no secret).
const BODY_CHARS: usize = 300;

/// The drivers' HTTP client. Redirects are not followed: a push goes where
/// it was addressed or nowhere. `http2_only` is for APNs, which speaks HTTP/2
/// only (over TLS, ALPN `h2`; over plain HTTP, prior knowledge).
///
/// `public_only` is for URLs that clients chose (webhook URLs, Web Push
/// endpoints): names resolve to public addresses only (`guard.rs`).
pub fn client(http2_only: bool, public_only: bool) -> Result<reqwest::Client, SettingError> {
    let mut builder = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    if http2_only {
        builder = builder.http2_prior_knowledge();
    }
    if public_only {
        builder = builder.dns_resolver(PublicOnly);
    }
    builder.build().map_err(|e| SettingError {
        name: "PUSH_DRIVER",
        reason: format!("cannot build the HTTP client for pushes: {e}"),
    })
}

/// A request that never got an answer (refused, reset, timed out). The URL
/// is left out of the reason: a webhook URL may carry a secret.
pub fn transport(provider: &str, err: reqwest::Error) -> PushError {
    PushError::Retry {
        after: None,
        reason: format!("{provider} could not be reached: {}", err.without_url()),
    }
}

/// Retry-After in seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let secs = (at.timestamp() - chrono::Utc::now().timestamp()).max(0);
    Some(Duration::from_secs(secs as u64))
}

/// An unsuccessful answer that is not about the token: 429 and 5xx are worth
/// retrying (with Retry-After when given); any other status is a refusal.
pub fn by_status(provider: &str, status: StatusCode, headers: &HeaderMap, body: &str) -> PushError {
    let reason = format!("{provider} answered {status}: {}", snippet(body));
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        PushError::Retry {
            after: retry_after(headers),
            reason,
        }
    } else {
        PushError::Failed(reason)
    }
}

/// The status, headers and (start of the) body of an answer.
pub async fn read(response: Response) -> (StatusCode, HeaderMap, String) {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap_or_default();
    (status, headers, body)
}

fn snippet(body: &str) -> String {
    body.chars().take(BODY_CHARS).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
    }

    #[test]
    fn statuses_split_into_retry_and_failed() {
        let headers = HeaderMap::new();
        for status in [429, 500, 503] {
            let status = StatusCode::from_u16(status).unwrap_or_default();
            assert!(matches!(
                by_status("X", status, &headers, ""),
                PushError::Retry { .. }
            ));
        }
        let refused = by_status("X", StatusCode::BAD_REQUEST, &headers, "bad");
        assert_eq!(
            refused,
            PushError::Failed("X answered 400 Bad Request: bad".into())
        );
    }
}
