//! Signed, expiring URLs for the `local` disk, and the `Content-Disposition`
//! value a download carries.
//!
//! `{APP_URL}/media/{key}?expires=<unix>&signature=<hex>[&name=<file name>]`, where the
//! signature is HMAC-SHA256(APP_KEY, "natter-media\n{key}\n{expires}\n{name}"). The
//! prefix keeps these signatures apart from every other use of APP_KEY; the name is
//! signed so a link cannot be re-labelled (`invoice.pdf` served as `setup.exe`).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::secrets::{constant_time_eq, hmac_sha256_hex};
use crate::storage::keys::ObjectKey;

/// Expiry times are rounded up to this many seconds, so the URL of one file stays
/// the same for a few minutes and clients' caches can hit.
const EXPIRY_STEP_SECS: u64 = 300;

/// Longest download name kept, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// Why a `/media` request was refused. Every case answers the same 403: a client
/// learns nothing about which part was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    Expired,
    Invalid,
}

#[derive(Clone)]
pub struct UrlSigner {
    key: Vec<u8>,
    base: String,
}

impl UrlSigner {
    pub fn new(app_key: &str, app_url: &str) -> UrlSigner {
        UrlSigner {
            key: app_key.as_bytes().to_vec(),
            base: app_url.trim_end_matches('/').to_string(),
        }
    }

    /// The URL of `key`, valid until `expires` (Unix seconds).
    pub fn url(&self, key: &ObjectKey, expires: u64, name: Option<&str>) -> String {
        let signature = self.signature(key.as_str(), expires, name.unwrap_or_default());
        let mut url = format!(
            "{}/media/{}?expires={expires}&signature={signature}",
            self.base,
            key.as_str()
        );
        if let Some(name) = name {
            url.push_str("&name=");
            url.extend(utf8_percent_encode(name, NON_ALPHANUMERIC));
        }
        url
    }

    /// Checks the query of a `/media/{path}` request; the expiry when it is good.
    pub fn verify(
        &self,
        path: &str,
        expires: Option<&str>,
        signature: Option<&str>,
        name: Option<&str>,
        now_secs: u64,
    ) -> Result<u64, SignatureError> {
        let (Some(expires), Some(signature)) = (expires, signature) else {
            return Err(SignatureError::Missing);
        };
        let expires_at: u64 = expires.parse().map_err(|_| SignatureError::Invalid)?;
        // The canonical decimal form only: "0123" or "+123" would sign differently.
        if expires_at.to_string() != expires {
            return Err(SignatureError::Invalid);
        }
        let expected = self.signature(path, expires_at, name.unwrap_or_default());
        if !constant_time_eq(&expected, signature) {
            return Err(SignatureError::Invalid);
        }
        if expires_at <= now_secs {
            return Err(SignatureError::Expired);
        }
        Ok(expires_at)
    }

    fn signature(&self, path: &str, expires: u64, name: &str) -> String {
        let message = format!("natter-media\n{path}\n{expires}\n{name}");
        hmac_sha256_hex(&self.key, message.as_bytes())
    }
}

/// When a URL made now should expire: at least `ttl_secs` from now, rounded up
/// to the next step.
pub fn expiry(now_secs: u64, ttl_secs: u64) -> u64 {
    (now_secs + ttl_secs).div_ceil(EXPIRY_STEP_SECS) * EXPIRY_STEP_SECS
}

/// RFC 5987 `attr-char`: what may stay unencoded in `filename*`.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `Content-Disposition` for a download (RFC 6266): `attachment` with the name as a
/// quoted ASCII fallback (anything else replaced by `_`) and as `filename*` in UTF-8,
/// or `inline` without a name. The result is always a valid header value.
pub fn content_disposition(name: Option<&str>) -> String {
    let Some(name) = name.map(clean_file_name).filter(|n| !n.is_empty()) else {
        return "inline".to_string();
    };
    let fallback: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' && c != '%' => c,
            _ => '_',
        })
        .collect();
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        utf8_percent_encode(&name, ATTR_CHAR)
    )
}

/// A client's file name made safe to keep and show: the last path segment, no
/// control characters, at most [`MAX_NAME_CHARS`] characters.
pub fn clean_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.chars().all(|c| c == '.') {
        String::new()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::keys::Variant;

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn signer() -> UrlSigner {
        UrlSigner::new("k".repeat(32).as_str(), "https://chat.example/")
    }

    fn query(url: &str, name: &str) -> Option<String> {
        url.split_once('?')?
            .1
            .split('&')
            .find_map(|p| p.strip_prefix(&format!("{name}=")).map(str::to_string))
    }

    #[test]
    fn a_url_verifies_until_it_expires_and_not_after_any_change() {
        let key = ObjectKey::derive(SHA, Variant::Original, "pdf").unwrap();
        let url = signer().url(&key, 2_000, Some("a b.pdf"));
        assert!(url.starts_with(&format!("https://chat.example/media/{key}?expires=2000&")));
        let signature = query(&url, "signature").unwrap();
        let verify = |path: &str, expires: &str, sig: &str, name: Option<&str>, now| {
            signer().verify(path, Some(expires), Some(sig), name, now)
        };
        assert_eq!(
            verify(key.as_str(), "2000", &signature, Some("a b.pdf"), 1_999),
            Ok(2_000)
        );
        assert_eq!(
            verify(key.as_str(), "2000", &signature, Some("a b.pdf"), 2_000),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify(key.as_str(), "2001", &signature, Some("a b.pdf"), 1),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify(key.as_str(), "02000", &signature, Some("a b.pdf"), 1),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify(key.as_str(), "2000", &signature, Some("b.exe"), 1),
            Err(SignatureError::Invalid)
        );
        let mut flipped = signature.clone().into_bytes();
        flipped[10] = if flipped[10] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert_eq!(
            verify(key.as_str(), "2000", &flipped, Some("a b.pdf"), 1),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            signer().verify(key.as_str(), None, Some(&signature), None, 1),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn expiry_is_at_least_the_ttl_and_stable_for_a_while() {
        assert_eq!(expiry(1_000, 3_600), 4_800);
        assert_eq!(expiry(1_001, 3_600), 4_800);
        assert!(expiry(4_799, 3_600) >= 4_799 + 3_600);
    }

    #[test]
    fn disposition_is_quoted_and_encoded() {
        assert_eq!(content_disposition(None), "inline");
        assert_eq!(
            content_disposition(Some("r\u{e9}sum\u{e9} \"final\".pdf")),
            "attachment; filename=\"r_sum_ _final_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22.pdf"
        );
        let header = content_disposition(Some("../../etc/pa\r\nss;wd"));
        assert!(header.parse::<axum::http::HeaderValue>().is_ok());
        assert!(header.contains("filename=\"pass;wd\""), "{header}");
        assert_eq!(content_disposition(Some("..")), "inline");
    }
}
