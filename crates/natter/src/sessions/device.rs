//! What a login session records about its device: a readable name, the
//! platform, and a coarse region of the address it signed in from. Shown in
//! the caller's list of linked devices (`GET /api/sessions`).

use std::net::IpAddr;

use axum::http::{HeaderMap, header};

use super::dto::SessionPlatform;

/// The name of a device that neither named itself nor sent a User-Agent we know.
pub const UNKNOWN_DEVICE: &str = "Unknown device";

/// A new login session's device, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub name: String,
    pub platform: SessionPlatform,
    pub ip_region: String,
}

/// What a sign-in request says about the device; each part optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeviceHints<'a> {
    /// The name the device gave itself (`device_name`).
    pub name: Option<&'a str>,
    pub platform: Option<SessionPlatform>,
    /// Its User-Agent header, for a name when it gave none.
    pub user_agent: Option<&'a str>,
}

impl<'a> DeviceHints<'a> {
    /// The hints of a request: the body's name and platform, the User-Agent header.
    pub fn of(
        headers: &'a HeaderMap,
        name: Option<&'a str>,
        platform: Option<SessionPlatform>,
    ) -> DeviceHints<'a> {
        DeviceHints {
            name,
            platform,
            user_agent: headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        }
    }
}

impl DeviceInfo {
    /// The device as the request describes it, signing in from `ip`: its own
    /// name and platform when given, else what its User-Agent suggests.
    pub fn new(hints: DeviceHints<'_>, ip: IpAddr) -> DeviceInfo {
        let guessed = hints.user_agent.map(guess_from_user_agent);
        let name = hints
            .name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .or_else(|| guessed.as_ref().and_then(|g| g.name.clone()))
            .unwrap_or_else(|| UNKNOWN_DEVICE.to_string());
        let platform = hints
            .platform
            .or(guessed.map(|g| g.platform))
            .unwrap_or(SessionPlatform::Other);
        DeviceInfo {
            name,
            platform,
            ip_region: ip_region(ip),
        }
    }
}

/// The address coarsened so that it names a network, never a subscriber: an
/// IPv4 address keeps its /16 (`203.0.x.x`), an IPv6 one its /32
/// (`2001:db8::/32`, a provider's allocation). No GeoIP database is shipped,
/// so this is the "region" a user sees.
pub fn ip_region(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, _, _] = v4.octets();
            format!("{a}.{b}.x.x")
        }
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            format!("{:x}:{:x}::/32", segments[0], segments[1])
        }
    }
}

/// What a User-Agent suggests.
struct Guess {
    /// "Chrome on Linux", "Firefox", "Android device"; None when nothing is known.
    name: Option<String>,
    platform: SessionPlatform,
}

/// Browsers by a token of their User-Agent, most specific first: Edge and
/// Opera also say Chrome, Chrome also says Safari.
const BROWSERS: &[(&str, &str)] = &[
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Chromium/", "Chrome"),
    ("Safari/", "Safari"),
];

/// Systems likewise: Android also says Linux, iOS also says Mac OS X.
const SYSTEMS: &[(&str, &str)] = &[
    ("Windows", "Windows"),
    ("iPhone", "iOS"),
    ("iPad", "iOS"),
    ("Android", "Android"),
    ("CrOS", "ChromeOS"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("Linux", "Linux"),
];

fn first_match(user_agent: &str, table: &[(&str, &'static str)]) -> Option<&'static str> {
    table
        .iter()
        .find(|(token, _)| user_agent.contains(token))
        .map(|(_, name)| *name)
}

/// A readable name and a platform from a User-Agent: a browser is `web`
/// (an Electron shell `desktop`), anything else `other`.
fn guess_from_user_agent(user_agent: &str) -> Guess {
    let browser = first_match(user_agent, BROWSERS);
    let system = first_match(user_agent, SYSTEMS);
    let name = match (browser, system) {
        (Some(browser), Some(system)) => Some(format!("{browser} on {system}")),
        (Some(browser), None) => Some(browser.to_string()),
        (None, Some(system)) => Some(format!("{system} device")),
        (None, None) => None,
    };
    let platform = if user_agent.contains("Electron/") {
        SessionPlatform::Desktop
    } else if browser.is_some() {
        SessionPlatform::Web
    } else {
        SessionPlatform::Other
    };
    Guess { name, platform }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_LINUX: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    const HEADLESS: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36";
    const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
    const EDGE_WINDOWS: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0";
    const FIREFOX_ANDROID: &str =
        "Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0";

    fn device(name: Option<&str>, user_agent: Option<&str>) -> DeviceInfo {
        let hints = DeviceHints {
            name,
            platform: None,
            user_agent,
        };
        DeviceInfo::new(hints, "203.0.113.9".parse().unwrap())
    }

    #[test]
    fn a_user_agent_gives_a_readable_name() {
        assert_eq!(device(None, Some(CHROME_LINUX)).name, "Chrome on Linux");
        assert_eq!(device(None, Some(HEADLESS)).name, "Chrome on Linux");
        assert_eq!(device(None, Some(SAFARI_IPHONE)).name, "Safari on iOS");
        assert_eq!(device(None, Some(EDGE_WINDOWS)).name, "Edge on Windows");
        assert_eq!(
            device(None, Some(FIREFOX_ANDROID)).name,
            "Firefox on Android"
        );
        assert_eq!(
            device(None, Some(CHROME_LINUX)).platform,
            SessionPlatform::Web
        );
        assert_eq!(device(None, Some("curl/8.5.0")).name, UNKNOWN_DEVICE);
        assert_eq!(
            device(None, Some("curl/8.5.0")).platform,
            SessionPlatform::Other
        );
        assert_eq!(device(None, None).name, UNKNOWN_DEVICE);
    }

    #[test]
    fn the_device_s_own_name_wins() {
        assert_eq!(
            device(Some(" Ann's laptop "), Some(CHROME_LINUX)).name,
            "Ann's laptop"
        );
        assert_eq!(
            device(Some("  "), Some(CHROME_LINUX)).name,
            "Chrome on Linux"
        );
    }

    #[test]
    fn the_region_never_holds_the_whole_address() {
        let region = |ip: &str| ip_region(ip.parse().unwrap());
        assert_eq!(region("203.0.113.9"), "203.0.x.x");
        assert_eq!(region("::ffff:198.51.100.7"), "198.51.x.x");
        assert_eq!(region("2001:db8:85a3::8a2e:370:7334"), "2001:db8::/32");
    }
}
