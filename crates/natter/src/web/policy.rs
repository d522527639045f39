//! The security headers of the web client's responses, above all its
//! Content-Security-Policy: scripts, styles and everything else only from this
//! server, no inline script or style, nothing may frame the page.

/// Origins the page may talk to besides its own.
#[derive(Debug, Default, Clone)]
pub struct Origins {
    /// The public URL of the server (`APP_URL`): its WebSocket origin is
    /// allowed explicitly, since not every browser lets `'self'` cover `ws:`.
    pub app_url: String,
    /// Where media URLs point when they are not on this server (an S3 bucket):
    /// images load from there.
    pub media: Vec<String>,
}

/// The Content-Security-Policy for the page.
pub fn content_security_policy(origins: &Origins) -> String {
    let mut connect = vec!["'self'".to_string()];
    if let Some(ws) = websocket_origin(&origins.app_url) {
        connect.push(ws);
    }
    let mut images = vec!["'self'".to_string(), "blob:".to_string()];
    for media in &origins.media {
        connect.push(media.clone());
        images.push(media.clone());
    }
    let images = images.join(" ");
    [
        "default-src 'none'".to_string(),
        "script-src 'self'".to_string(),
        "style-src 'self'".to_string(),
        format!("img-src {images}"),
        format!("media-src {images}"),
        format!("connect-src {}", connect.join(" ")),
        "font-src 'self'".to_string(),
        "manifest-src 'self'".to_string(),
        "base-uri 'none'".to_string(),
        "form-action 'none'".to_string(),
        "frame-ancestors 'none'".to_string(),
        "object-src 'none'".to_string(),
    ]
    .join("; ")
}

/// `ws://host:port` for `http://host:port/...`, `wss://` for `https://`.
fn websocket_origin(app_url: &str) -> Option<String> {
    let (scheme, rest) = app_url.split_once("://")?;
    let host = rest
        .split(['/', '?', '#'])
        .next()
        .filter(|h| !h.is_empty())?;
    let ws = match scheme.to_ascii_lowercase().as_str() {
        "http" => "ws",
        "https" => "wss",
        _ => return None,
    };
    Some(format!("{ws}://{host}"))
}

/// The origin of presigned URLs of an S3 bucket: the endpoint's origin with
/// path-style addressing, `bucket.` before its host otherwise; AWS's regional
/// host when there is no endpoint. For the `s3` media disk.
pub fn s3_origin(endpoint: Option<&str>, bucket: &str, region: &str, path_style: bool) -> String {
    let Some(endpoint) = endpoint else {
        return format!("https://{bucket}.s3.{region}.amazonaws.com");
    };
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("https", endpoint));
    let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    if path_style {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{bucket}.{host}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_only_this_server_and_its_socket() {
        let csp = content_security_policy(&Origins {
            app_url: "https://chat.example.com/".into(),
            media: vec![],
        });
        assert!(csp.contains("script-src 'self';"));
        assert!(csp.contains("connect-src 'self' wss://chat.example.com;"));
        assert!(csp.contains("frame-ancestors 'none'"));
        assert!(!csp.contains("unsafe"));
    }

    #[test]
    fn media_on_s3_may_be_shown_and_fetched() {
        let bucket = s3_origin(None, "media", "eu-west-1", false);
        assert_eq!(bucket, "https://media.s3.eu-west-1.amazonaws.com");
        let csp = content_security_policy(&Origins {
            app_url: "http://localhost:8000".into(),
            media: vec![bucket.clone()],
        });
        assert!(csp.contains(&format!("img-src 'self' blob: {bucket};")));
        assert!(csp.contains(&format!("connect-src 'self' ws://localhost:8000 {bucket};")));
    }

    #[test]
    fn s3_compatible_stores() {
        let minio = Some("http://127.0.0.1:9000/");
        assert_eq!(
            s3_origin(minio, "b", "us-east-1", true),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            s3_origin(Some("https://s3.example.net"), "b", "x", false),
            "https://b.s3.example.net"
        );
    }
}
