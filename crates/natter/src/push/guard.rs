//! Where a push may be sent. Webhook URLs and Web Push endpoints are chosen
//! by clients, and the server POSTs to them: without a check, a client could
//! make the server reach its own network (loopback, private ranges, cloud
//! metadata at 169.254.169.254). Registration refuses such targets
//! (devices/), and the drivers' client for client-chosen URLs resolves names
//! through [`PublicOnly`], so a name that later resolves to a private address
//! (DNS rebinding) is refused at send time too. PUSH_ALLOW_PRIVATE_TARGETS
//! lifts both (tests, closed networks).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// True for an address on the public Internet: not loopback, private,
/// link-local, shared (CGNAT), multicast, documentation, benchmarking,
/// reserved or unspecified; IPv6 addresses that embed an IPv4 one are judged
/// by it.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., hi, lo] = segments;
        return is_public_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00 // unique local
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || segments[..5] == [0, 0, 0, 0, 0]) // IPv4-compatible and the like
}

/// Why a push may not go to `url` when private targets are not allowed: a
/// scheme other than https, or a host that is a non-public IP address (names
/// are checked when resolved, by [`PublicOnly`]).
pub fn refusal(url: &reqwest::Url) -> Option<String> {
    if url.scheme() != "https" {
        return Some("must be an https URL".into());
    }
    let Some(host) = url.host_str() else {
        return Some("must name a host".into());
    };
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    let local = match literal.parse::<IpAddr>() {
        Ok(ip) => !is_public(ip),
        Err(_) => is_local_name(host),
    };
    local.then(|| NOT_PUBLIC.into())
}

const NOT_PUBLIC: &str = "must not point at a private, loopback or link-local address";

/// Names that always mean this machine or its network.
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.ends_with(".local")
        || name.ends_with(".internal")
        || !name.contains('.')
}

/// A resolver that answers only public addresses: a name with none is an
/// error, so the request is never made.
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(text: &str) -> bool {
        is_public(text.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
    }

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ] {
            assert!(!public(ip), "{ip} is not public");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(public(ip), "{ip} is public");
        }
    }

    #[test]
    fn only_https_urls_to_public_hosts_pass() {
        let refused = |text: &str| refusal(&reqwest::Url::parse(text).unwrap()).is_some();
        assert!(!refused("https://push.example.com/x"));
        assert!(!refused("https://8.8.8.8/x"));
        for url in [
            "http://push.example.com/x",
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://localhost/x",
            "https://metadata.google.internal/x",
            "https://intranet/x",
            "https://10.0.0.5:8443/x",
        ] {
            assert!(refused(url), "{url}");
        }
    }
}
