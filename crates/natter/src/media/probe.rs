//! Video and audio: duration and a poster frame through `ffprobe`/`ffmpeg` when
//! they are on the PATH (found once at start). Without them everything here
//! answers None and nothing fails: durations and posters stay null.
//!
//! Only files natter wrote (temp files, the local disk) are passed, by path, with
//! the `file` protocol alone allowed, no standard input and a time limit.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use tokio::process::Command;

use crate::media::images::THUMBNAIL_SIDE;

/// The longest an ffprobe or ffmpeg run may take before it is killed.
const RUN_LIMIT: Duration = Duration::from_secs(30);
/// Most bytes read from a tool's standard output (a 320 px JPEG is far smaller).
const MAX_OUTPUT: usize = 4 * 1024 * 1024;

/// ffmpeg and ffprobe, found on the PATH.
#[derive(Debug, Clone)]
pub struct Ffmpeg {
    ffmpeg: String,
    ffprobe: String,
}

/// What ffprobe says about a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Probe {
    pub duration_ms: Option<i64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub has_video: bool,
}

impl Ffmpeg {
    /// Looks for both tools on the PATH; logs once what it found.
    pub async fn detect() -> Option<Ffmpeg> {
        let found = Ffmpeg {
            ffmpeg: "ffmpeg".into(),
            ffprobe: "ffprobe".into(),
        };
        let ok = runs(&found.ffmpeg).await && runs(&found.ffprobe).await;
        if ok {
            tracing::info!("ffmpeg and ffprobe found: video/audio durations and posters enabled");
        } else {
            tracing::info!(
                "ffmpeg/ffprobe not on the PATH: video/audio durations and posters stay null"
            );
        }
        ok.then_some(found)
    }

    /// Duration and (for video) dimensions of the file at `path`.
    pub async fn probe(&self, path: &Path) -> Option<Probe> {
        let mut command = Command::new(&self.ffprobe);
        command
            .args(["-v", "error", "-protocol_whitelist", "file"])
            .args([
                "-show_entries",
                "format=duration:stream=codec_type,width,height",
            ])
            .args(["-of", "json", "-i"])
            .arg(path);
        let output = run(command).await?;
        parse_probe(&output)
    }

    /// A JPEG of the first frame, longest side at most 320 px; None for audio.
    pub async fn poster(&self, path: &Path) -> Option<Bytes> {
        let scale = format!(
            "scale=w={THUMBNAIL_SIDE}:h={THUMBNAIL_SIDE}:force_original_aspect_ratio=decrease"
        );
        let mut command = Command::new(&self.ffmpeg);
        command
            .args([
                "-v",
                "error",
                "-nostdin",
                "-protocol_whitelist",
                "file",
                "-i",
            ])
            .arg(path)
            .args(["-frames:v", "1", "-an", "-vf", &scale])
            .args(["-f", "image2pipe", "-c:v", "mjpeg", "-q:v", "5", "-"]);
        let jpeg = run(command).await?;
        (jpeg.starts_with(&[0xFF, 0xD8])).then(|| Bytes::from(jpeg))
    }
}

async fn runs(program: &str) -> bool {
    let mut command = Command::new(program);
    command.arg("-version");
    run(command).await.is_some()
}

/// Runs a tool with no input, killed after [`RUN_LIMIT`]; its output on success.
async fn run(mut command: Command) -> Option<Vec<u8>> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let child = command.spawn().ok()?;
    let output = tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
        .await
        .ok()?
        .ok()?;
    (output.status.success() && output.stdout.len() <= MAX_OUTPUT).then_some(output.stdout)
}

fn parse_probe(json: &[u8]) -> Option<Probe> {
    let value: serde_json::Value = serde_json::from_slice(json).ok()?;
    let duration_ms = value["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| d.is_finite() && *d >= 0.0)
        .map(|d| (d * 1000.0).round() as i64);
    let video = value["streams"]
        .as_array()
        .and_then(|streams| streams.iter().find(|s| s["codec_type"] == "video"));
    let dimension = |name: &str| {
        video
            .and_then(|v| v[name].as_u64())
            .and_then(|n| u32::try_from(n).ok())
    };
    Some(Probe {
        duration_ms,
        width: dimension("width"),
        height: dimension("height"),
        has_video: video.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ffprobe_json_is_read() {
        let json =
            br#"{"streams":[{"codec_type":"audio"},{"codec_type":"video","width":64,"height":48}],
            "format":{"duration":"1.500000"}}"#;
        assert_eq!(
            parse_probe(json),
            Some(Probe {
                duration_ms: Some(1500),
                width: Some(64),
                height: Some(48),
                has_video: true
            })
        );
        let audio = br#"{"streams":[{"codec_type":"audio"}],"format":{"duration":"N/A"}}"#;
        assert_eq!(parse_probe(audio).unwrap().duration_ms, None);
    }
}
