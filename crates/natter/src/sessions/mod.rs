//! Login sessions and tokens: issuing a pair at sign-in, authenticating a
//! bearer token (through the token cache), refreshing with reuse detection,
//! revoking; pruning the dead ones (`prune.rs`). Sign-in itself (OTP codes)
//! is auth/'s; the routes are there too.

pub mod dto;
pub mod prune;
pub mod service;
mod store;
