//! The embedded files of `web/`, ready to serve: bytes, content type, ETag.
//!
//! Asset URLs carry a version, `/assets/{version}/js/main.js`, where the
//! version is a hash of every embedded file. Relative imports between the
//! ES modules resolve under the same prefix, so every URL the page loads
//! changes whenever any file changes, and those responses may be cached for a
//! year. `index.html` is the one file whose URL never changes: it is served
//! with `no-cache` and names the current version.

use std::collections::HashMap;

use bytes::Bytes;
use sha2::{Digest, Sha256};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/web_files.rs"));
}

/// What `index.html` gets in place of its placeholders.
pub struct PageConfig {
    /// JSON the page reads from `<meta name="natter-config">`.
    pub json: String,
}

/// One file, as it goes on the wire.
pub struct Asset {
    pub bytes: Bytes,
    pub content_type: &'static str,
    /// A strong ETag (quoted), a hash of the bytes.
    pub etag: String,
}

impl Asset {
    fn new(name: &str, bytes: Bytes) -> Asset {
        let etag = format!("\"{}\"", short_hash(&[&bytes]));
        Asset {
            bytes,
            content_type: content_type(name),
            etag,
        }
    }
}

pub struct Assets {
    files: HashMap<String, Asset>,
    index: Asset,
    /// Hash of every embedded file: the `{version}` in asset URLs.
    pub version: String,
}

/// The placeholders `web/index.html` holds.
const ASSET_BASE: &str = "%ASSET_BASE%";
const CONFIG: &str = "%NATTER_CONFIG%";

impl Assets {
    /// The embedded files, with `index.html` filled in for this server.
    pub fn load(page: &PageConfig) -> Assets {
        Assets::from_files(embedded::FILES, page)
    }

    fn from_files(table: &[(&str, &'static [u8])], page: &PageConfig) -> Assets {
        let mut parts: Vec<&[u8]> = Vec::new();
        for (name, bytes) in table {
            parts.push(name.as_bytes());
            parts.push(bytes);
        }
        let version = short_hash(&parts);
        let files: HashMap<String, Asset> = table
            .iter()
            .map(|(name, bytes)| {
                let asset = Asset::new(name, Bytes::from_static(bytes));
                (name.to_string(), asset)
            })
            .collect();
        let template = files
            .get("index.html")
            .map(|a| String::from_utf8_lossy(&a.bytes).into_owned())
            .unwrap_or_else(|| MISSING_INDEX.to_string());
        let html = template
            .replace(ASSET_BASE, &format!("/assets/{version}"))
            .replace(CONFIG, &escape_attribute(&page.json));
        let index = Asset::new("index.html", Bytes::from(html));
        Assets {
            files,
            index,
            version,
        }
    }

    pub fn index(&self) -> &Asset {
        &self.index
    }

    /// A file by its path under `web/` (`js/main.js`). `index.html` is the
    /// filled-in page, never the template.
    pub fn get(&self, name: &str) -> Option<&Asset> {
        if name == "index.html" {
            return Some(&self.index);
        }
        self.files.get(name)
    }
}

/// What a build without a `web/` folder serves at `/`.
const MISSING_INDEX: &str = "<!doctype html><title>natter</title><p>This build has no web client.";

/// The first 16 hex digits of SHA-256 over `parts`: enough to tell versions apart.
fn short_hash(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hex::encode(&hasher.finalize()[..8])
}

/// Content type by extension. Text types say UTF-8; anything unknown is
/// served as bytes (with `nosniff`, a browser will not guess otherwise).
pub fn content_type(name: &str) -> &'static str {
    let extension = name.rsplit_once('.').map(|(_, e)| e).unwrap_or_default();
    match extension.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Escapes text for a double-quoted HTML attribute.
fn escape_attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> PageConfig {
        PageConfig {
            json: r#"{"app_key":"k\"<x>"}"#.into(),
        }
    }

    #[test]
    fn index_is_filled_in_and_the_version_follows_the_files() {
        let one: &[(&str, &'static [u8])] = &[
            (
                "index.html",
                b"<meta content=\"%NATTER_CONFIG%\"><script src=\"%ASSET_BASE%/js/main.js\">",
            ),
            ("js/main.js", b"1"),
        ];
        let two: &[(&str, &'static [u8])] = &[one[0], ("js/main.js", b"2")];
        let (a, b) = (
            Assets::from_files(one, &page()),
            Assets::from_files(two, &page()),
        );
        assert_ne!(a.version, b.version);
        let html = String::from_utf8_lossy(&a.index().bytes).into_owned();
        assert!(html.contains(&format!("/assets/{}/js/main.js", a.version)));
        assert!(html.contains("{&quot;app_key&quot;:&quot;k\\&quot;&lt;x&gt;&quot;}"));
        assert_ne!(a.index().etag, b.index().etag);
        assert_eq!(
            a.get("js/main.js").map(|x| x.content_type),
            Some("text/javascript; charset=utf-8")
        );
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type("app.css"), "text/css; charset=utf-8");
        assert_eq!(content_type("icon.SVG"), "image/svg+xml");
        assert_eq!(content_type("README"), "application/octet-stream");
    }

    #[test]
    fn the_real_web_folder_is_embedded() {
        let assets = Assets::load(&page());
        assert!(
            assets.get("js/main.js").is_some(),
            "web/js/main.js is embedded"
        );
        assert!(assets.get("app.css").is_some(), "web/app.css is embedded");
        let html = String::from_utf8_lossy(&assets.index().bytes).into_owned();
        assert!(!html.contains(ASSET_BASE) && !html.contains(CONFIG));
    }
}
