//! SeaORM entities, one per table. Each feature's `store.rs` is the only place
//! that queries the tables its feature owns.

pub mod access_token;
pub mod broadcast_list;
pub mod broadcast_list_recipient;
pub mod call;
pub mod call_participant;
pub mod chat;
pub mod chat_membership;
pub mod chat_participant;
pub mod contact;
pub mod device;
pub mod event;
pub mod job;
pub mod job_period;
pub mod link_code;
pub mod login_session;
pub mod media;
pub mod message;
pub mod message_mention;
pub mod message_reaction;
pub mod message_view;
pub mod otp_code;
pub mod pinned_message;
pub mod receipt_mark;
pub mod starred_message;
pub mod status;
pub mod status_view;
pub mod sync_log_counter;
pub mod user;
