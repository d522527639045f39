//! Groups: creation, administration, membership and invite links.
//!
//! Every membership change is one log transaction that posts a `system`
//! message (so history shows it), emits `ChatUpdated`, and moves membership
//! intervals so that a member sees events only while they belong: a new member
//! sees nothing from before they joined (as on WhatsApp), a removed or departed
//! one sees their own removal and nothing after, and loses the chat's channels
//! on every socket at once.

use std::collections::HashSet;

use sea_orm::ActiveValue::Set;
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::dto::{CreateGroupRequest, InviteLink, UpdateGroupRequest};
use crate::calls;
use crate::chats::service as chats;
use crate::db::entities::chat;
use crate::error::{ApiError, ApiResult};
use crate::media::sniff::MediaKind;
use crate::media::upload::KindRule;
use crate::media::{self, Media};
use crate::membership::{self, Member};
use crate::messages;
use crate::resources::chat::{ChatType, ChatView, Role};
use crate::secrets::random_token;
use crate::state::AppState;
use crate::synclog::{Audience, LogTx};
use crate::{contacts, users};

/// The caller's membership of a group; 404 if they are not in it or it is not a group.
///
/// Every change calls it (or [`require_admin`]) on its own log transaction,
/// after taking the log lock: membership and roles only change under that
/// lock, so the answer holds until the commit (an admin removed a moment ago
/// can no longer remove anyone; a second `leave` finds no membership).
/// An early return drops the transaction, which rolls it back.
async fn require_group(
    conn: &impl ConnectionTrait,
    group_id: i64,
    user_id: i64,
) -> ApiResult<Member> {
    let member = membership::require_member_on(conn, group_id, user_id)
        .await
        .map_err(|_| ApiError::not_found("Group"))?;
    if member.chat.chat_type != ChatType::Group.as_str() {
        return Err(ApiError::not_found("Group"));
    }
    Ok(member)
}

async fn require_admin(
    conn: &impl ConnectionTrait,
    group_id: i64,
    user_id: i64,
) -> ApiResult<Member> {
    let member = require_group(conn, group_id, user_id).await?;
    if !member.is_admin() {
        return Err(ApiError::forbidden("Only group admins can do that."));
    }
    Ok(member)
}

fn system(event: &str, actor: i64, user_ids: &[i64]) -> serde_json::Value {
    json!({ "event": event, "actor_id": actor, "user_ids": user_ids })
}

/// The users that may be added: existing accounts, not already members, none
/// of whom has blocked the one adding them, and no more than the group can
/// take (`exclude` is who is in it already).
async fn admissible(
    state: &AppState,
    actor: i64,
    field: &str,
    ids: &[i64],
    exclude: &HashSet<i64>,
) -> ApiResult<Vec<i64>> {
    let mut wanted: Vec<i64> = ids
        .iter()
        .copied()
        .filter(|id| *id != actor && !exclude.contains(id))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    // The size check first: a list longer than a group can be costs no query.
    let members_before = exclude.len() + usize::from(!exclude.contains(&actor));
    check_capacity(state, field, members_before + wanted.len())?;
    let active = users::service::active_ids(state, &wanted).await?;
    if let Some(unknown) = wanted.iter().find(|id| !active.contains(id)) {
        return Err(ApiError::field(
            field,
            format!(
                "The selected {} is invalid: no user {unknown}.",
                field.replace('_', " ")
            ),
        ));
    }
    if !contacts::service::who_blocked(state, actor, &wanted)
        .await?
        .is_empty()
    {
        return Err(ApiError::forbidden(
            "Someone you are adding has blocked you.",
        ));
    }
    Ok(wanted)
}

fn check_capacity(state: &AppState, field: &str, members_after: usize) -> ApiResult<()> {
    let max = state.config.settings.group_max_members as usize;
    if members_after > max {
        return Err(ApiError::field(
            field,
            format!("A group can have at most {max} members."),
        ));
    }
    Ok(())
}

/// Commits, publishes, and returns the group as the caller now sees it.
async fn finish(state: &AppState, tx: LogTx, viewer: i64, group_id: i64) -> ApiResult<ChatView> {
    state.publish(tx.commit().await?);
    let chat = membership::reload(&state.db.write, group_id).await?;
    chats::view(state, &state.db.write, viewer, chat).await
}

pub async fn create(
    state: &AppState,
    creator: i64,
    request: CreateGroupRequest,
) -> ApiResult<ChatView> {
    let members = admissible(
        state,
        creator,
        "participants",
        &request.participants,
        &HashSet::new(),
    )
    .await?;
    messages::service::count_send(state, creator).await?;
    let mut tx = LogTx::begin(&state.db).await?;
    let name = request.name.trim().to_string();
    let chat = membership::insert_group(&mut tx, creator, name, request.description).await?;
    for member in &members {
        membership::join(&mut tx, chat.id, *member, Role::Member).await?;
    }
    messages::service::post_system(
        state,
        &mut tx,
        chat.id,
        creator,
        &system("group_created", creator, &members),
        Audience::default(),
    )
    .await?;
    chats::emit_chat_updated(state, &mut tx, &chat, Audience::default()).await?;
    finish(state, tx, creator, chat.id).await
}

pub async fn show(state: &AppState, user_id: i64, group_id: i64) -> ApiResult<ChatView> {
    let member = require_group(&state.db.read, group_id, user_id).await?;
    chats::view(state, &state.db.read, user_id, member.chat).await
}

pub async fn update(
    state: &AppState,
    actor: i64,
    group_id: i64,
    request: UpdateGroupRequest,
) -> ApiResult<ChatView> {
    if request.name.is_none() && request.description.is_none() {
        require_admin(&state.db.read, group_id, actor).await?;
        return show(state, actor, group_id).await;
    }
    messages::service::count_send(state, actor).await?;
    let mut tx = LogTx::begin(&state.db).await?;
    require_admin(tx.conn(), group_id, actor).await?;
    let mut changes = chat::ActiveModel {
        id: Set(group_id),
        updated_at: Set(tx.now()),
        ..Default::default()
    };
    let mut content = system("group_updated", actor, &[]);
    if let Some(name) = &request.name {
        changes.name = Set(Some(name.trim().to_string()));
        content["name"] = json!(name.trim());
    }
    if let Some(description) = &request.description {
        changes.description = Set(Some(description.clone()));
        content["description"] = json!(description);
    }
    let chat = membership::save(&tx, changes).await?;
    messages::service::post_system(
        state,
        &mut tx,
        group_id,
        actor,
        &content,
        Audience::default(),
    )
    .await?;
    chats::emit_chat_updated(state, &mut tx, &chat, Audience::default()).await?;
    finish(state, tx, actor, group_id).await
}

/// Sets a group's photo (admins only: checked before the body is read, and
/// again in the transaction that writes). The old photo's reference is dropped;
/// members hear `ChatUpdated`.
pub async fn set_avatar(
    state: &AppState,
    media: &Media,
    actor: i64,
    group_id: i64,
    body: axum::body::Body,
    content_type: Option<&str>,
) -> ApiResult<ChatView> {
    require_admin(&state.db.read, group_id, actor).await?;
    let mut upload = media
        .receive(body, content_type, KindRule::Fixed(MediaKind::Image))
        .await?;
    let stored = media::service::store_avatar(media, &state.db, &mut upload).await?;
    let mut tx = LogTx::begin(&state.db).await?;
    let member = membership::require_member_on(tx.conn(), group_id, actor)
        .await
        .map_err(|_| ApiError::not_found("Group"))?;
    if !member.is_admin() {
        tx.rollback().await?;
        return Err(ApiError::forbidden("Only group admins can do that."));
    }
    media::service::replace_avatar(tx.conn(), member.chat.avatar_media_id, Some(stored.id)).await?;
    let changes = chat::ActiveModel {
        id: Set(group_id),
        avatar_key: Set(Some(stored.key.as_str().to_string())),
        avatar_media_id: Set(Some(stored.id)),
        updated_at: Set(tx.now()),
        ..Default::default()
    };
    let chat = membership::save(&tx, changes).await?;
    chats::emit_chat_updated(state, &mut tx, &chat, Audience::default()).await?;
    finish(state, tx, actor, group_id).await
}

pub async fn add_members(
    state: &AppState,
    actor: i64,
    group_id: i64,
    user_ids: &[i64],
) -> ApiResult<ChatView> {
    require_admin(&state.db.read, group_id, actor).await?;
    messages::service::count_send(state, actor).await?;
    let before: HashSet<i64> = membership::participants(&state.db.read, group_id)
        .await?
        .iter()
        .map(|p| p.user_id)
        .collect();
    let candidates = admissible(state, actor, "user_ids", user_ids, &before).await?;
    // Under the log lock, membership cannot change: count and add for real.
    let mut tx = LogTx::begin(&state.db).await?;
    require_admin(tx.conn(), group_id, actor).await?;
    let current: HashSet<i64> = membership::participants(tx.conn(), group_id)
        .await?
        .iter()
        .map(|p| p.user_id)
        .collect();
    let added: Vec<i64> = candidates
        .into_iter()
        .filter(|id| !current.contains(id))
        .collect();
    if let Err(err) = check_capacity(state, "user_ids", current.len() + added.len()) {
        tx.rollback().await?;
        return Err(err);
    }
    if added.is_empty() {
        tx.rollback().await?;
        return show(state, actor, group_id).await;
    }
    for user in &added {
        membership::join(&mut tx, group_id, *user, Role::Member).await?;
    }
    let chat = membership::reload(tx.conn(), group_id).await?;
    messages::service::post_system(
        state,
        &mut tx,
        group_id,
        actor,
        &system("member_added", actor, &added),
        Audience::default(),
    )
    .await?;
    chats::emit_chat_updated(state, &mut tx, &chat, Audience::default()).await?;
    finish(state, tx, actor, group_id).await
}

/// Takes `user` out of the group inside `tx`: the system message and
/// `ChatUpdated` reach them too, their channels end, and if they were the last
/// admin the longest-standing member becomes one. A group left empty is closed.
async fn depart(
    state: &AppState,
    tx: &mut LogTx,
    group_id: i64,
    user: i64,
    actor: i64,
    event: &str,
) -> ApiResult<()> {
    let leaving_role = membership::participants(tx.conn(), group_id)
        .await?
        .into_iter()
        .find(|p| p.user_id == user)
        .map(|p| Role::parse(&p.role));
    let removed_by = (actor != user).then_some(actor);
    membership::mark_left(tx, group_id, user, removed_by).await?;
    calls::service::leave_chat_calls(state, tx, group_id, user).await?;
    let remaining = membership::participants(tx.conn(), group_id).await?;
    // The one leaving hears of it too, though no longer a member.
    let also = Audience::to(vec![user]);
    messages::service::post_system(
        state,
        tx,
        group_id,
        actor,
        &system(event, actor, &[user]),
        also.clone(),
    )
    .await?;
    if leaving_role == Some(Role::Admin)
        && !remaining
            .iter()
            .any(|p| Role::parse(&p.role) == Role::Admin)
        && let Some(heir) = remaining.first()
    {
        membership::set_role(tx, group_id, heir.user_id, Role::Admin).await?;
        let mut content = system("role_changed", user, &[heir.user_id]);
        content["role"] = json!("admin");
        messages::service::post_system(state, tx, group_id, user, &content, also.clone()).await?;
    }
    let mut chat = membership::reload(tx.conn(), group_id).await?;
    if remaining.is_empty() {
        chat = membership::save(
            tx,
            chat::ActiveModel {
                id: Set(group_id),
                deleted_at: Set(Some(tx.now())),
                ..Default::default()
            },
        )
        .await?;
    }
    let last_word = Audience {
        users: vec![user],
        revoke: vec![user],
        channels: Vec::new(),
    };
    chats::emit_chat_updated(state, tx, &chat, last_word).await?;
    membership::close_interval(tx, group_id, user).await
}

pub async fn remove_member(
    state: &AppState,
    actor: i64,
    group_id: i64,
    target: i64,
) -> ApiResult<ChatView> {
    if target == actor {
        return Err(ApiError::field(
            "user",
            "To leave a group, use its leave route.",
        ));
    }
    // Counted like an add: each removal posts a system message to everyone
    // left, so removing and re-adding cannot flood a group. Leaving is not
    // counted: nobody is kept in a group by the limit.
    require_admin(&state.db.read, group_id, actor).await?;
    messages::service::count_send(state, actor).await?;
    let mut tx = LogTx::begin(&state.db).await?;
    require_admin(tx.conn(), group_id, actor).await?;
    let is_member = membership::participants(tx.conn(), group_id)
        .await?
        .iter()
        .any(|p| p.user_id == target);
    if !is_member {
        tx.rollback().await?;
        return Err(ApiError::not_found("Member"));
    }
    depart(state, &mut tx, group_id, target, actor, "member_removed").await?;
    finish(state, tx, actor, group_id).await
}

/// Leaves a group. A second leave (or one racing the first) finds no
/// membership under the log lock: 404, and no second system message.
pub async fn leave(state: &AppState, user: i64, group_id: i64) -> ApiResult<()> {
    let mut tx = LogTx::begin(&state.db).await?;
    require_group(tx.conn(), group_id, user).await?;
    depart(state, &mut tx, group_id, user, user, "member_left").await?;
    state.publish(tx.commit().await?);
    Ok(())
}

/// Leaves every group (account deletion).
pub async fn leave_all(state: &AppState, user: i64) -> ApiResult<()> {
    for group in membership::groups_of(state, user).await? {
        match leave(state, user, group).await {
            // Left meanwhile (another request, or the group closed).
            Ok(()) | Err(ApiError::NotFound(_)) => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

pub async fn set_role(
    state: &AppState,
    actor: i64,
    group_id: i64,
    target: i64,
    role: Role,
) -> ApiResult<ChatView> {
    messages::service::count_send(state, actor).await?;
    let mut tx = LogTx::begin(&state.db).await?;
    require_admin(tx.conn(), group_id, actor).await?;
    let participants = membership::participants(tx.conn(), group_id).await?;
    let Some(current) = participants
        .iter()
        .find(|p| p.user_id == target)
        .map(|p| Role::parse(&p.role))
    else {
        tx.rollback().await?;
        return Err(ApiError::not_found("Member"));
    };
    let admins = participants
        .iter()
        .filter(|p| Role::parse(&p.role) == Role::Admin)
        .count();
    if current == Role::Admin && role == Role::Member && admins == 1 {
        tx.rollback().await?;
        return Err(ApiError::field("role", "A group needs at least one admin."));
    }
    if current == role {
        tx.rollback().await?;
        return show(state, actor, group_id).await;
    }
    membership::set_role(&tx, group_id, target, role).await?;
    let mut content = system("role_changed", actor, &[target]);
    content["role"] = json!(role.as_str());
    messages::service::post_system(
        state,
        &mut tx,
        group_id,
        actor,
        &content,
        Audience::default(),
    )
    .await?;
    let chat = membership::reload(tx.conn(), group_id).await?;
    chats::emit_chat_updated(state, &mut tx, &chat, Audience::default()).await?;
    finish(state, tx, actor, group_id).await
}

/// A new invite code; the previous one stops working.
pub async fn invite_link(state: &AppState, actor: i64, group_id: i64) -> ApiResult<InviteLink> {
    let code = random_token(22);
    // Through the log lock like every other change to the chat row, so it
    // never deadlocks against a membership change on MySQL.
    let tx = LogTx::begin(&state.db).await?;
    require_admin(tx.conn(), group_id, actor).await?;
    membership::set_invite_code(&tx, group_id, &code).await?;
    tx.commit().await?;
    let base = state.config.settings.app_url.trim_end_matches('/');
    Ok(InviteLink {
        url: format!("{base}/api/groups/join/{code}"),
        code,
    })
}

pub async fn join_by_code(state: &AppState, user: i64, code: &str) -> ApiResult<ChatView> {
    messages::service::count_send(state, user).await?;
    let chat = membership::find_by_invite(state, code)
        .await?
        .filter(|c| c.chat_type == ChatType::Group.as_str())
        .ok_or_else(|| ApiError::not_found("Invite link"))?;
    let mut tx = LogTx::begin(&state.db).await?;
    // Again under the log lock: the group may have closed (its last member
    // left) or the code been replaced since the lookup above.
    let current = membership::find_chats(tx.conn(), &[chat.id]).await?;
    if !current
        .iter()
        .any(|c| c.invite_code.as_deref() == Some(code))
    {
        return Err(ApiError::not_found("Invite link"));
    }
    let participants = membership::participants(tx.conn(), chat.id).await?;
    if participants.iter().any(|p| p.user_id == user) {
        tx.rollback().await?;
        return show(state, user, chat.id).await;
    }
    // Someone an admin removed comes back only if an admin adds them.
    if membership::removed_by_admin(tx.conn(), chat.id, user).await? {
        return Err(ApiError::forbidden(
            "You were removed from this group; an admin can add you back.",
        ));
    }
    if let Err(err) = check_capacity(state, "code", participants.len() + 1) {
        tx.rollback().await?;
        return Err(err);
    }
    membership::join(&mut tx, chat.id, user, Role::Member).await?;
    messages::service::post_system(
        state,
        &mut tx,
        chat.id,
        user,
        &system("member_joined", user, &[user]),
        Audience::default(),
    )
    .await?;
    chats::emit_chat_updated(state, &mut tx, &chat, Audience::default()).await?;
    finish(state, tx, user, chat.id).await
}
