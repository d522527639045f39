//! Random secrets, hashes and constant-time comparison: the only place natter
//! makes or checks a secret. Also the files that hold one: written so that
//! only their owner may read them.

use std::fs::OpenOptions;
#[cfg(unix)]
use std::fs::Permissions;
use std::io::Write;
#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use hmac::{Hmac, Mac};
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A random string of `len` characters from [A-Za-z0-9] (about 5.95 bits each),
/// from the operating system's CSPRNG via `rand::rng()`.
pub fn random_token(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A random decimal code of `digits` digits, zero-padded.
pub fn random_digits(digits: u32) -> String {
    let upper = 10u64.pow(digits);
    let value = rand::rng().random_range(0..upper);
    format!("{value:0width$}", width = digits as usize)
}

/// SHA-256 of `input`, hex. For high-entropy secrets (tokens), where a plain
/// hash is enough.
pub fn sha256_hex(input: &str) -> String {
    hex::encode(Sha256::digest(input.as_bytes()))
}

/// HMAC-SHA256 of `message` under `key`, hex. For low-entropy secrets (6-digit
/// codes), so a leaked table cannot be brute-forced without the key.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    hex::encode(hmac_sha256(key, message))
}

pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Compares two strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The permissions of a file natter writes a secret into: read and write for
/// its owner, nothing for anyone else.
pub const PRIVATE_MODE: u32 = 0o600;

/// Writes `contents` to `path` (replacing it) with [`PRIVATE_MODE`] on Unix.
/// The mode is set when the file is created, so the secret is never readable
/// by others, not even for a moment; an existing file is narrowed to it too.
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(PRIVATE_MODE);
    let mut file = options.open(path)?;
    #[cfg(unix)]
    file.set_permissions(Permissions::from_mode(PRIVATE_MODE))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// The mode of `path` when its group or others may read or write it (Unix),
/// so the operator can be warned about a secret file made by hand or by an
/// older natter; None when it is private, missing, or not on Unix.
pub fn loose_mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then_some(mode)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// Warns (once, at start) when a file holding a secret is readable by others.
/// Not changed behind the operator's back: they may have meant it (a group
/// that deploys), but they should know.
pub fn warn_if_loose(path: &Path, what: &str) {
    if let Some(mode) = loose_mode(path) {
        tracing::warn!(
            file = %path.display(),
            mode = format!("{mode:04o}"),
            "{what} is readable by other users; `chmod 600` it"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_codes_have_the_asked_shape() {
        let token = random_token(40);
        assert_eq!(token.len(), 40);
        assert!(token.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(token, random_token(40));
        let code = random_digits(6);
        assert_eq!(code.len(), 6);
        assert!(code.chars().all(|c| c.is_ascii_digit()));
    }

    #[test]
    fn hmac_matches_the_rfc_4231_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_the_owners_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.key");
        write_private(&path, "secret").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(loose_mode(&path), None);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "secret");
        // A file left world-readable is seen, and narrowed when rewritten.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(loose_mode(&path), Some(0o644));
        write_private(&path, "again").unwrap();
        assert_eq!(loose_mode(&path), None);
    }

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }
}
