//! natter: a self-hostable WhatsApp-style messaging backend.
//!
//! Start at [`start`] (what `natter serve` runs; server/mod.rs builds the
//! router). The layout is one folder per feature, and a module imports only
//! modules below it in the layer order of docs/architecture.md (checked by
//! tests/layers.rs): `routes.rs` extracts and shapes, `service.rs` decides,
//! `store.rs` queries, `dto.rs` holds the requests.

pub mod admin;
pub mod auth;
pub mod background;
pub mod broadcasts;
pub mod cache;
pub mod calls;
pub mod chats;
pub mod clock;
pub mod config;
pub mod contacts;
pub mod db;
pub mod devices;
pub mod error;
pub mod groups;
pub mod http;
pub mod jobs;
pub mod linked;
pub mod media;
pub mod membership;
pub mod messages;
pub mod ops;
pub mod outage;
pub mod phone;
pub mod push;
pub mod pusher;
pub mod ratelimit;
pub mod realtime;
pub mod resources;
pub mod search;
pub mod secrets;
pub mod server;
pub mod sessions;
pub mod sms;
pub mod state;
pub mod statuses;
pub mod storage;
pub mod sync;
pub mod synclog;
pub mod telemetry;
pub mod users;
pub mod web;

pub use server::{Running, SHUTDOWN_GRACE, StopStage, shutdown_signal, start};
