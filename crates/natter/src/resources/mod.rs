//! The wire resources of API.md that more than one feature sends, in route
//! answers and in events: users, chats, messages, statuses, calls, broadcast lists, and the payloads of the
//! events that are not a whole resource. Plain data with their OpenAPI
//! schemas; how they are built from rows is each feature's business.

pub mod broadcast;
pub mod call;
pub mod chat;
pub mod message;
pub mod status;
pub mod user;
