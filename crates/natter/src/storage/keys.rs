//! Object keys: where a stored file lives, derived from the SHA-256 of the bytes
//! that were uploaded, so the same upload is stored once and the files made from
//! it (a cleaned copy, a thumbnail, an avatar) have keys anyone can recompute.
//!
//! `media/ab/cd/<sha256><variant>.<ext>`: two levels of fan-out keep folders of the
//! local disk small; the variant says what was made from the upload.

use std::fmt;

/// What a stored object is, relative to the upload whose hash names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Variant {
    /// The uploaded bytes as they came (documents, video, audio, clean GIFs).
    Original,
    /// An image re-encoded or rewritten without its metadata.
    Clean,
    /// A JPEG whose longest side is at most 320 px (image thumbnail, video poster).
    Thumbnail,
    /// A JPEG whose longest side is at most 640 px, for profile and group photos.
    Avatar,
}

const VARIANTS: [(Variant, &str); 4] = [
    (Variant::Original, ""),
    (Variant::Clean, ".clean"),
    (Variant::Thumbnail, ".thumb"),
    (Variant::Avatar, ".avatar"),
];

impl Variant {
    fn suffix(self) -> &'static str {
        VARIANTS
            .iter()
            .find(|(v, _)| *v == self)
            .map(|(_, s)| *s)
            .unwrap_or_default()
    }
}

/// A validated object key. Only keys this module made or checked exist, so a
/// key never holds `..`, a leading slash or anything a path could escape with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    key: String,
    sha256: String,
    variant: Variant,
    ext: String,
}

impl ObjectKey {
    /// The key of `variant` of the upload whose SHA-256 is `sha256` (64 hex digits).
    pub fn derive(sha256: &str, variant: Variant, ext: &str) -> Option<ObjectKey> {
        if !is_sha256_hex(sha256) || !is_extension(ext) {
            return None;
        }
        let sha256 = sha256.to_ascii_lowercase();
        let key = format!(
            "media/{}/{}/{sha256}{}.{ext}",
            &sha256[..2],
            &sha256[2..4],
            variant.suffix()
        );
        Some(ObjectKey {
            key,
            sha256,
            variant,
            ext: ext.to_string(),
        })
    }

    /// Checks a key that came from outside (the `/media/{path}` route): only the
    /// exact shape [`ObjectKey::derive`] makes is accepted.
    pub fn parse(path: &str) -> Option<ObjectKey> {
        let mut parts = path.split('/');
        let (Some("media"), Some(a), Some(b), Some(file), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let (stem, ext) = file.rsplit_once('.')?;
        let sha256 = stem.get(..64)?;
        let suffix = stem.get(64..)?;
        let variant = VARIANTS.iter().find(|(_, s)| *s == suffix)?.0;
        let key = ObjectKey::derive(sha256, variant, ext)?;
        (key.key == path && a == &sha256[..2] && b == &sha256[2..4]).then_some(key)
    }

    /// Another file made from the same upload.
    pub fn sibling(&self, variant: Variant, ext: &str) -> Option<ObjectKey> {
        ObjectKey::derive(&self.sha256, variant, ext)
    }

    pub fn as_str(&self) -> &str {
        &self.key
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    pub fn variant(&self) -> Variant {
        self.variant
    }

    pub fn extension(&self) -> &str {
        &self.ext
    }

    /// A strong ETag: the hash of the upload plus the variant. Stored objects are
    /// never rewritten with other bytes, so the name identifies the content.
    pub fn etag(&self) -> String {
        format!("\"{}{}\"", self.sha256, self.variant.suffix())
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_extension(text: &str) -> bool {
    (1..=8).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn keys_fan_out_by_hash_and_name_their_variant() {
        let original = ObjectKey::derive(SHA, Variant::Original, "jpg").unwrap();
        assert_eq!(original.as_str(), format!("media/9f/86/{SHA}.jpg"));
        let thumb = original.sibling(Variant::Thumbnail, "jpg").unwrap();
        assert_eq!(thumb.as_str(), format!("media/9f/86/{SHA}.thumb.jpg"));
        assert_eq!(thumb.etag(), format!("\"{SHA}.thumb\""));
        assert_eq!(ObjectKey::parse(thumb.as_str()), Some(thumb));
    }

    #[test]
    fn only_the_exact_shape_parses() {
        for bad in [
            format!("media/9f/86/{SHA}.JPG"),
            format!("media/00/86/{SHA}.jpg"),
            format!("media/9f/86/../{SHA}.jpg"),
            format!("/media/9f/86/{SHA}.jpg"),
            format!("media/9f/86/{SHA}.other.jpg"),
            format!("media/9f/86/{SHA}"),
            format!("media/9f/86/{SHA}.jpg/x"),
            "media/9f/86/short.jpg".to_string(),
            String::new(),
        ] {
            assert_eq!(ObjectKey::parse(&bad), None, "{bad}");
        }
        assert!(ObjectKey::derive("not-hex", Variant::Original, "jpg").is_none());
        assert!(ObjectKey::derive(SHA, Variant::Original, "j/g").is_none());
    }
}
