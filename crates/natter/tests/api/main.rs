//! Black-box tests: a real server per test, on every backend, through natter-client.

mod common;

mod auth;
mod contacts;
mod errors;
mod ops;
mod users;
