//! JSON Web Tokens as the providers want them: RS256 (FCM's OAuth grant) and
//! ES256 (APNs provider tokens, VAPID). Signing is ring's RSA (the crypto
//! rustls already uses) and the p256 crate's ECDSA (already needed for Web
//! Push encryption); the JWT itself is two base64url JSON objects and a
//! signature (RFC 7515 compact form), which needs no library of its own.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use p256::ecdsa::signature::Signer;
use p256::pkcs8::DecodePrivateKey;
use ring::rand::SystemRandom;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};

/// `header.claims.signature`, each part base64url without padding.
fn compact(
    header: &Value,
    claims: &Value,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, String>,
) -> Result<String, String> {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = sign(signing_input.as_bytes())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// An RSA key for RS256 (RSASSA-PKCS1-v1_5 with SHA-256).
pub struct Rs256(RsaKeyPair);

impl Rs256 {
    /// From a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), as in a Google
    /// service-account file.
    pub fn from_pem(pem: &str) -> Result<Rs256, String> {
        let der = pem_body(pem, "PRIVATE KEY").ok_or("not a PKCS#8 PEM private key")?;
        RsaKeyPair::from_pkcs8(&der)
            .map(Rs256)
            .map_err(|e| format!("not a usable RSA key: {e}"))
    }

    pub fn sign(&self, header: &Value, claims: &Value) -> Result<String, String> {
        compact(header, claims, |input| {
            let mut signature = vec![0; self.0.public().modulus_len()];
            self.0
                .sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    input,
                    &mut signature,
                )
                .map_err(|_| "RSA signing failed".to_string())?;
            Ok(signature)
        })
    }
}

/// A P-256 key for ES256 (ECDSA with SHA-256, signature as r || s).
pub struct Es256(p256::ecdsa::SigningKey);

impl Es256 {
    /// From a PEM: PKCS#8 (`BEGIN PRIVATE KEY`, Apple's .p8 files) or SEC1
    /// (`BEGIN EC PRIVATE KEY`, `openssl ecparam -genkey`).
    pub fn from_pem(pem: &str) -> Result<Es256, String> {
        let secret = p256::SecretKey::from_pkcs8_pem(pem)
            .or_else(|_| p256::SecretKey::from_sec1_pem(pem))
            .map_err(|_| "not a P-256 private key in PEM (PKCS#8 or SEC1)".to_string())?;
        Ok(Es256(secret.into()))
    }

    /// From the 32-byte private scalar, base64url (how VAPID keys are passed
    /// around, e.g. by `web-push generate-vapid-keys`).
    pub fn from_base64url(text: &str) -> Result<Es256, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim().trim_end_matches('='))
            .map_err(|_| "not base64url".to_string())?;
        let secret = p256::SecretKey::from_slice(&bytes)
            .map_err(|_| "not a 32-byte P-256 private key".to_string())?;
        Ok(Es256(secret.into()))
    }

    /// The public key, uncompressed (65 bytes, `04 || x || y`).
    pub fn public_key(&self) -> Vec<u8> {
        self.0
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    pub fn sign(&self, header: &Value, claims: &Value) -> Result<String, String> {
        compact(header, claims, |input| {
            let signature: p256::ecdsa::Signature = self.0.sign(input);
            Ok(signature.to_bytes().to_vec())
        })
    }
}

/// `{"alg": alg, "typ": "JWT"}` plus a key id when given.
pub fn header(alg: &str, kid: Option<&str>) -> Value {
    let mut header = json!({"alg": alg, "typ": "JWT"});
    if let Some(kid) = kid {
        header["kid"] = kid.into();
    }
    header
}

/// The DER inside the first `-----BEGIN {label}-----` block of `pem`.
fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = start + pem[start..].find(&end)?;
    let base64: String = pem[start..stop]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(base64).ok()
}

#[cfg(test)]
mod tests {
    use p256::elliptic_curve::rand_core::OsRng;

    use super::*;

    #[test]
    fn es256_tokens_verify_with_the_public_key() {
        use p256::ecdsa::signature::Verifier;
        let secret = p256::SecretKey::random(&mut OsRng);
        let raw = URL_SAFE_NO_PAD.encode(secret.to_bytes());
        let key = Es256::from_base64url(&raw).unwrap_or_else(|e| panic!("{e}"));
        let token = key
            .sign(&header("ES256", Some("K")), &json!({"iss": "T"}))
            .unwrap_or_else(|e| panic!("{e}"));
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap_or_default();
        let signature = p256::ecdsa::Signature::from_slice(&signature);
        let verifying = p256::ecdsa::VerifyingKey::from(secret.public_key());
        let input = format!("{}.{}", parts[0], parts[1]);
        assert!(
            signature
                .map(|s| verifying.verify(input.as_bytes(), &s).is_ok())
                .unwrap_or(false)
        );
        assert_eq!(key.public_key().len(), 65);
    }

    #[test]
    fn es256_keys_load_from_pkcs8_and_sec1_pem() {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        use p256::pkcs8::EncodePrivateKey;
        let secret = p256::SecretKey::random(&mut OsRng);
        let public = secret
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        let pkcs8 = secret
            .to_pkcs8_pem(Default::default())
            .map(|p| p.to_string());
        let sec1 = secret
            .to_sec1_pem(Default::default())
            .map(|p| p.to_string());
        for pem in [pkcs8.unwrap_or_default(), sec1.unwrap_or_default()] {
            let key = Es256::from_pem(&pem).unwrap_or_else(|e| panic!("{e}: {pem}"));
            assert_eq!(key.public_key(), public);
        }
    }

    #[test]
    fn keys_that_are_not_keys_are_named() {
        assert!(Es256::from_base64url("abc").is_err());
        assert!(Es256::from_pem("hello").is_err());
        assert!(
            Rs256::from_pem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----")
                .is_err()
        );
    }
}
