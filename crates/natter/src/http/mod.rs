//! HTTP plumbing shared by every feature: extractors, middleware, pagination,
//! the OpenAPI document.

pub mod auth;
pub mod client_ip;
pub mod json;
pub mod laravel;
pub mod middleware;
pub mod openapi;
pub mod pagination;
pub mod path;
pub mod query;
pub mod reply;
pub mod security;
pub mod socket_origin;
pub mod validate;
