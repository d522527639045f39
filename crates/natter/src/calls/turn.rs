//! TURN credentials in coturn's REST scheme ("TURN REST API", the
//! `use-auth-secret` / `static-auth-secret` mode): the username is
//! `<unix expiry>:<user id>`, the password base64(HMAC-SHA1(secret, username)).
//! coturn checks the HMAC and refuses the username once its expiry passed.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;

use super::dto::TurnCredentials;

/// Credentials for `user_id`, valid `ttl` seconds from `now` (Unix seconds).
pub fn credentials(
    secret: &str,
    urls: &[String],
    ttl: u64,
    user_id: i64,
    now: u64,
) -> TurnCredentials {
    let username = format!("{}:{user_id}", now + ttl);
    TurnCredentials {
        urls: urls.to_vec(),
        credential: password(secret, &username),
        username,
        ttl,
    }
}

/// base64(HMAC-SHA1(secret, username)): SHA-1 because coturn uses it here.
pub fn password(secret: &str, username: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    STANDARD.encode(hmac::sign(&key, username.as_bytes()).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_rfc_2202_hmac_sha1() {
        // RFC 2202 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            password("Jefe", "what do ya want for nothing?"),
            STANDARD.encode(hex_bytes("effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"))
        );
    }

    #[test]
    fn username_is_expiry_and_user() {
        let creds = credentials(
            "s3cret-s3cret-s3cret",
            &["turn:t:3478".into()],
            600,
            42,
            1_000,
        );
        assert_eq!(creds.username, "1600:42");
        assert_eq!(creds.ttl, 600);
        assert_eq!(
            creds.credential,
            password("s3cret-s3cret-s3cret", "1600:42")
        );
    }

    fn hex_bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }
}
