//! Starred messages: each user's own bookmarks, private to them as on
//! WhatsApp. A star or unstar is logged as `MessageStarred` in the user's own
//! scope, so every device of theirs hears it (or finds it in sync) and nobody
//! else does; the Message resource shows `starred` to its starrer only (see
//! [`mark_starred`]). A deleted or expired message leaves every starred list.

use std::collections::HashSet;

use sea_orm::ConnectionTrait;

use super::dto::{StarredList, StarredPagination, StarredQuery};
use super::service::{markable_message, personalise};
use super::{render, store};
use crate::clock::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::membership;
use crate::resources::message::{MessageView, StarUpdate};
use crate::state::AppState;
use crate::synclog::{Audience, Event, LogTx, Scope};

/// Stars or unstars a message for `user_id`; true when that changed anything
/// (starring twice, or unstarring what is not starred, writes and announces
/// nothing). The checks run in the log transaction that writes, so a star
/// never lands on a message a concurrent delete has just removed.
pub async fn set(
    state: &AppState,
    user_id: i64,
    message_id: i64,
    starred: bool,
) -> ApiResult<bool> {
    let mut tx = LogTx::begin(&state.db).await?;
    let what = if starred { "starred" } else { "unstarred" };
    let (_, message) = markable_message(tx.conn(), user_id, message_id, what).await?;
    let already = store::is_starred(tx.conn(), user_id, message_id).await?;
    if already == starred {
        tx.rollback().await?;
        return Ok(false);
    }
    if starred {
        store::insert_star(tx.conn(), user_id, message_id, tx.now()).await?;
    } else {
        store::delete_star(tx.conn(), user_id, message_id).await?;
    }
    let update = StarUpdate {
        message_id,
        chat_id: message.chat_id,
        starred,
    };
    // The user's own scope: their devices hear it, the chat does not.
    tx.emit(
        Scope::User(user_id),
        Audience::default(),
        Event::MessageStarred(&update),
    )?;
    state.publish(tx.commit().await?);
    Ok(true)
}

/// The message as the caller sees it after a star or unstar.
pub async fn view(state: &AppState, user_id: i64, message_id: i64) -> ApiResult<MessageView> {
    let (_, message) = markable_message(&state.db.write, user_id, message_id, "starred").await?;
    let mut views = render::render(state, &state.db.write, std::slice::from_ref(&message)).await?;
    personalise(state, user_id, &mut views).await?;
    views.pop().ok_or_else(|| ApiError::not_found("Message"))
}

/// The caller's starred messages, newest star first: only those still there
/// for them (in a chat they are in now, not deleted, not expired).
pub async fn list(state: &AppState, user_id: i64, query: StarredQuery) -> ApiResult<StarredList> {
    let chat_ids: Vec<i64> = membership::current_chats_of(&state.db.read, user_id)
        .await?
        .into_iter()
        .map(|(chat_id, _)| chat_id)
        .collect();
    let mut rows = store::starred_page(
        &state.db.read,
        user_id,
        &chat_ids,
        query.before,
        query.limit + 1,
        now_ms(),
    )
    .await?;
    let has_more = rows.len() as u64 > query.limit;
    rows.truncate(query.limit as usize);
    let next_before = if has_more {
        rows.last().map(|(star_id, _)| *star_id)
    } else {
        None
    };
    let models: Vec<_> = rows.into_iter().map(|(_, message)| message).collect();
    let mut messages = render::render(state, &state.db.read, &models).await?;
    personalise(state, user_id, &mut messages).await?;
    Ok(StarredList {
        messages,
        pagination: StarredPagination {
            has_more,
            next_before,
        },
    })
}

/// Sets `starred` on a page of messages for `user_id`: one query.
pub(super) async fn mark_starred(
    conn: &impl ConnectionTrait,
    user_id: i64,
    messages: &mut [MessageView],
) -> ApiResult<()> {
    let ids: Vec<i64> = messages.iter().map(|m| m.id).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let starred: HashSet<i64> = store::starred_among(conn, user_id, &ids)
        .await?
        .into_iter()
        .collect();
    for message in messages.iter_mut() {
        message.starred = starred.contains(&message.id);
    }
    Ok(())
}

/// Drops every star on a message being deleted, inside the deleting
/// transaction. No event: `MessageDeleted` already tells every member's
/// devices, and a deleted message is never listed.
pub(super) async fn forget(tx: &LogTx, message_id: i64) -> ApiResult<()> {
    Ok(store::delete_stars_of(tx.conn(), message_id).await?)
}

/// Drops a user's stars when their account is deleted: what they kept is
/// theirs alone, and nobody can read it any more.
pub async fn forget_user(state: &AppState, user_id: i64) -> ApiResult<()> {
    Ok(store::delete_stars_by(&state.db.write, user_id).await?)
}
