//! Contacts, blocking, contact sync, and who hears of a user's presence.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::dto::{
    AddContactRequest, BlockResponse, ContactList, ContactView, RegisteredNumber,
    SyncContactsRequest, SyncContactsResponse,
};
use super::store;
use crate::clock::{Timestamp, now_ms};
use crate::db::entities::contact;
use crate::db::unique::CONTACTS_PAIR;
use crate::error::{ApiError, ApiResult};
use crate::http::pagination::PageQuery;
use crate::phone;
use crate::ratelimit::{self, Limit};
use crate::realtime::bus::Body;
use crate::realtime::channels::user_channel;
use crate::resources::user::{OnlineStatus, Visibility};
use crate::state::AppState;
use crate::synclog::{Event, LogTx};
use crate::users;

/// True when `blocker` has blocked `other`.
pub async fn has_blocked(state: &AppState, blocker: i64, other: i64) -> ApiResult<bool> {
    Ok(store::find_pair(&state.db.read, blocker, other)
        .await?
        .is_some_and(|c| c.is_blocked))
}

pub async fn list(state: &AppState, user_id: i64, page: PageQuery) -> ApiResult<ContactList> {
    let (rows, total) = store::page(&state.db.read, user_id, page.offset(), page.limit).await?;
    let contacts = views(state, user_id, rows).await?;
    Ok(ContactList {
        contacts,
        pagination: page.pagination(total),
    })
}

/// Adds a contact; returns it and whether it is new (201) or was there (200).
pub async fn add(
    state: &AppState,
    user_id: i64,
    request: AddContactRequest,
) -> ApiResult<(ContactView, bool)> {
    // The answer shows the user's number, or says whether a number has an
    // account: counted as a lookup, like GET /api/users/{id}.
    users::service::count_lookup(state, user_id).await?;
    let target = resolve_target(state, user_id, &request).await?;
    if target == user_id {
        let field = if request.contact_user_id.is_some() {
            "contact_user_id"
        } else {
            "phone_number"
        };
        return Err(ApiError::field(
            field,
            "You cannot add yourself as a contact.",
        ));
    }
    if let Some(existing) = store::find_pair(&state.db.read, user_id, target).await? {
        return Ok((one_view(state, user_id, existing).await?, false));
    }
    let name = request
        .contact_name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    let (row, created) = match store::insert(&state.db.write, user_id, target, name, now_ms()).await
    {
        Ok(row) => (row, true),
        Err(err) if CONTACTS_PAIR.violated_by(&err) => {
            let row = store::find_pair(&state.db.write, user_id, target)
                .await?
                .ok_or_else(|| {
                    ApiError::Internal(anyhow::anyhow!("contact vanished after a unique violation"))
                })?;
            (row, false)
        }
        Err(err) => return Err(err.into()),
    };
    Ok((one_view(state, user_id, row).await?, created))
}

async fn resolve_target(
    state: &AppState,
    user_id: i64,
    request: &AddContactRequest,
) -> ApiResult<i64> {
    if let Some(id) = request.contact_user_id {
        return Ok(users::service::require_active(state, id).await?.id);
    }
    let Some(number) = &request.phone_number else {
        return Err(ApiError::field(
            "phone_number",
            "The phone number field is required when contact user id is not present.",
        ));
    };
    let own_code;
    let country_code = match &request.country_code {
        Some(code) => code.as_str(),
        None => {
            own_code = users::service::require_active(state, user_id)
                .await?
                .country_code;
            own_code.as_str()
        }
    };
    let e164 = phone::to_e164(number, Some(country_code)).map_err(phone::field_error)?;
    users::service::find_by_phone(state, &e164)
        .await?
        .map(|u| u.id)
        .ok_or_else(|| ApiError::not_found("User"))
}

pub async fn sync(
    state: &AppState,
    user_id: i64,
    request: SyncContactsRequest,
) -> ApiResult<SyncContactsResponse> {
    let limit = Limit::new(
        format!("contact-sync:{user_id}"),
        state.config.settings.contact_sync_per_hour,
        Duration::from_secs(3600),
    );
    // CONTACT_SYNC_PER_HOUR=0 turns the limit off, as 0 does for every per-user limit.
    ratelimit::enforce(state.limiter.as_ref(), &[limit]).await?;
    let own_code;
    let country_code = match &request.country_code {
        Some(code) => {
            phone::calling_code(code).map_err(phone::field_error)?;
            code.as_str()
        }
        None => {
            own_code = users::service::require_active(state, user_id)
                .await?
                .country_code;
            own_code.as_str()
        }
    };
    let mut invalid = Vec::new();
    let mut numbers = Vec::new();
    for raw in &request.phone_numbers {
        match phone::to_e164(raw, Some(country_code)) {
            Ok(e164) => numbers.push(e164),
            Err(_) => invalid.push(raw.clone()),
        }
    }
    numbers.sort();
    numbers.dedup();
    let found = users::service::find_by_phones(state, &numbers).await?;
    let ids: Vec<i64> = found
        .iter()
        .map(|u| u.id)
        .filter(|id| *id != user_id)
        .collect();
    let mut views = users::service::view_users(state, user_id, &ids).await?;
    let mut registered: Vec<RegisteredNumber> = found
        .into_iter()
        .filter_map(|u| {
            let view = views.remove(&u.id)?;
            Some(RegisteredNumber {
                phone_number: u.phone_number?,
                user: view,
            })
        })
        .collect();
    registered.sort_by(|a, b| a.phone_number.cmp(&b.phone_number));
    Ok(SyncContactsResponse {
        registered,
        invalid,
    })
}

/// Blocks or unblocks. The block is written in a log transaction: sends,
/// reactions and membership changes read blocks under the log lock, so each
/// of them lands wholly before or wholly after the block, never across it.
/// The row is read under the lock too, so two toggles at once flip twice.
pub async fn toggle_block(
    state: &AppState,
    user_id: i64,
    contact_id: i64,
) -> ApiResult<BlockResponse> {
    let tx = LogTx::begin(&state.db).await?;
    let row = owned(tx.conn(), user_id, contact_id).await?;
    let blocked = !row.is_blocked;
    store::set_blocked(tx.conn(), row.id, blocked, tx.now()).await?;
    tx.commit().await?;
    if blocked {
        // Both people's sockets ask again about the channels they share
        // (their private chat's presence channel is refused from now on).
        state.realtime.broadcast(Body::Recheck {
            users: vec![user_id, row.contact_user_id],
        });
    }
    Ok(BlockResponse {
        success: true,
        is_blocked: blocked,
    })
}

pub async fn delete(state: &AppState, user_id: i64, contact_id: i64) -> ApiResult<()> {
    let row = owned(&state.db.read, user_id, contact_id).await?;
    store::delete(&state.db.write, row.id).await?;
    Ok(())
}

/// The caller's contact row; someone else's is 404, as if it did not exist.
async fn owned(
    conn: &impl sea_orm::ConnectionTrait,
    user_id: i64,
    contact_id: i64,
) -> ApiResult<contact::Model> {
    store::find(conn, contact_id)
        .await?
        .filter(|c| c.user_id == user_id)
        .ok_or_else(|| ApiError::not_found("Contact"))
}

async fn one_view(state: &AppState, viewer: i64, row: contact::Model) -> ApiResult<ContactView> {
    views(state, viewer, vec![row])
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found("Contact"))
}

async fn views(
    state: &AppState,
    viewer: i64,
    rows: Vec<contact::Model>,
) -> ApiResult<Vec<ContactView>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.contact_user_id).collect();
    let users: HashMap<i64, _> = users::service::view_users(state, viewer, &ids).await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let user = users.get(&row.contact_user_id)?.clone();
            Some(ContactView {
                id: row.id,
                contact_name: row.contact_name,
                is_blocked: row.is_blocked,
                added_at: Timestamp(row.created_at),
                user,
            })
        })
        .collect())
}

/// Who may see `user_id` come online and go offline: the people who have them
/// as a contact, minus anyone either side blocked, narrowed by the user's
/// `privacy_last_seen` (`contacts`: only those the user has as a contact too;
/// `nobody`: no one).
pub async fn presence_audience(
    state: &AppState,
    user_id: i64,
    last_seen: Visibility,
) -> ApiResult<Vec<i64>> {
    if last_seen == Visibility::Nobody {
        return Ok(Vec::new());
    }
    let having = store::people_having(&state.db.read, user_id).await?;
    // `relations` is asked from the owner's side here: its block sets are
    // symmetric, but "has as a contact" must be read in the owner's own list
    // (the contract's `contacts`: the people the owner has as a contact).
    let relations = users::service::relations(state, user_id, &having).await?;
    let owner_has: HashSet<i64> = match last_seen {
        Visibility::Contacts => store::owned_among(&state.db.read, user_id, &having)
            .await?
            .into_iter()
            .collect(),
        _ => HashSet::new(),
    };
    Ok(having
        .into_iter()
        .filter(|other| !relations.blocked_either_way(*other))
        .filter(|other| last_seen == Visibility::Everyone || owner_has.contains(other))
        .collect())
}

/// The people `user_id` and they have each other as contacts, neither having
/// blocked the other (a block is a flag on a contact row, so one unblocked row
/// each way is exactly that): who sees `user_id`'s statuses, and whose statuses
/// `user_id` sees. Read on `conn` (a transaction when it guards a write). Two
/// queries whatever the number of contacts.
pub async fn mutual_contacts(
    conn: &impl sea_orm::ConnectionTrait,
    user_id: i64,
) -> ApiResult<Vec<i64>> {
    let mine: HashSet<i64> = store::unblocked_contacts_of(conn, user_id)
        .await?
        .into_iter()
        .collect();
    if mine.is_empty() {
        return Ok(Vec::new());
    }
    let mut mutual: Vec<i64> = store::people_having(conn, user_id)
        .await?
        .into_iter()
        .filter(|other| mine.contains(other))
        .collect();
    mutual.sort_unstable();
    mutual.dedup();
    Ok(mutual)
}

/// Whether `a` and `b` are mutual, unblocked contacts (see [`mutual_contacts`]).
pub async fn are_mutual(conn: &impl sea_orm::ConnectionTrait, a: i64, b: i64) -> ApiResult<bool> {
    let unblocked = |row: Option<contact::Model>| row.is_some_and(|c| !c.is_blocked);
    Ok(unblocked(store::find_pair(conn, a, b).await?)
        && unblocked(store::find_pair(conn, b, a).await?))
}

/// Which of `others` have blocked `user_id`.
pub async fn who_blocked(state: &AppState, user_id: i64, others: &[i64]) -> ApiResult<Vec<i64>> {
    let relations = users::service::relations(state, user_id, others).await?;
    Ok(relations.blocking_viewer().collect())
}

/// Of these (blocker, blocked) pairs, the blocks in force, read on `conn`
/// (the caller's transaction).
pub async fn blocks_among(
    conn: &impl sea_orm::ConnectionTrait,
    pairs: &[(i64, i64)],
) -> ApiResult<HashSet<(i64, i64)>> {
    Ok(store::blocked_pairs(conn, pairs)
        .await?
        .into_iter()
        .collect())
}

/// Records that a user's first socket connected (online) or their last one
/// closed (offline), and tells the people allowed to see it, on their user
/// channels (`UserOnline`, not logged).
pub async fn announce_presence(state: &AppState, user_id: i64, online: bool) -> ApiResult<()> {
    let Some((last_seen, at)) = users::service::record_presence(state, user_id, online).await?
    else {
        return Ok(());
    };
    let audience = presence_audience(state, user_id, last_seen).await?;
    if audience.is_empty() {
        return Ok(());
    }
    let payload = OnlineStatus {
        user_id,
        is_online: online,
        last_seen_at: Some(Timestamp(at)),
    };
    let channels = audience.into_iter().map(user_channel).collect();
    state
        .realtime
        .transient(Event::UserOnline(&payload), channels)
}
