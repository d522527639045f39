//! Black-box tests: a real server per test, on every backend, through natter-client.

// Test helpers outside #[test] functions panic on failure by design; tests
// may name things by their full path (the import rule is for the server).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::absolute_paths)]

mod common;

mod admin;
mod auth;
mod backup;
mod broadcasts;
mod calls;
mod chatprefs;
mod chats;
mod cluster;
mod config;
mod contacts;
mod crash;
mod devices;
mod disappearing;
mod errors;
mod groups;
mod jobs;
mod lifecycle;
mod media;
mod media_routes;
mod mentions;
mod messages;
mod migrate;
mod openapi;
mod ops;
mod pruning;
mod push;
mod races;
mod realtime;
mod reverb;
mod safety;
mod schema;
mod search;
mod search_bench;
mod security;
mod sessions;
mod sms;
mod stars;
mod statuses;
mod sync;
mod tls;
mod users;
mod web;
