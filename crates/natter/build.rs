//! Embeds the web client (the repository's `web/` folder) into the binary.
//!
//! Writes `$OUT_DIR/web_files.rs`: a table of every file under `web/` with its
//! bytes pulled in by `include_bytes!`, so a release binary carries the page
//! and needs nothing on disk. Cargo re-runs this script when anything in
//! `web/` changes (a directory given to `rerun-if-changed` is scanned
//! recursively), so an edit, a new file or a removed one is picked up by the
//! next `cargo build`.

use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let web = manifest.join("../../web");
    println!("cargo:rerun-if-changed={}", web.display());
    let mut files = Vec::new();
    if web.is_dir() {
        collect(&web, &web, &mut files)?;
    }
    files.sort();
    let mut table = String::from("pub static FILES: &[(&str, &[u8])] = &[\n");
    for (name, path) in files {
        writeln!(table, "    ({name:?}, include_bytes!({path:?})),")?;
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("web_files.rs");
    std::fs::write(out, table)?;
    Ok(())
}

/// Every file under `dir` as (path from `root` with `/` separators, absolute
/// path). Hidden files (editor swap files, `.DS_Store`) are left out.
fn collect(
    root: &Path,
    dir: &Path,
    files: &mut Vec<(String, String)>,
) -> Result<(), Box<dyn Error>> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_none_or(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, files)?;
        } else {
            let relative = path.strip_prefix(root)?;
            let name = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let absolute = path.canonicalize()?;
            files.push((name, absolute.to_string_lossy().into_owned()));
        }
    }
    Ok(())
}
