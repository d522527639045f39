//! The OpenAPI document against the committed copy in docs/openapi.json, so a
//! change to the contract is always a deliberate one. After an intended change:
//!
//! ```text
//! NATTER_UPDATE_OPENAPI=1 cargo test -p natter --test api openapi::matches_the_committed_copy
//! ```

use std::path::PathBuf;

use reqwest::Method;
use serde_json::Value;

use crate::common::{Backend, TestServer};

fn committed_copy() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

/// `GET /api/openapi.json` of a fresh server (200, or the test fails).
async fn served_document() -> Value {
    let server = TestServer::start(Backend::Sqlite).await;
    let raw = server
        .client
        .raw(Method::GET, "/api/openapi.json", None)
        .await
        .unwrap();
    assert_eq!(raw.status, 200);
    raw.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matches_the_committed_copy() {
    let served = served_document().await;
    let path = committed_copy();
    if std::env::var("NATTER_UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        let text = serde_json::to_string_pretty(&served).unwrap() + "\n";
        std::fs::write(&path, text).unwrap();
        return;
    }
    let committed: Value = std::fs::read_to_string(&path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    let differences = differences(&committed, &served, "");
    assert!(
        differences.is_empty(),
        "the OpenAPI document differs from {} at:\n  {}\n\
         If the change is intended, refresh the copy with\n  \
         NATTER_UPDATE_OPENAPI=1 cargo test -p natter --test api openapi::matches_the_committed_copy",
        path.display(),
        differences
            .into_iter()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

/// JSON pointers where `served` differs from `committed` (object keys in any order).
fn differences(committed: &Value, served: &Value, at: &str) -> Vec<String> {
    match (committed, served) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            keys.into_iter()
                .flat_map(|key| {
                    let here = format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"));
                    match (a.get(key), b.get(key)) {
                        (Some(x), Some(y)) => differences(x, y, &here),
                        (Some(_), None) => vec![format!("{here} (removed)")],
                        _ => vec![format!("{here} (added)")],
                    }
                })
                .collect()
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .flat_map(|(i, (x, y))| differences(x, y, &format!("{at}/{i}")))
            .collect(),
        (a, b) if a == b => Vec::new(),
        (a, b) => vec![format!("{at}: {} -> {}", short(a), short(b))],
    }
}

fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(80) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// What OpenAPI 3.1 requires and generated clients rely on: every operation
/// has an operationId no other has, every response a description, and the
/// document lists itself. (`.ci/run` also runs `openapi-spec-validator` on the
/// committed copy.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_are_unique_and_described() {
    let document = served_document().await;
    assert_eq!(document["openapi"], "3.1.0");
    let mut ids = Vec::new();
    let mut undescribed = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str();
            ids.push(id.unwrap_or_else(|| panic!("{method} {path} has no operationId")));
            for (status, response) in operation["responses"].as_object().unwrap() {
                if response["description"].as_str().is_none_or(str::is_empty) {
                    undescribed.push(format!("{method} {path} {status}"));
                }
            }
        }
    }
    assert!(undescribed.is_empty(), "no description: {undescribed:?}");
    let total = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), total, "an operationId repeats");
    assert!(ids.contains(&"chats_list") && ids.contains(&"contacts_list"));
    let itself = &document["paths"]["/api/openapi.json"]["get"];
    assert_eq!(
        itself["responses"]["200"]["description"],
        "This OpenAPI 3.1 document"
    );
}

#[test]
fn differences_name_the_changed_places() {
    let a = serde_json::json!({"paths": {"/x": {"get": 1}}, "list": [1, 2]});
    let b = serde_json::json!({"paths": {"/x": {"get": 2}, "/y": {}}, "list": [1, 3]});
    assert_eq!(
        differences(&a, &b, ""),
        vec![
            "/list/1: 2 -> 3",
            "/paths/~1x/get: 1 -> 2",
            "/paths/~1y (added)"
        ]
    );
    assert!(differences(&a, &a, "").is_empty());
}
