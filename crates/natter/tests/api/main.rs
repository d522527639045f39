//! Black-box tests: a real server per test, on every backend, through natter-client.

// Test helpers outside #[test] functions panic on failure by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod auth;
mod chats;
mod cluster;
mod contacts;
mod crash;
mod errors;
mod groups;
mod jobs;
mod lifecycle;
mod messages;
mod ops;
mod push;
mod realtime;
mod sms;
mod sync;
mod users;
