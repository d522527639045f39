//! The documentation, checked against the repository:
//!
//! - every relative link (and image) in `README.md`, `docs/*.md` and the
//!   READMEs under `tests/` names a file or folder of this repository, and a
//!   `#fragment` names a heading of the page it points at;
//! - every route of the contract (`docs/api-contract.md`) is either in the
//!   OpenAPI document (`docs/openapi.json`, which the api tests keep equal to
//!   the served one) or in the README's "What is not built yet" list, and
//!   nothing on that list is served.

// A check that fails by panicking, with the report as the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The Markdown pages whose links are checked.
fn pages(root: &Path) -> Vec<PathBuf> {
    let mut pages = vec![root.join("README.md")];
    for folder in ["docs", "tests"] {
        for entry in fs::read_dir(root.join(folder)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "md") {
                pages.push(path);
            } else if path.join("README.md").is_file() {
                pages.push(path.join("README.md"));
            }
        }
    }
    pages.sort();
    pages
}

/// The text outside fenced code blocks and inline code spans, where a
/// `[x](y)` is a link and not code.
fn prose(markdown: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        // Drop `code spans`: every other piece between backticks.
        for (i, piece) in line.split('`').enumerate() {
            if i % 2 == 0 {
                out.push_str(piece);
            }
        }
        out.push('\n');
    }
    out
}

/// Targets of `[text](target)` links and `src="target"` attributes.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        if let Some(end) = after.find(')') {
            let target = after[..end].split_whitespace().next().unwrap_or("");
            targets.push(target.trim_matches(['<', '>']).to_string());
        }
        rest = after;
    }
    let mut rest = text;
    while let Some(at) = rest.find("src=\"") {
        let after = &rest[at + 5..];
        if let Some(end) = after.find('"') {
            targets.push(after[..end].to_string());
        }
        rest = after;
    }
    targets
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as
/// hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut anchors = BTreeSet::new();
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            anchors.insert(slug(line.trim_start_matches('#')));
        }
    }
    anchors
}

/// What is wrong with `target`, linked from `page`, if anything.
fn broken(root: &Path, page: &Path, target: &str) -> Option<String> {
    let external = ["http://", "https://", "mailto:"];
    if target.is_empty() || external.iter().any(|p| target.starts_with(p)) {
        return None;
    }
    let (file, fragment) = match target.split_once('#') {
        Some((file, fragment)) => (file, Some(fragment)),
        None => (target, None),
    };
    let file = file.split('?').next().unwrap_or(file);
    let resolved = if file.is_empty() {
        page.to_path_buf()
    } else {
        page.parent().unwrap().join(file)
    };
    let Ok(resolved) = resolved.canonicalize() else {
        return Some(format!("{target}: no such file"));
    };
    if !resolved.starts_with(root) {
        return Some(format!("{target}: outside the repository"));
    }
    let fragment = fragment.filter(|f| !f.is_empty())?;
    let is_markdown = resolved.extension().is_some_and(|e| e == "md");
    let text = fs::read_to_string(&resolved).unwrap_or_default();
    if is_markdown && !anchors(&text).contains(fragment) {
        return Some(format!("{target}: no heading #{fragment} there"));
    }
    None
}

#[test]
fn relative_links_point_at_files_of_the_repository() {
    let root = root();
    let mut problems = Vec::new();
    for page in pages(&root) {
        let text = fs::read_to_string(&page).unwrap();
        for target in link_targets(&prose(&text)) {
            if let Some(problem) = broken(&root, &page, &target) {
                let name = page.strip_prefix(&root).unwrap().display().to_string();
                problems.push(format!("{name}: {problem}"));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "broken links:\n  {}",
        problems.join("\n  ")
    );
}

/// `METHOD /path` in backticks, with `{parameter}` names erased and any query
/// or trailing punctuation dropped.
fn routes(markdown: &str) -> BTreeSet<String> {
    let methods = ["GET", "POST", "PUT", "DELETE", "PATCH"];
    let mut routes = BTreeSet::new();
    for (i, span) in markdown.split('`').enumerate() {
        let Some((method, path)) = span.split_once(' ') else {
            continue;
        };
        if i % 2 == 0 || !methods.contains(&method) || !path.starts_with('/') {
            continue;
        }
        let path = path.split(['?', ' ']).next().unwrap();
        let path = path.trim_end_matches(['.', ',', ';', ':']);
        routes.insert(format!("{method} {}", erase_parameters(path)));
    }
    routes
}

fn erase_parameters(path: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for c in path.chars() {
        match c {
            '{' => {
                inside = true;
                out.push_str("{}");
            }
            '}' => inside = false,
            _ if !inside => out.push(c),
            _ => {}
        }
    }
    out
}

fn served(root: &Path) -> BTreeSet<String> {
    let text = fs::read_to_string(root.join("docs/openapi.json")).unwrap();
    let document: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut routes = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.insert(format!(
                "{} {}",
                method.to_uppercase(),
                erase_parameters(path)
            ));
        }
    }
    routes
}

/// The README's "What is not built yet" section.
fn not_built(readme: &str) -> BTreeSet<String> {
    let start = readme
        .find("### What is not built yet")
        .expect("README.md has a \"What is not built yet\" section");
    let section = &readme[start..];
    let end = section[4..].find("\n#").map_or(section.len(), |e| e + 4);
    routes(&section[..end])
}

#[test]
fn every_contract_route_is_served_or_listed_as_not_built() {
    let root = root();
    let contract = routes(&fs::read_to_string(root.join("docs/api-contract.md")).unwrap());
    let served = served(&root);
    let not_built = not_built(&fs::read_to_string(root.join("README.md")).unwrap());
    assert!(
        contract.len() > 40,
        "routes found in the contract: {contract:?}"
    );
    let unaccounted: Vec<_> = contract
        .iter()
        .filter(|r| !served.contains(*r) && !not_built.contains(*r))
        .collect();
    assert!(
        unaccounted.is_empty(),
        "in docs/api-contract.md, not served, and not in the README's \"What is not built yet\": {unaccounted:?}"
    );
    let built: Vec<_> = not_built.intersection(&served).collect();
    assert!(
        built.is_empty(),
        "served, but the README says not built yet: {built:?}"
    );
}

#[test]
fn the_checks_read_what_they_should() {
    let text =
        "see [a](docs/a.md#x) and `[no](code)` and <img src=\"i.png\">\n```\n[no](fence)\n```\n";
    assert_eq!(link_targets(&prose(text)), vec!["docs/a.md#x", "i.png"]);
    assert_eq!(
        slug("In the contract, not built yet"),
        "in-the-contract-not-built-yet"
    );
    assert_eq!(
        slug("`DATABASE_URL` and `REDIS_URL`"),
        "database_url-and-redis_url"
    );
    let spans =
        routes("- `GET /api/search?q=&limit=` and `DELETE /api/sessions/{id}`. `DELETE` alone");
    let expected: BTreeSet<String> = ["GET /api/search", "DELETE /api/sessions/{}"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(spans, expected);
}
