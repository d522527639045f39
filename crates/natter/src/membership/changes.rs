//! Membership changes. Each takes the [`LogTx`] that announces it, so every
//! change of who is in a chat holds the log lock: the writer's rosters and
//! every emitter's audience are read under the same lock.

use sea_orm::ActiveValue::Set;

use super::store::{self, NewChat, NewParticipant};
use crate::db::entities::{chat, chat_participant};
use crate::error::ApiResult;
use crate::resources::chat::{ChatType, Role};
use crate::synclog::LogTx;

/// A new group with its creator as its first admin.
pub async fn insert_group(
    tx: &mut LogTx,
    creator: i64,
    name: String,
    description: Option<String>,
) -> ApiResult<chat::Model> {
    let chat = store::insert_chat(
        tx.conn(),
        NewChat {
            chat_type: ChatType::Group.as_str(),
            name: Some(name),
            description,
            created_by: creator,
            private_pair: None,
            now: tx.now(),
        },
    )
    .await?;
    join(tx, chat.id, creator, Role::Admin).await?;
    Ok(chat)
}

/// A new private chat of two users, both members from the next event on.
/// `pair` ("low:high" user ids) is unique: a concurrent creation of the same
/// chat fails here with a unique violation.
pub async fn insert_private(
    tx: &mut LogTx,
    user_id: i64,
    other_id: i64,
    pair: String,
) -> ApiResult<chat::Model> {
    let chat = store::insert_chat(
        tx.conn(),
        NewChat {
            chat_type: ChatType::Private.as_str(),
            name: None,
            description: None,
            created_by: user_id,
            private_pair: Some(pair),
            now: tx.now(),
        },
    )
    .await?;
    for member in [user_id, other_id] {
        join(tx, chat.id, member, Role::Member).await?;
    }
    Ok(chat)
}

/// Makes `user_id` a current member from the next event on: they see the
/// events of this transaction (the system message announcing them) and what
/// follows, nothing earlier.
pub async fn join(tx: &mut LogTx, chat_id: i64, user_id: i64, role: Role) -> ApiResult<()> {
    let now = tx.now();
    store::upsert_participant(
        tx.conn(),
        NewParticipant {
            chat_id,
            user_id,
            role: role.as_str(),
            now,
        },
    )
    .await?;
    store::open_membership(tx.conn(), chat_id, user_id, tx.peek_seq() - 1).await?;
    Ok(())
}

/// Takes a member out of the current participants (their interval stays open
/// until [`close_interval`], so they still see the events announcing it).
pub async fn mark_left(
    tx: &LogTx,
    chat_id: i64,
    user_id: i64,
    removed_by: Option<i64>,
) -> ApiResult<()> {
    Ok(store::set_left(tx.conn(), chat_id, user_id, tx.now(), removed_by).await?)
}

/// Ends a former member's interval after the events emitted so far in this
/// transaction: they see their own removal, and nothing after.
pub async fn close_interval(tx: &LogTx, chat_id: i64, user_id: i64) -> ApiResult<()> {
    Ok(store::close_membership(tx.conn(), chat_id, user_id, tx.last_seq()).await?)
}

pub async fn set_role(tx: &LogTx, chat_id: i64, user_id: i64, role: Role) -> ApiResult<()> {
    Ok(store::set_role(tx.conn(), chat_id, user_id, role.as_str()).await?)
}

/// Saves changed chat fields (name, description, invite code, deletion).
pub async fn save(tx: &LogTx, changes: chat::ActiveModel) -> ApiResult<chat::Model> {
    Ok(store::update_chat(tx.conn(), changes).await?)
}

pub async fn set_invite_code(tx: &LogTx, chat_id: i64, code: &str) -> ApiResult<()> {
    let changes = chat::ActiveModel {
        id: Set(chat_id),
        invite_code: Set(Some(code.to_string())),
        ..Default::default()
    };
    store::update_chat(tx.conn(), changes).await?;
    Ok(())
}

/// Saves a member's own settings of a chat set on `changes` (mute, pin,
/// archive; its id must be set), on the log transaction that announces them.
pub async fn save_participant(
    tx: &LogTx,
    changes: chat_participant::ActiveModel,
) -> ApiResult<chat_participant::Model> {
    Ok(store::update_participant(tx.conn(), changes).await?)
}
