//! Chats and who is in them: the chat rows, participants, membership
//! intervals (which stretches of the sync log a member may see), receipt
//! watermarks, the checks every chat and message route relies on
//! ([`require_member`], [`ensure_not_blocked`]), the live audience of a
//! chat's events ([`emit_to_chat`]) and the rosters the writer keeps
//! ([`RosterCache`]). The features that show chats (chats/, groups/) and write
//! in them (messages/) build on it; it knows none of them.
//!
//! `service.rs` reads and checks, `changes.rs` changes membership (always in
//! a log transaction), `watermarks.rs` holds receipt state, `roster.rs` the
//! writer's rosters, `store.rs` every query on `chats`, `chat_participants`
//! and `chat_memberships`.

mod changes;
mod roster;
mod service;
mod store;
mod watermarks;

pub use changes::{
    close_interval, insert_group, insert_private, join, mark_left, save, save_participant,
    set_invite_code, set_role,
};
pub use roster::{Roster, RosterCache};
pub use service::{
    Member, all_intervals, count_chats, current_chats_of, current_participant, current_rows_of,
    emit_to_chat, ensure_not_blocked, ensure_not_blocked_on, find_by_invite, find_chats,
    find_private, groups_of, may_whisper, muted_among, participants, participants_of, reload,
    removed_by_admin, require_member, require_member_on, visible_intervals,
};
pub use watermarks::{ReceiptHolder, Watermark, advance_watermark, receipt_holders, watermarks};
