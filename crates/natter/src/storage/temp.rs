//! Upload temp files: created in the disk's temp folder (on the `local` disk's
//! filesystem, so keeping one is a rename) and removed when dropped unless kept.
//! A client that disconnects, a limit passed, an error anywhere: the guard is
//! dropped and the partial file goes with it.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::secrets::random_token;

/// Temp files older than this are left-overs of a crash and removed at start.
const STALE_AFTER: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    kept: bool,
}

impl TempFile {
    /// A new, empty file in `dir`, opened for writing.
    pub async fn create(dir: &Path) -> std::io::Result<(TempFile, tokio::fs::File)> {
        let path = dir.join(format!("upload-{}.part", random_token(20)));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await?;
        Ok((TempFile { path, kept: false }, file))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the file to `dest` (same filesystem: a rename) and makes the move
    /// durable. The guard then no longer removes anything.
    pub async fn persist(mut self, dest: &Path) -> std::io::Result<()> {
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        tokio::fs::rename(&self.path, dest).await?;
        self.kept = true;
        sync_dir(dest.parent()).await
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.kept {
            // Unlinking is one quick system call; not worth a blocking-pool hop.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// fsync a folder so a rename into it survives power loss.
async fn sync_dir(dir: Option<&Path>) -> std::io::Result<()> {
    let Some(dir) = dir.map(Path::to_path_buf) else {
        return Ok(());
    };
    tokio::task::spawn_blocking(move || std::fs::File::open(dir)?.sync_all())
        .await
        .map_err(std::io::Error::other)?
}

/// Removes temp files a crashed process left behind.
pub fn remove_stale(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .is_some_and(|age| age > STALE_AFTER);
        if old && entry.file_name().to_string_lossy().ends_with(".part") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
