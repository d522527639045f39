//! `ClientIp`: the address rate limits count against.
//!
//! Behind proxies (TRUSTED_PROXIES) the client is the right-most address of
//! the chain `X-Forwarded-For..., peer` that is not a trusted proxy: every
//! proxy appends the address it was reached from, so entries to the left of
//! the first untrusted one were written by the client and prove nothing.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;

use crate::config::TrustedProxies;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S> FromRequestParts<S> for ClientIp
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let state = AppState::from_ref(state);
        let Some(trusted) = &state.config.settings.trusted_proxies else {
            return Ok(ClientIp(peer));
        };
        Ok(ClientIp(client_of(trusted, &forwarded_for(parts), peer)))
    }
}

/// Every X-Forwarded-For entry, left to right, over all such headers (None
/// for an entry that is not an address).
fn forwarded_for(parts: &Parts) -> Vec<Option<IpAddr>> {
    parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|value| {
            value
                .to_str()
                .unwrap_or_default()
                .split(',')
                .map(|entry| entry.trim().parse().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The client address of the chain `forwarded..., peer`.
fn client_of(trusted: &TrustedProxies, forwarded: &[Option<IpAddr>], peer: IpAddr) -> IpAddr {
    match trusted {
        TrustedProxies::Hops(hops) => {
            // The peer is the nearest proxy; each hop beyond it one more entry.
            let mut client = peer;
            for entry in forwarded.iter().rev().take(usize::from(*hops)) {
                match entry {
                    Some(ip) => client = *ip,
                    None => break,
                }
            }
            client
        }
        TrustedProxies::Networks(_) => {
            let mut client = peer;
            for entry in forwarded.iter().rev() {
                if !trusted.contains(client) {
                    break;
                }
                match entry {
                    Some(ip) => client = *ip,
                    None => break,
                }
            }
            client
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn chain(entries: &[&str]) -> Vec<Option<IpAddr>> {
        entries.iter().map(|e| e.parse().ok()).collect()
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let proxies = TrustedProxies::Networks(vec![(ip("10.0.0.0"), 8)]);
        // The client wrote 6.6.6.6 itself; the proxy appended what it saw.
        let forwarded = chain(&["6.6.6.6", "203.0.113.9"]);
        assert_eq!(
            client_of(&proxies, &forwarded, ip("10.1.2.3")),
            ip("203.0.113.9")
        );
        // Two trusted proxies in a row.
        let forwarded = chain(&["6.6.6.6", "203.0.113.9", "10.9.9.9"]);
        assert_eq!(
            client_of(&proxies, &forwarded, ip("10.1.2.3")),
            ip("203.0.113.9")
        );
        // A peer that is not a proxy: its headers are ignored.
        assert_eq!(
            client_of(&proxies, &forwarded, ip("198.51.100.1")),
            ip("198.51.100.1")
        );
        // Garbage ends the walk at the last address trusted to have written it.
        let forwarded = chain(&["6.6.6.6", "junk"]);
        assert_eq!(
            client_of(&proxies, &forwarded, ip("10.1.2.3")),
            ip("10.1.2.3")
        );
    }

    #[test]
    fn a_hop_count_takes_that_many_entries_from_the_right() {
        let forwarded = chain(&["6.6.6.6", "203.0.113.9"]);
        assert_eq!(
            client_of(&TrustedProxies::Hops(1), &forwarded, ip("10.1.2.3")),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_of(&TrustedProxies::Hops(0), &forwarded, ip("10.1.2.3")),
            ip("10.1.2.3")
        );
        assert_eq!(
            client_of(&TrustedProxies::Hops(5), &forwarded, ip("10.1.2.3")),
            ip("6.6.6.6")
        );
    }
}
