//! Statuses: posting (text, or an image or video through the media
//! pipeline), the feed, views and deletion. Who may see a status is decided
//! in one place, [`may_see`]: its owner, and the owner's mutual contacts with
//! no block either way; anyone else gets 404, as if it did not exist. Every
//! read leaves out what has expired at the time of the read.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use sea_orm::ConnectionTrait;

use super::StatusesState;
use super::dto::{PostStatusRequest, StatusFeed, StatusViewList, StatusViewer, UserStatuses};
use super::store::{self, NewStatus};
use crate::clock::{Timestamp, now_ms};
use crate::contacts;
use crate::db::entities::{media as media_row, status};
use crate::error::{ApiError, ApiResult};
use crate::media::service::{Purpose, StoredMedia, store_upload};
use crate::media::sniff::MediaKind;
use crate::media::upload::ReceivedFile;
use crate::media::{self, urls as media_urls};
use crate::ratelimit::{self, Limit};
use crate::resources::status::{StatusDeletedPayload, StatusType, StatusView, StatusViewedPayload};
use crate::resources::user::UserView;
use crate::state::AppState;
use crate::synclog::{Audience, Event, LogTx, Scope};
use crate::users;

/// The text or caption, trimmed, checked against the type and the file.
fn checked_content(request: &PostStatusRequest, has_file: bool) -> ApiResult<Option<String>> {
    let content = request
        .content
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string);
    match (request.status_type, has_file) {
        (StatusType::Text, true) => Err(ApiError::field(
            "file",
            "Only image and video statuses carry a file.",
        )),
        (StatusType::Text, false) if content.is_none() => Err(ApiError::field(
            "content",
            "The content field is required for a text status.",
        )),
        (StatusType::Image | StatusType::Video, false) => Err(ApiError::field(
            "file",
            "The file field is required (send the status as multipart/form-data).",
        )),
        _ => Ok(content),
    }
}

fn media_kind(status_type: StatusType) -> Option<MediaKind> {
    match status_type {
        StatusType::Text => None,
        StatusType::Image => Some(MediaKind::Image),
        StatusType::Video => Some(MediaKind::Video),
    }
}

/// Counts one status posted by `user_id`, 429 past STATUSES_PER_DAY. Each
/// status goes into every mutual contact's feed and log: a day's number is
/// limited, as WhatsApp's is. Counted before a file is read, so a user over
/// the limit streams no upload.
pub async fn count_post(app: &AppState, user_id: i64) -> ApiResult<()> {
    let limit = Limit::new(
        format!("status-post:{user_id}"),
        app.config.settings.statuses_per_day,
        Duration::from_secs(24 * 3600),
    );
    ratelimit::enforce(app.limiter.as_ref(), &[limit]).await
}

/// Posts a status; it reaches the owner's other sockets and the audience
/// (`StatusPosted`, logged per person). Expires STATUS_TTL after now.
pub async fn post(
    state: &StatusesState,
    user_id: i64,
    request: PostStatusRequest,
    file: Option<ReceivedFile>,
) -> ApiResult<StatusView> {
    let app = &state.app;
    let content = checked_content(&request, file.is_some())?;
    let owner = users::service::require_active(app, user_id).await?;
    let stored = match (media_kind(request.status_type), file) {
        (Some(kind), Some(file)) => {
            Some(store_upload(&state.media, &app.db, file, Purpose::Message(kind)).await?)
        }
        _ => None,
    };
    let background_color = match request.status_type {
        StatusType::Text => request.background_color,
        _ => None,
    };
    let mut tx = LogTx::begin(&app.db).await?;
    let now = tx.now();
    let ttl_ms = i64::try_from(app.config.settings.status_ttl).unwrap_or(86_400) * 1000;
    if let Some(stored) = &stored
        && !media::store::add_references(tx.conn(), stored.id, 1, now).await?
    {
        tx.rollback().await?;
        return Err(ApiError::Unavailable(
            "The file is being removed from storage; try again shortly.".into(),
        ));
    }
    let row = store::insert(
        tx.conn(),
        NewStatus {
            user_id,
            status_type: request.status_type.as_str(),
            content,
            background_color,
            media_id: stored.as_ref().map(|m| m.id),
            media_mime_type: stored.as_ref().map(|m| m.mime_type.clone()),
            media_size: stored.as_ref().map(stored_size),
            created_at: now,
            expires_at: now + ttl_ms,
        },
    )
    .await?;
    let media_rows = media_urls::rows(tx.conn(), row.media_id.into_iter().collect()).await?;
    let public = users::service::public_view(&owner);
    let audience = contacts::service::mutual_contacts(tx.conn(), user_id).await?;
    let for_audience = build(app, &row, public.clone(), &media_rows, false, None).await?;
    let for_owner = build(app, &row, public, &media_rows, true, Some(0)).await?;
    tx.emit_each(
        &audience,
        Audience::default(),
        Event::StatusPosted(&for_audience),
    )?;
    tx.emit(
        Scope::User(user_id),
        Audience::default(),
        Event::StatusPosted(&for_owner),
    )?;
    app.publish(tx.commit().await?);
    let mut mine = for_owner;
    mine.user = users::service::view_user(app, user_id, user_id).await?;
    Ok(mine)
}

fn stored_size(stored: &StoredMedia) -> i64 {
    i64::try_from(stored.size).unwrap_or(i64::MAX)
}

/// One Status resource.
async fn build(
    app: &AppState,
    row: &status::Model,
    user: UserView,
    media_rows: &HashMap<i64, media_row::Model>,
    viewed: bool,
    view_count: Option<u64>,
) -> ApiResult<StatusView> {
    let media = match row.media_id.and_then(|id| media_rows.get(&id)) {
        Some(media) => media_urls::message_media(&app.storage, media, None).await,
        None => None,
    };
    Ok(StatusView {
        id: row.id,
        user,
        status_type: StatusType::parse(&row.status_type),
        content: row.content.clone(),
        background_color: row.background_color.clone(),
        media,
        created_at: Timestamp(row.created_at),
        expires_at: Timestamp(row.expires_at),
        view_count,
        viewed,
    })
}

/// Statuses as `viewer` sees them, in the order given. A handful of queries
/// whatever the number.
async fn render(app: &AppState, viewer: i64, rows: &[status::Model]) -> ApiResult<Vec<StatusView>> {
    let db = &app.db.read;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let owners: Vec<i64> = rows.iter().map(|r| r.user_id).collect();
    let media_ids: Vec<i64> = rows.iter().filter_map(|r| r.media_id).collect();
    let own: Vec<i64> = rows
        .iter()
        .filter(|r| r.user_id == viewer)
        .map(|r| r.id)
        .collect();
    let users = users::service::view_users(app, viewer, &owners).await?;
    let media_rows = media_urls::rows(db, media_ids.clone()).await?;
    let seen = store::viewed_by(db, viewer, &ids).await?;
    let counts = store::view_counts(db, &own).await?;
    let mut views = Vec::with_capacity(rows.len());
    for row in rows {
        let user = users
            .get(&row.user_id)
            .cloned()
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no user {}", row.user_id)))?;
        let mine = row.user_id == viewer;
        let count = mine.then(|| counts.get(&row.id).copied().unwrap_or_default());
        let viewed = mine || seen.contains(&row.id);
        views.push(build(app, row, user, &media_rows, viewed, count).await?);
    }
    Ok(views)
}

/// The caller's live statuses and those of their mutual contacts, grouped by
/// person: the caller first, then the others by their newest status; items
/// newest first.
pub async fn feed(app: &AppState, viewer: i64) -> ApiResult<StatusFeed> {
    let mut owners = contacts::service::mutual_contacts(&app.db.read, viewer).await?;
    owners.push(viewer);
    let rows = store::live_of(&app.db.read, &owners, now_ms()).await?;
    let views = render(app, viewer, &rows).await?;
    let mut groups: Vec<UserStatuses> = Vec::new();
    let mut index: HashMap<i64, usize> = HashMap::new();
    for view in views {
        let owner = view.user.id;
        let at = *index.entry(owner).or_insert_with(|| {
            groups.push(UserStatuses {
                user: view.user.clone(),
                items: Vec::new(),
            });
            groups.len() - 1
        });
        groups[at].items.push(view);
    }
    // Rows came newest first, so groups are in order of their newest item.
    groups.sort_by_key(|group| group.user.id != viewer);
    Ok(StatusFeed { statuses: groups })
}

/// Whether `viewer` may see `owner`'s statuses, read on `conn`.
async fn may_see(conn: &impl ConnectionTrait, owner: i64, viewer: i64) -> ApiResult<bool> {
    Ok(owner == viewer || contacts::service::are_mutual(conn, owner, viewer).await?)
}

/// The live status, if `viewer` may see it; 404 otherwise.
async fn visible(
    conn: &impl ConnectionTrait,
    id: i64,
    viewer: i64,
    now: i64,
) -> ApiResult<status::Model> {
    match store::find_live(conn, id, now).await? {
        Some(row) if may_see(conn, row.user_id, viewer).await? => Ok(row),
        _ => Err(ApiError::not_found("Status")),
    }
}

/// Records that `viewer` saw a status (once; the owner's own views are not
/// counted). The first view tells the owner (`StatusViewed`).
pub async fn view(app: &AppState, viewer: i64, id: i64) -> ApiResult<()> {
    let mut tx = LogTx::begin(&app.db).await?;
    let now = tx.now();
    let row = visible(tx.conn(), id, viewer, now).await?;
    if row.user_id == viewer || !store::record_view(tx.conn(), id, viewer, now).await? {
        tx.rollback().await?;
        return Ok(());
    }
    let count = store::view_counts(tx.conn(), &[id])
        .await?
        .get(&id)
        .copied()
        .unwrap_or(1);
    let user = users::service::view_users(app, row.user_id, &[viewer])
        .await?
        .remove(&viewer)
        .ok_or_else(|| ApiError::not_found("User"))?;
    let payload = StatusViewedPayload {
        status_id: id,
        user,
        viewed_at: Timestamp(now),
        view_count: count,
    };
    tx.emit(
        Scope::User(row.user_id),
        Audience::default(),
        Event::StatusViewed(&payload),
    )?;
    app.publish(tx.commit().await?);
    Ok(())
}

/// The owner's status, visible and live; 404 when the caller cannot see it,
/// 403 when they can but it is not theirs.
async fn owned(
    conn: &impl ConnectionTrait,
    id: i64,
    caller: i64,
    now: i64,
) -> ApiResult<status::Model> {
    let row = visible(conn, id, caller, now).await?;
    if row.user_id != caller {
        return Err(ApiError::forbidden("Only the owner may do this."));
    }
    Ok(row)
}

/// Who viewed one of the caller's statuses, most recent first.
pub async fn views(app: &AppState, caller: i64, id: i64) -> ApiResult<StatusViewList> {
    owned(&app.db.read, id, caller, now_ms()).await?;
    let rows = store::views_of(&app.db.read, id).await?;
    let viewers: Vec<i64> = rows.iter().map(|r| r.user_id).collect();
    let users = users::service::view_users(app, caller, &viewers).await?;
    Ok(StatusViewList {
        views: rows
            .into_iter()
            .filter_map(|r| {
                users.get(&r.user_id).map(|user| StatusViewer {
                    user: user.clone(),
                    viewed_at: Timestamp(r.viewed_at),
                })
            })
            .collect(),
    })
}

/// Deletes one of the caller's statuses; its audience hears `StatusDeleted`.
pub async fn delete(state: &StatusesState, caller: i64, id: i64) -> ApiResult<()> {
    let app = &state.app;
    let mut tx = LogTx::begin(&app.db).await?;
    let row = owned(tx.conn(), id, caller, tx.now()).await?;
    remove_and_tell(&mut tx, caller, std::slice::from_ref(&row)).await?;
    app.publish(tx.commit().await?);
    app.jobs.wake();
    Ok(())
}

/// Deletes every status of a user whose account is being deleted (live or
/// expired and not yet swept): their contacts' feeds drop them at once, not
/// when they expire, and their files are collected.
pub async fn forget_owner(app: &AppState, user_id: i64) -> ApiResult<()> {
    let mut tx = LogTx::begin(&app.db).await?;
    let rows = store::all_of(tx.conn(), user_id).await?;
    if rows.is_empty() {
        return Ok(());
    }
    remove_and_tell(&mut tx, user_id, &rows).await?;
    app.publish(tx.commit().await?);
    app.jobs.wake();
    Ok(())
}

/// Removes `owner`'s statuses `rows` and tells the owner and their mutual
/// contacts (`StatusDeleted`, one per status).
async fn remove_and_tell(tx: &mut LogTx, owner: i64, rows: &[status::Model]) -> ApiResult<()> {
    remove(tx, rows).await?;
    let mut told = contacts::service::mutual_contacts(tx.conn(), owner).await?;
    told.push(owner);
    for row in rows {
        let payload = StatusDeletedPayload {
            status_id: row.id,
            user_id: owner,
        };
        tx.emit_each(&told, Audience::default(), Event::StatusDeleted(&payload))?;
    }
    Ok(())
}

/// Deletes statuses and their views and drops their media references, in the
/// caller's transaction; the media rows nothing references any more are
/// collected by `media.collect` jobs queued there too.
pub(super) async fn remove(tx: &LogTx, rows: &[status::Model]) -> ApiResult<()> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    store::delete(tx.conn(), &ids).await?;
    let mut references: BTreeMap<i64, i64> = BTreeMap::new();
    for media_id in rows.iter().filter_map(|r| r.media_id) {
        *references.entry(media_id).or_default() += 1;
    }
    media::service::drop_references(tx.conn(), &references).await
}
