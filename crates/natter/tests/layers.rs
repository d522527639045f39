//! The layer rule of docs/architecture.md, checked: a module of
//! `crates/natter/src` may import only modules on lines below its own in the
//! layer table, and names every module it uses in a `use` line. The table is
//! read from the doc itself, so the doc and the check cannot drift apart.
//!
//! Reads every `.rs` file under `src`, maps it to its top-level module
//! (`lib.rs` is `server`'s), and collects every path into the crate: `use
//! crate::...` (grouped ones too), `crate::` anywhere else (attribute strings
//! included: `custom(function = "crate::...")` calls that function), and
//! `super::` chains that climb to the crate root. Comments are left out.

// A check that fails by panicking, with the report as the message.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// Module name -> its line in the table (0 is the top).
type Layers = BTreeMap<String, usize>;

#[derive(Debug, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    import: String,
    why: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: `{}`: {}",
            self.file, self.line, self.import, self.why
        )
    }
}

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The table: the fenced block marked `layers` in docs/architecture.md, one
/// line per layer from the top, `modules, comma separated | what lives there`.
fn layers_from(doc: &str) -> Layers {
    let start = doc.find("```layers").expect("a ```layers block in the doc");
    let block = &doc[start + "```layers".len()..];
    let end = block.find("```").expect("the layers block ends");
    let mut layers = Layers::new();
    let lines = block[..end]
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty());
    for (index, line) in lines.enumerate() {
        let names = line.split('|').next().unwrap_or_default();
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let earlier = layers.insert(name.to_string(), index);
            assert!(
                earlier.is_none(),
                "{name} is on two lines of the layer table"
            );
        }
    }
    layers
}

/// The module path of a file under `src`: `a/b.rs` is `[a, b]`, `a/mod.rs`
/// and `a.rs` are `[a]`, `lib.rs` is `[]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The text without comments (line comments and doc comments), keeping the
/// line count. Block comments are not used in natter.
fn without_comments(text: &str) -> String {
    text.lines()
        .map(|line| match comment_start(line) {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Where a `//` comment starts, ignoring `//` inside a string literal.
fn comment_start(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let mut in_string = false;
    let mut i = 0;
    while i + 1 < bytes.len() {
        match bytes[i] {
            b'\\' if in_string => i += 1,
            b'"' => in_string = !in_string,
            b'/' if !in_string && bytes[i + 1] == b'/' => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// Every module of the crate a file's text reaches, with the line and the
/// path as written, and whether it was written in a `use` declaration.
fn references(module: &[String], text: &str) -> Vec<(usize, String, String, bool)> {
    let text = without_comments(text);
    let mut found = Vec::new();
    let mut in_use = false;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("use ")
            || trimmed.starts_with("pub use ")
            || trimmed.starts_with("pub(crate) use ")
        {
            in_use = true;
        }
        for (at, _) in line.match_indices("crate::") {
            let before = line[..at].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue; // `natter_crate::`, not `crate::`
            }
            let rest = &line[at + "crate::".len()..];
            for (top, written) in first_segments(rest, &text, index) {
                found.push((index + 1, written, top, in_use));
            }
        }
        for (top, written) in super_targets(module, line) {
            found.push((index + 1, written, top, in_use));
        }
        if in_use && line.contains(';') {
            in_use = false;
        }
    }
    found
}

/// A path as written, up to where it ends.
fn path_at(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | ':'))
        .collect()
}

/// The top-level modules named right after a `crate::`, each with the path
/// as written: one (`crate::a::b`), or each of a group (`crate::{a::b, c}`),
/// which may span lines.
fn first_segments(rest: &str, text: &str, line_index: usize) -> Vec<(String, String)> {
    if !rest.starts_with('{') {
        let written = format!("crate::{}", path_at(rest));
        return ident(rest).map(|top| (top, written)).into_iter().collect();
    }
    let from: String = text.lines().skip(line_index).collect::<Vec<_>>().join("\n");
    let start = from
        .find("crate::{")
        .map(|at| at + "crate::".len())
        .unwrap_or(0);
    let mut depth = 0;
    let mut items = Vec::new();
    let mut current = String::new();
    for c in from[start..].chars() {
        match c {
            '{' => {
                depth += 1;
                if depth > 1 {
                    current.push(c);
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    items.push(std::mem::take(&mut current));
                    break;
                }
                current.push(c);
            }
            ',' if depth == 1 => items.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    items
        .iter()
        .map(|item| item.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter_map(|item| Some((ident(&item)?, format!("crate::{{{item}}}"))))
        .collect()
}

fn ident(text: &str) -> Option<String> {
    let name: String = text
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty() && name != "self").then_some(name)
}

/// The top-level modules reached by `super::` chains that climb to the
/// crate root, each with the path as written.
fn super_targets(module: &[String], line: &str) -> Vec<(String, String)> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("super::") {
        let start = &rest[at..];
        let mut climbs = 0;
        let mut tail = start;
        while let Some(next) = tail.strip_prefix("super::") {
            climbs += 1;
            tail = next;
        }
        if climbs >= module.len()
            && let Some(top) = ident(tail)
        {
            targets.push((top, path_at(start)));
        }
        rest = tail;
    }
    targets
}

/// The violations in one file of module `module`.
fn check(layers: &Layers, file: &str, module: &[String], text: &str) -> Vec<Violation> {
    let own = module.first().map(String::as_str).unwrap_or("server");
    let Some(&own_layer) = layers.get(own) else {
        return vec![Violation {
            file: file.to_string(),
            line: 1,
            import: own.to_string(),
            why: format!("module `{own}` is not in the layer table of docs/architecture.md"),
        }];
    };
    let mut violations = Vec::new();
    for (line, import, target, in_use) in references(module, text) {
        let why = if target == own {
            if in_use {
                continue;
            }
            "name it in a `use` line, not inline".to_string()
        } else {
            match layers.get(&target) {
                None => format!("`{target}` is not in the layer table of docs/architecture.md"),
                Some(&layer) if layer == own_layer => {
                    format!(
                        "`{own}` and `{target}` are on the same line; neither may import the other"
                    )
                }
                Some(&layer) if layer < own_layer => {
                    format!("`{target}` is above `{own}` in the layer order")
                }
                Some(_) if !in_use => "name it in a `use` line, not inline".to_string(),
                Some(_) => continue,
            }
        };
        violations.push(Violation {
            file: file.to_string(),
            line,
            import,
            why,
        });
    }
    violations
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_import_points_down_the_layer_order() {
    let doc = fs::read_to_string(crate_dir().join("../../docs/architecture.md")).unwrap();
    let layers = layers_from(&doc);
    let src = crate_dir().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    for path in files {
        let relative = path.strip_prefix(&src).unwrap();
        if relative == Path::new("main.rs") {
            continue; // the binary: it reaches the library as `natter::`, from outside
        }
        let text = fs::read_to_string(&path).unwrap();
        let name = format!("src/{}", relative.display());
        violations.extend(check(&layers, &name, &module_path(relative), &text));
    }
    assert!(
        violations.is_empty(),
        "imports against the layer order of docs/architecture.md:\n{}",
        violations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_checker_names_the_file_line_and_import_that_break_the_rule() {
    let layers = layers_from(
        "```layers\nchats | views\nmembership, contacts | below\nsynclog | the log\n```",
    );
    let module = vec!["membership".to_string(), "service".to_string()];
    let text = "//! Uses crate::chats only in prose.\n\
                use crate::synclog::LogTx;\n\
                use crate::chats::service::view;\n\
                use crate::{\n    synclog::Scope,\n    contacts::service as c,\n};\n\
                fn f() { crate::synclog::now(); super::super::chats::x(); }\n";
    let found = check(&layers, "src/membership/service.rs", &module, text);
    let summary: Vec<(usize, &str)> = found.iter().map(|v| (v.line, v.import.as_str())).collect();
    assert_eq!(
        summary,
        vec![
            (3, "crate::chats::service::view"),
            (4, "crate::{contacts::service as c}"),
            (8, "crate::synclog::now"),
            (8, "super::super::chats::x"),
        ],
        "{found:#?}"
    );
    assert!(found[0].why.contains("above"), "{}", found[0]);
    assert!(found[1].why.contains("same line"), "{}", found[1]);
    assert!(found[2].why.contains("`use` line"), "{}", found[2]);
    assert!(found[3].why.contains("above"), "{}", found[3]);
    assert_eq!(
        found[0].to_string(),
        "src/membership/service.rs:3: `crate::chats::service::view`: `chats` is above `membership` in the layer order"
    );
    let unknown = check(&layers, "src/nowhere.rs", &["nowhere".to_string()], "");
    assert!(
        unknown[0].why.contains("not in the layer table"),
        "{}",
        unknown[0]
    );
}
