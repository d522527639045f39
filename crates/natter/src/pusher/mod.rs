//! What a Pusher-compatible server (Laravel Reverb, Pusher itself) offers an
//! application's backend besides sockets: the Pusher HTTP API (publish, query
//! channels, terminate a user's connections), signed with the app's key and
//! secret, and webhooks. Through it a stock Pusher server library broadcasts
//! through natter. docs/realtime.md, "Coming from Reverb".

mod dto;
mod error;
pub mod routes;
mod service;
mod signature;
pub mod webhooks;

pub use routes::router;
