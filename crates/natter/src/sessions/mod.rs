//! Login sessions and tokens: issuing a pair at sign-in, authenticating a
//! bearer token (through the token cache), refreshing with reuse detection,
//! revoking; pruning the dead ones (`prune.rs`); what each session records
//! about its device (`device.rs`) and when it was last active. Sign-in itself
//! (OTP codes, link codes) is auth/'s and linked/'s; the routes are there too.

pub mod device;
pub mod dto;
pub mod prune;
pub mod service;
mod store;
