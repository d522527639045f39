//! What an upload is, from its first bytes (magic numbers through `infer`), never
//! from its name or the client's content type; and whether that is allowed for
//! the kind of media the client says it sends (API.md, "Details": allowed lists).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Bytes of the start of a file kept for sniffing (infer needs at most a few KiB;
/// Office documents are recognised from the first zip entries).
pub const HEAD_BYTES: usize = 64 * 1024;

/// The four kinds of media a message (or avatar, status) can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    Document,
}

impl MediaKind {
    /// The kind a `message_type` carries; None for text, location, contact, system.
    pub fn from_message_type(message_type: &str) -> Option<MediaKind> {
        match message_type {
            "image" => Some(MediaKind::Image),
            "video" => Some(MediaKind::Video),
            "audio" => Some(MediaKind::Audio),
            "document" => Some(MediaKind::Document),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
        }
    }

    pub fn parse(text: &str) -> Option<MediaKind> {
        MediaKind::from_message_type(text)
    }
}

/// The type found in the bytes: stored as `mime_type`, and the key's extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sniffed {
    pub mime: String,
    pub ext: String,
}

/// Why an upload's bytes are refused (415).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The bytes are not one of the types allowed for this kind.
    NotAllowed {
        kind: MediaKind,
        found: Option<String>,
    },
    /// An executable or installer, refused whatever the kind.
    Executable(String),
}

impl Refused {
    /// The message a client gets with the 415.
    pub fn message(&self) -> String {
        match self {
            Refused::NotAllowed { kind, found } => {
                let allowed = match kind {
                    MediaKind::Image => "JPEG, PNG, WebP or GIF",
                    MediaKind::Video => "MP4, WebM, 3GP or QuickTime",
                    MediaKind::Audio => "Ogg/Opus, MP3, AAC/M4A, WAV, AMR or WebM",
                    MediaKind::Document => "a document",
                };
                let found = found.as_deref().unwrap_or("an unrecognised type");
                format!(
                    "The file is {found}; a {} must be {allowed}.",
                    kind.as_str()
                )
            }
            Refused::Executable(found) => {
                format!("Executable files ({found}) cannot be sent.")
            }
        }
    }
}

/// Types refused as documents because running them is their purpose.
const EXECUTABLE_MIMES: &[&str] = &[
    "application/wasm",
    "application/x-executable",
    "application/vnd.microsoft.portable-executable",
    "application/java",
    "application/x-llvm",
    "application/x-mach-binary",
    "application/vnd.android.dex",
    "application/vnd.android.dey",
    "application/x-ole-storage",
    "application/x-google-chrome-extension",
    "application/vnd.debian.binary-package",
    "application/x-rpm",
    "application/x-shockwave-flash",
];

/// Sniffs `head` (the first bytes of the file) and checks it against `kind`.
pub fn classify(kind: MediaKind, head: &[u8]) -> Result<Sniffed, Refused> {
    if let Some(executable) = executable(head) {
        return Err(Refused::Executable(executable));
    }
    let found = sniff(head);
    let allowed = match (&found, kind) {
        (Some(s), MediaKind::Image) => {
            ["image/jpeg", "image/png", "image/webp", "image/gif"].contains(&s.mime.as_str())
        }
        (Some(s), MediaKind::Video) => {
            ["video/mp4", "video/webm", "video/3gpp", "video/quicktime"].contains(&s.mime.as_str())
        }
        (Some(s), MediaKind::Audio) => [
            "audio/ogg",
            "audio/mpeg",
            "audio/aac",
            "audio/mp4",
            "audio/wav",
            "audio/amr",
            "audio/webm",
        ]
        .contains(&s.mime.as_str()),
        (_, MediaKind::Document) => true,
        (None, _) => false,
    };
    match (allowed, found, kind) {
        (true, Some(found), _) => Ok(found),
        (true, None, _) => Ok(unknown_document(head)),
        (false, found, kind) => Err(Refused::NotAllowed {
            kind,
            found: found.map(|f| f.mime),
        }),
    }
}

/// The type of `head`, with the container formats told apart by their brand and
/// names normalised to the registered types.
pub fn sniff(head: &[u8]) -> Option<Sniffed> {
    if let Some(brand) = iso_brand(head) {
        return Some(brand);
    }
    let found = infer::get(head)?;
    let (mime, ext) = match found.mime_type() {
        "audio/opus" => ("audio/ogg", "ogg"),
        "audio/x-wav" => ("audio/wav", "wav"),
        "audio/m4a" => ("audio/mp4", "m4a"),
        "video/x-m4v" => ("video/mp4", "mp4"),
        other => (other, found.extension()),
    };
    Some(Sniffed {
        mime: mime.to_string(),
        ext: ext.to_ascii_lowercase(),
    })
}

/// ISO base media files (`....ftyp<brand>`): QuickTime, 3GP and M4A share the
/// MP4 container and differ only in the major brand.
fn iso_brand(head: &[u8]) -> Option<Sniffed> {
    if head.get(4..8) != Some(b"ftyp") {
        return None;
    }
    let brand = head.get(8..12)?;
    let (mime, ext) = match brand {
        b"qt  " => ("video/quicktime", "mov"),
        [b'3', b'g', b'p' | b'2', _] => ("video/3gpp", "3gp"),
        b"M4A " | b"M4B " => ("audio/mp4", "m4a"),
        _ => return None,
    };
    Some(Sniffed {
        mime: mime.into(),
        ext: ext.into(),
    })
}

/// The executable type of `head`, if it is one. `MZ` is checked directly: a DOS
/// stub without a PE header is still an .exe.
fn executable(head: &[u8]) -> Option<String> {
    if head.starts_with(b"MZ") {
        return Some("application/vnd.microsoft.portable-executable".into());
    }
    if head.starts_with(b"\x7fELF") {
        return Some("application/x-executable".into());
    }
    // A script's interpreter line (`#!/bin/sh`, `#! /usr/bin/env`); AMR audio also
    // starts with `#!` (`#!AMR`).
    if head.starts_with(b"#!") && head[2..].trim_ascii_start().starts_with(b"/") {
        return Some("text/x-shellscript".into());
    }
    let found = infer::get(head)?;
    EXECUTABLE_MIMES
        .contains(&found.mime_type())
        .then(|| found.mime_type().to_string())
}

/// A document no magic number names: plain text when it reads as UTF-8 without
/// NUL bytes, else bytes.
fn unknown_document(head: &[u8]) -> Sniffed {
    let text = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A character cut by the end of the head is still text.
        Err(err) => err.error_len().is_none() && err.valid_up_to() + 4 > head.len(),
    };
    let (mime, ext) = if text && !head.is_empty() && !head.contains(&0) {
        ("text/plain", "txt")
    } else {
        ("application/octet-stream", "bin")
    };
    Sniffed {
        mime: mime.into(),
        ext: ext.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ftyp(brand: &[u8; 4]) -> Vec<u8> {
        let mut v = vec![0, 0, 0, 0x18];
        v.extend_from_slice(b"ftyp");
        v.extend_from_slice(brand);
        v.extend_from_slice(&[0; 12]);
        v
    }

    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0];
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const ELF: &[u8] = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0";
    const PE: &[u8] = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0";

    #[test]
    fn the_allowed_lists_hold() {
        let ok = |kind, bytes: &[u8], mime: &str| {
            assert_eq!(classify(kind, bytes).map(|s| s.mime), Ok(mime.to_string()));
        };
        ok(MediaKind::Image, JPEG, "image/jpeg");
        ok(MediaKind::Image, PNG, "image/png");
        ok(MediaKind::Image, b"GIF89a\x01\0\x01\0", "image/gif");
        ok(MediaKind::Image, b"RIFF\0\0\0\0WEBPVP8 ", "image/webp");
        ok(MediaKind::Video, &ftyp(b"isom"), "video/mp4");
        ok(MediaKind::Video, &ftyp(b"qt  "), "video/quicktime");
        ok(MediaKind::Video, &ftyp(b"3gp5"), "video/3gpp");
        ok(MediaKind::Audio, &ftyp(b"M4A "), "audio/mp4");
        ok(MediaKind::Audio, b"ID3\x03\0\0\0\0\0\0", "audio/mpeg");
        ok(
            MediaKind::Audio,
            b"#!AMR\n\x3c\0\0\0\0\0\0\0\0\0",
            "audio/amr",
        );
        ok(MediaKind::Document, b"%PDF-1.7\n", "application/pdf");
        ok(
            MediaKind::Document,
            "plain words, caf\u{e9}".as_bytes(),
            "text/plain",
        );
        ok(
            MediaKind::Document,
            &[0, 1, 2, 3, 0xFE],
            "application/octet-stream",
        );
        ok(MediaKind::Document, JPEG, "image/jpeg");
    }

    #[test]
    fn wrong_kinds_and_executables_are_refused() {
        let refused = |kind, bytes: &[u8]| classify(kind, bytes).is_err();
        assert!(refused(MediaKind::Document, b"#! /usr/bin/env python\n"));
        assert!(refused(MediaKind::Image, PE), "an .exe renamed .jpg");
        assert!(refused(MediaKind::Image, b"%PDF-1.7\n"));
        assert!(refused(MediaKind::Image, b"just some text"));
        assert!(refused(MediaKind::Video, JPEG));
        assert!(refused(MediaKind::Audio, &ftyp(b"isom")));
        for executable in [
            PE,
            ELF,
            b"#!/bin/sh\necho hi\n".as_slice(),
            b"\xca\xfe\xba\xbe\0\0\0\x34",
        ] {
            assert!(
                matches!(
                    classify(MediaKind::Document, executable),
                    Err(Refused::Executable(_))
                ),
                "{executable:?}"
            );
        }
        let msi = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0\0\0\0\0\0\0";
        assert!(refused(MediaKind::Document, msi));
        assert!(
            Refused::Executable("x".into())
                .message()
                .contains("Executable")
        );
    }
}
