//! Broadcast lists: the owner's CRUD (each change logged to the owner's
//! devices as `BroadcastListUpdated`), and sending to a list.
//!
//! A list is its owner's alone: anyone else's id is 404. Recipients must be
//! active users other than the owner when they are set; one who deletes their
//! account later is skipped when sending.

use std::collections::HashSet;

use super::dto::{CreateBroadcastListRequest, UpdateBroadcastListRequest};
use super::store;
use crate::chats;
use crate::clock::Timestamp;
use crate::contacts;
use crate::db::entities::broadcast_list;
use crate::error::{ApiError, ApiResult};
use crate::messages;
use crate::messages::dto::SendMessageRequest;
use crate::messages::writer::Writer;
use crate::resources::broadcast::{BroadcastListUpdate, BroadcastListView};
use crate::resources::message::MessageView;
use crate::state::AppState;
use crate::synclog::{Audience, Event, LogTx, Scope};
use crate::users;

const NOT_FOUND: &str = "Broadcast list";

/// Lists one user may keep: GET /api/broadcast-lists answers them all at once
/// (each with up to 256 ids), so their number is bounded.
pub const MAX_LISTS: u64 = 100;

pub async fn create(
    state: &AppState,
    owner_id: i64,
    request: CreateBroadcastListRequest,
) -> ApiResult<BroadcastListView> {
    check_recipients(state, owner_id, &request.user_ids).await?;
    let mut tx = LogTx::begin(&state.db).await?;
    // Counted under the log lock, so two creations at once cannot both pass.
    if store::count_of_owner(tx.conn(), owner_id).await? >= MAX_LISTS {
        return Err(ApiError::field(
            "name",
            "You have the most broadcast lists allowed (100); delete one first.",
        ));
    }
    let name = request.name.trim().to_string();
    let list = store::insert(tx.conn(), owner_id, name, tx.now()).await?;
    store::set_recipients(tx.conn(), list.id, &request.user_ids).await?;
    let view = view_of(&list, request.user_ids);
    announce(&mut tx, owner_id, list.id, Some(&view))?;
    state.publish(tx.commit().await?);
    Ok(view)
}

/// The caller's lists, newest first (two queries).
pub async fn list(state: &AppState, owner_id: i64) -> ApiResult<Vec<BroadcastListView>> {
    let lists = store::of_owner(&state.db.read, owner_id).await?;
    let ids: Vec<i64> = lists.iter().map(|l| l.id).collect();
    let mut recipients = store::recipients_of(&state.db.read, &ids).await?;
    Ok(lists
        .iter()
        .map(|l| view_of(l, recipients.remove(&l.id).unwrap_or_default()))
        .collect())
}

pub async fn show(state: &AppState, owner_id: i64, id: i64) -> ApiResult<BroadcastListView> {
    let list = owned(&state.db.read, owner_id, id).await?;
    let recipients = recipients(&state.db.read, id).await?;
    Ok(view_of(&list, recipients))
}

/// Renames a list and/or replaces its recipients; the ownership check and
/// the write share one log transaction, so a concurrent delete wins or loses
/// whole.
pub async fn update(
    state: &AppState,
    owner_id: i64,
    id: i64,
    request: UpdateBroadcastListRequest,
) -> ApiResult<BroadcastListView> {
    if let Some(user_ids) = &request.user_ids {
        check_recipients(state, owner_id, user_ids).await?;
    }
    let mut tx = LogTx::begin(&state.db).await?;
    let list = owned(tx.conn(), owner_id, id).await?;
    let name = request.name.map(|n| n.trim().to_string());
    let list = store::update(tx.conn(), list, name, tx.now()).await?;
    if let Some(user_ids) = &request.user_ids {
        store::set_recipients(tx.conn(), id, user_ids).await?;
    }
    let view = view_of(&list, recipients(tx.conn(), id).await?);
    announce(&mut tx, owner_id, id, Some(&view))?;
    state.publish(tx.commit().await?);
    Ok(view)
}

pub async fn delete(state: &AppState, owner_id: i64, id: i64) -> ApiResult<()> {
    let mut tx = LogTx::begin(&state.db).await?;
    owned(tx.conn(), owner_id, id).await?;
    store::delete(tx.conn(), id).await?;
    announce(&mut tx, owner_id, id, None)?;
    state.publish(tx.commit().await?);
    Ok(())
}

/// Drops every list of a deleted account, with its recipients (no event: the
/// account has no device left to tell).
pub async fn forget_owner(state: &AppState, owner_id: i64) -> ApiResult<()> {
    let txn = state.db.begin().await?;
    store::delete_of_owner(&txn, owner_id).await?;
    txn.commit().await?;
    Ok(())
}

/// Sends one message to every recipient of a list: a normal private message
/// in each one's chat with the owner (created if they have none), through
/// the writer like any other, so receipts, pushes and sync work as for any
/// private message, and nothing in it names the list. Recipients who blocked
/// the owner, whom the owner blocked, or whose account is gone are skipped
/// silently, as WhatsApp does. Returns the messages stored, each with its
/// `chat_id`.
pub async fn send(
    state: &AppState,
    writer: &Writer,
    owner_id: i64,
    id: i64,
    request: SendMessageRequest,
) -> ApiResult<Vec<MessageView>> {
    check_broadcastable(&request)?;
    owned(&state.db.read, owner_id, id).await?;
    let recipients = reachable(state, owner_id, recipients(&state.db.read, id).await?).await?;
    // One send per recipient reached (at least one): a list is no way around
    // SENDS_PER_MINUTE, and a broadcast over it is refused whole, using no quota.
    messages::service::count_sends(state, owner_id, recipients.len().max(1), "list").await?;
    let mut chat_ids = Vec::with_capacity(recipients.len());
    for recipient in recipients {
        let (chat, _) = chats::service::find_or_create_private(state, owner_id, recipient).await?;
        chat_ids.push(chat.id);
    }
    messages::service::send_to_each(state, writer, owner_id, &chat_ids, request).await
}

/// What a broadcast cannot carry: a file (text, location and contact only),
/// a reply or mentions (they name one chat's messages and members), a client
/// message id (it names one message, and a broadcast makes many); and the
/// rules of any message. Checked before any chat is created for it.
fn check_broadcastable(request: &SendMessageRequest) -> ApiResult<()> {
    if request.message_type.is_media() {
        return Err(ApiError::field(
            "message_type",
            "A broadcast carries text, location and contact messages.",
        ));
    }
    let refused = [
        ("reply_to_message_id", request.reply_to_message_id.is_some()),
        ("mentions", request.mentions.is_some()),
        ("client_message_id", request.client_message_id.is_some()),
    ];
    match refused.into_iter().find(|(_, given)| *given) {
        Some((field, _)) => Err(ApiError::field(
            field,
            format!(
                "The {} field is not allowed in a broadcast.",
                field.replace('_', " ")
            ),
        )),
        None => messages::service::check_without_file(request),
    }
}

/// The recipients a broadcast goes to now: active accounts with no block
/// between them and the owner either way (one query each, whatever the size).
async fn reachable(state: &AppState, owner_id: i64, recipients: Vec<i64>) -> ApiResult<Vec<i64>> {
    let active = users::service::active_ids(state, &recipients).await?;
    let pairs: Vec<(i64, i64)> = recipients
        .iter()
        .flat_map(|r| [(owner_id, *r), (*r, owner_id)])
        .collect();
    let blocks = contacts::service::blocks_among(&state.db.read, &pairs).await?;
    Ok(recipients
        .into_iter()
        .filter(|r| active.contains(r))
        .filter(|r| !blocks.contains(&(owner_id, *r)) && !blocks.contains(&(*r, owner_id)))
        .collect())
}

/// Recipients are active users other than the owner (422 naming the first
/// that is not). The list's size (1 to 256) is the request type's check.
async fn check_recipients(state: &AppState, owner_id: i64, user_ids: &[i64]) -> ApiResult<()> {
    if user_ids.contains(&owner_id) {
        return Err(ApiError::field(
            "user_ids",
            "You cannot add yourself to your broadcast list.",
        ));
    }
    let active: HashSet<i64> = users::service::active_ids(state, user_ids).await?;
    match user_ids.iter().find(|id| !active.contains(id)) {
        Some(unknown) => Err(ApiError::field(
            "user_ids",
            format!("The selected user ids is invalid: no user {unknown}."),
        )),
        None => Ok(()),
    }
}

async fn owned(
    conn: &impl sea_orm::ConnectionTrait,
    owner_id: i64,
    id: i64,
) -> ApiResult<broadcast_list::Model> {
    store::find_owned(conn, id, owner_id)
        .await?
        .ok_or_else(|| ApiError::not_found(NOT_FOUND))
}

async fn recipients(conn: &impl sea_orm::ConnectionTrait, id: i64) -> ApiResult<Vec<i64>> {
    Ok(store::recipients_of(conn, &[id])
        .await?
        .remove(&id)
        .unwrap_or_default())
}

fn view_of(list: &broadcast_list::Model, user_ids: Vec<i64>) -> BroadcastListView {
    BroadcastListView {
        id: list.id,
        name: list.name.clone(),
        user_ids,
        created_at: Timestamp(list.created_at),
        updated_at: Timestamp(list.updated_at),
    }
}

/// Tells the owner's devices (logged on their user channel, so a device that
/// was away finds it in `GET /api/sync`).
fn announce(
    tx: &mut LogTx,
    owner_id: i64,
    id: i64,
    list: Option<&BroadcastListView>,
) -> ApiResult<()> {
    let update = BroadcastListUpdate {
        id,
        deleted: list.is_none(),
        broadcast_list: list,
    };
    tx.emit(
        Scope::User(owner_id),
        Audience::default(),
        Event::BroadcastListUpdated(&update),
    )?;
    Ok(())
}
