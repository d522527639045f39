//! A member's own settings of a chat: mute, pin and archive. They live on the
//! member's participant row and only that member sees them. Each change is
//! written on a log transaction, which also makes the pin limit hold under
//! concurrency (the log lock serialises every such transaction, on every
//! node), and is announced with `ChatPreferencesUpdated` on the member's own
//! user channel and in their sync, so every device of theirs follows.
//!
//! The rules follow WhatsApp: at most [`MAX_PINNED`] pinned chats; archiving
//! unpins and pinning unarchives (a chat is never both); a new message takes
//! a chat out of the archive unless the member keeps chats archived. That last
//! rule is decided when the chat is read ([`is_archived`]), never written on
//! the send path.

use sea_orm::ActiveValue::Set;

use super::service::view;
use crate::db::entities::chat_participant;
use crate::error::{ApiError, ApiResult};
use crate::membership::{self, Member};
use crate::resources::chat::{ChatPreferences, ChatView};
use crate::state::AppState;
use crate::synclog::{Audience, Event, LogTx, Scope};

/// WhatsApp's limit of pinned chats per user.
pub const MAX_PINNED: usize = 3;

/// One change of a member's settings of a chat.
#[derive(Debug, Clone, Copy)]
pub enum Change {
    /// Muted until a time (Unix ms); None unmutes.
    Mute(Option<i64>),
    Pin(bool),
    Archive(bool),
}

/// Applies `change` to the caller's settings of a chat (404 unless they are a
/// member now), tells their devices, and returns the chat as they now see it.
pub async fn update(
    state: &AppState,
    user_id: i64,
    chat_id: i64,
    change: Change,
) -> ApiResult<ChatView> {
    let mut tx = LogTx::begin(&state.db).await?;
    let member = membership::require_member_on(tx.conn(), chat_id, user_id).await?;
    let changes = match change {
        Change::Mute(until) => {
            let mut changes = row_changes(&member);
            changes.muted_until = Set(until);
            changes
        }
        Change::Pin(true) => pin(&tx, &member).await?,
        Change::Pin(false) => {
            let mut changes = row_changes(&member);
            changes.pinned_at = Set(None);
            changes
        }
        Change::Archive(archived) => archive(&tx, &member, archived),
    };
    membership::save_participant(&tx, changes).await?;
    let chat = view(state, tx.conn(), user_id, member.chat).await?;
    let preferences = ChatPreferences {
        chat_id,
        muted_until: chat.muted_until,
        pinned: chat.pinned,
        pinned_at: chat.pinned_at,
        archived: chat.archived,
    };
    tx.emit(
        Scope::User(user_id),
        Audience::to(vec![user_id]),
        Event::ChatPreferencesUpdated(&preferences),
    )?;
    state.publish(tx.commit().await?);
    Ok(chat)
}

/// Whether a member's chat shows as archived: they archived it and, since
/// then, no message they can see has come (`last_message_id` is the newest
/// one they can see), or they keep chats archived. Message ids follow commit
/// order, so "since" is exact where clocks would tie within a millisecond.
pub fn is_archived(
    row: &chat_participant::Model,
    last_message_id: Option<i64>,
    keep_chats_archived: bool,
) -> bool {
    let Some(archived_through) = row
        .archived_message_id
        .filter(|_| row.archived_at.is_some())
    else {
        return false;
    };
    keep_chats_archived || last_message_id.is_none_or(|id| id <= archived_through)
}

/// The update of the member's own row, nothing set yet.
fn row_changes(member: &Member) -> chat_participant::ActiveModel {
    chat_participant::ActiveModel {
        id: Set(member.participant.id),
        ..Default::default()
    }
}

/// Pins the chat: 422 when the member already has [`MAX_PINNED`] others
/// pinned (counted on the log transaction, so concurrent pins cannot pass it
/// together). Pinning a pinned chat keeps its place. Unarchives it.
async fn pin(tx: &LogTx, member: &Member) -> ApiResult<chat_participant::ActiveModel> {
    let mut changes = row_changes(member);
    if member.participant.pinned_at.is_some() {
        return Ok(changes);
    }
    let pinned: Vec<i64> = membership::current_rows_of(tx.conn(), member.participant.user_id)
        .await?
        .into_iter()
        .filter_map(|row| row.pinned_at)
        .collect();
    if pinned.len() >= MAX_PINNED {
        return Err(ApiError::field(
            "pinned",
            format!("You can only pin up to {MAX_PINNED} chats. Unpin one first."),
        ));
    }
    // Later than every other pin even within one millisecond: the chat list
    // shows the most recently pinned first.
    let after_others = pinned.iter().max().map_or(0, |latest| latest + 1);
    changes.pinned_at = Set(Some(tx.now().max(after_others)));
    changes.archived_at = Set(None);
    changes.archived_message_id = Set(None);
    Ok(changes)
}

/// Archives the chat as of the newest message id handed out so far (and
/// unpins it), or takes it out of the archive.
fn archive(tx: &LogTx, member: &Member, archived: bool) -> chat_participant::ActiveModel {
    let mut changes = row_changes(member);
    if archived {
        changes.archived_at = Set(Some(tx.now()));
        changes.archived_message_id = Set(Some(tx.last_message_id()));
        changes.pinned_at = Set(None);
    } else {
        changes.archived_at = Set(None);
        changes.archived_message_id = Set(None);
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(archived_message_id: Option<i64>) -> chat_participant::Model {
        chat_participant::Model {
            id: 1,
            chat_id: 1,
            user_id: 1,
            role: "member".into(),
            joined_at: 0,
            left_at: None,
            muted_until: None,
            last_read_message_id: None,
            last_delivered_message_id: None,
            pinned_at: None,
            archived_at: archived_message_id.map(|_| 5),
            archived_message_id,
            removed_by: None,
        }
    }

    #[test]
    fn a_newer_message_unarchives_unless_kept() {
        let archived = row(Some(10));
        assert!(is_archived(&archived, None, false), "an empty chat stays");
        assert!(is_archived(&archived, Some(10), false), "nothing new");
        assert!(!is_archived(&archived, Some(11), false), "a new message");
        assert!(is_archived(&archived, Some(11), true), "kept archived");
        assert!(!is_archived(&row(None), None, true), "never archived");
    }
}
