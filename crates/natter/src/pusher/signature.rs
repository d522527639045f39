//! Pusher's request signature for its HTTP API: the query carries
//! `auth_key`, `auth_timestamp`, `auth_version=1.0`, `body_md5` (when there is
//! a body) and `auth_signature`, the hex HMAC-SHA256 under the app secret of
//!
//! ```text
//! METHOD\nPATH\nk1=v1&k2=v2...
//! ```
//!
//! where the `k=v` pairs are every query parameter but `auth_signature`, keys
//! lower-cased, sorted by key, values not URL-escaped. Compared in constant time;
//! a timestamp more than [`MAX_SKEW_SECS`] from now is refused (replays).

use std::collections::BTreeMap;

use md5::{Digest, Md5};

use super::error::PusherError;
use crate::secrets::{constant_time_eq, hmac_sha256_hex};

/// How far `auth_timestamp` may be from the server's clock, either way.
pub const MAX_SKEW_SECS: i64 = 600;

/// The app's credentials.
pub struct Credentials<'a> {
    pub key: &'a str,
    pub secret: &'a str,
}

/// One request as signed: method, path, raw query, body.
pub struct Signed<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub body: &'a [u8],
}

/// Checks a request's signature; returns its query parameters (decoded,
/// keys lower-cased, `auth_*` and `body_md5` included).
pub fn verify(
    app: &Credentials<'_>,
    request: &Signed<'_>,
    now_secs: i64,
) -> Result<BTreeMap<String, String>, PusherError> {
    let mut params = BTreeMap::new();
    for (key, value) in form_urlencoded::parse(request.query.as_bytes()) {
        let key = key.to_lowercase();
        if params.insert(key.clone(), value.into_owned()).is_some() {
            return Err(PusherError::bad_request(format!(
                "Duplicate query parameter: {key}"
            )));
        }
    }
    let field = |name: &str| params.get(name).map(String::as_str);
    let (Some(key), Some(timestamp), Some(signature)) = (
        field("auth_key"),
        field("auth_timestamp"),
        field("auth_signature"),
    ) else {
        return Err(PusherError::unauthorized(
            "Missing auth_key, auth_timestamp or auth_signature",
        ));
    };
    if field("auth_version") != Some("1.0") {
        return Err(PusherError::unauthorized("auth_version must be 1.0"));
    }
    if !constant_time_eq(key, app.key) {
        return Err(PusherError::unauthorized("Unknown auth_key"));
    }
    let fresh = timestamp
        .parse::<i64>()
        .is_ok_and(|t| now_secs.abs_diff(t) <= MAX_SKEW_SECS as u64);
    if !fresh {
        return Err(PusherError::unauthorized(
            "Timestamp expired: auth_timestamp must be within 600 s of the server's time",
        ));
    }
    match field("body_md5") {
        Some(md5) if !constant_time_eq(md5, &md5_hex(request.body)) => {
            return Err(PusherError::unauthorized(
                "body_md5 does not match the body",
            ));
        }
        None if !request.body.is_empty() => {
            return Err(PusherError::unauthorized(
                "body_md5 is required with a body",
            ));
        }
        _ => {}
    }
    let expected = hmac_sha256_hex(
        app.secret.as_bytes(),
        string_to_sign(request.method, request.path, &params).as_bytes(),
    );
    if !constant_time_eq(signature, &expected) {
        return Err(PusherError::unauthorized("Invalid signature"));
    }
    Ok(params)
}

fn string_to_sign(method: &str, path: &str, params: &BTreeMap<String, String>) -> String {
    let query: Vec<String> = params
        .iter()
        .filter(|(key, _)| key.as_str() != "auth_signature")
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    format!("{}\n{path}\n{}", method.to_uppercase(), query.join("&"))
}

pub fn md5_hex(body: &[u8]) -> String {
    hex::encode(Md5::digest(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: Credentials<'static> = Credentials {
        key: "278d425bdf160c739803",
        secret: "7ad3773142a6692b25b8",
    };

    /// Signs as the Pusher server libraries do.
    fn sign(method: &str, path: &str, params: &[(&str, &str)], body: &[u8]) -> String {
        let mut map: BTreeMap<String, String> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        if !body.is_empty() {
            map.insert("body_md5".into(), md5_hex(body));
        }
        let signature = hmac_sha256_hex(
            APP.secret.as_bytes(),
            string_to_sign(method, path, &map).as_bytes(),
        );
        let mut query: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
        query.push(format!("auth_signature={signature}"));
        query.join("&")
    }

    #[test]
    fn matches_pushers_documented_example() {
        // The worked example of Pusher's "Generating authentication signatures".
        let body = br#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
        assert_eq!(md5_hex(body), "ec365a775a4cd0599faeb73354201b6f");
        let mut params = BTreeMap::new();
        for (k, v) in [
            ("auth_key", "278d425bdf160c739803"),
            ("auth_timestamp", "1353088179"),
            ("auth_version", "1.0"),
            ("body_md5", "ec365a775a4cd0599faeb73354201b6f"),
        ] {
            params.insert(k.to_string(), v.to_string());
        }
        let signature = hmac_sha256_hex(
            APP.secret.as_bytes(),
            string_to_sign("POST", "/apps/3/events", &params).as_bytes(),
        );
        assert_eq!(
            signature,
            "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"
        );
    }

    #[test]
    fn accepts_a_signed_request_and_refuses_tampering() {
        let now = 1_700_000_000;
        let body = br#"{"name":"x","channel":"news","data":"{}"}"#;
        let base = [
            ("auth_key", APP.key),
            ("auth_timestamp", "1700000000"),
            ("auth_version", "1.0"),
        ];
        let query = sign("POST", "/apps/1/events", &base, body);
        let request = |query: &str, body: &'static [u8]| Signed {
            method: "POST",
            path: "/apps/1/events",
            query: Box::leak(query.to_string().into_boxed_str()),
            body,
        };
        assert!(verify(&APP, &request(&query, body), now).is_ok());
        assert!(verify(&APP, &request(&query, body), now + 599).is_ok());
        let status = |r: Result<_, PusherError>| r.err().map(|e| e.status.as_u16());
        // Another body, an old timestamp, another secret, a missing md5: 401.
        assert_eq!(
            status(verify(&APP, &request(&query, b"{}"), now)),
            Some(401)
        );
        assert_eq!(
            status(verify(&APP, &request(&query, body), now + 601)),
            Some(401)
        );
        // A timestamp as far from now as an i64 goes is refused, not overflowed.
        let far = sign(
            "POST",
            "/apps/1/events",
            &[base[0], ("auth_timestamp", "-9223372036854775808"), base[2]],
            body,
        );
        assert_eq!(status(verify(&APP, &request(&far, body), now)), Some(401));
        let other = Credentials {
            key: APP.key,
            secret: "other",
        };
        assert_eq!(
            status(verify(&other, &request(&query, body), now)),
            Some(401)
        );
        let unsigned_body = sign("POST", "/apps/1/events", &base, b"");
        assert_eq!(
            status(verify(&APP, &request(&unsigned_body, body), now)),
            Some(401)
        );
        let other_path = Signed {
            path: "/apps/2/events",
            ..request(&query, body)
        };
        assert_eq!(status(verify(&APP, &other_path, now)), Some(401));
        // Extra parameters are signed too.
        let with_info = sign(
            "GET",
            "/apps/1/channels",
            &[base[0], base[1], base[2], ("filter_by_prefix", "presence-")],
            b"",
        );
        let get = Signed {
            method: "GET",
            path: "/apps/1/channels",
            query: Box::leak(with_info.clone().into_boxed_str()),
            body: b"",
        };
        assert_eq!(
            verify(&APP, &get, now).unwrap()["filter_by_prefix"],
            "presence-"
        );
        let tampered = with_info.replace("presence-", "private-");
        let get = Signed {
            query: Box::leak(tampered.into_boxed_str()),
            ..get
        };
        assert_eq!(status(verify(&APP, &get, now)), Some(401));
    }
}
