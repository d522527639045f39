//! Calls: starting one (private or group), the state machine (answer,
//! decline, end, ring timeout), signalling between participants, history,
//! and TURN credentials. docs/calls.md draws the states.
//!
//! Every change runs in a log transaction: the checks that guard it (a
//! participant, a callee, the state it leaves) are read on that transaction
//! under the log lock, and each UPDATE also names the state it expects, so
//! concurrent answer/decline/end calls are ordered and the losers get 409.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use serde_json::json;

use super::dto::{CallList, InitiateCallRequest, SignalRequest, TurnCredentials};
use super::{ring, store, turn};
use crate::chats;
use crate::clock::{Timestamp, now_ms};
use crate::contacts;
use crate::db::entities::{call, call_participant};
use crate::devices;
use crate::error::{ApiError, ApiResult};
use crate::http::pagination::PageQuery;
use crate::jobs::{self, NewJob};
use crate::membership;
use crate::ratelimit::{self, Limit};
use crate::realtime::channels::{call_channel, user_channel};
use crate::resources::call::{
    CallParticipantView, CallSignalPayload, CallStatus, CallType, CallView, ParticipantStatus,
};
use crate::resources::chat::ChatType;
use crate::resources::user::UserView;
use crate::state::AppState;
use crate::synclog::{Audience, Event, LogTx};
use crate::users;

/// What a participant asks of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Answer,
    Decline,
    End,
}

/// Starts a call; 201 with it. Callees already in a live call are `busy` and
/// not rung; when every callee is, the call is `busy` at once.
pub async fn initiate(
    state: &AppState,
    caller: i64,
    request: InitiateCallRequest,
) -> ApiResult<CallView> {
    // Each call rings every device of its callees (pushes included).
    let limit = Limit::new(
        format!("call-start:{caller}"),
        state.config.settings.calls.calls_per_minute,
        Duration::from_secs(60),
    );
    ratelimit::enforce(state.limiter.as_ref(), &[limit]).await?;
    let chat_id = chat_of(state, caller, &request).await?;
    let mut tx = LogTx::begin(&state.db).await?;
    let now = tx.now();
    let member = membership::require_member_on(tx.conn(), chat_id, caller).await?;
    require_in_no_call(&tx, caller).await?;
    let callees = callees(&tx, &member, caller).await?;
    let busy = store::busy_among(tx.conn(), &callees).await?;
    let ringing: Vec<i64> = callees
        .iter()
        .copied()
        .filter(|c| !busy.contains(c))
        .collect();
    let status = if ringing.is_empty() {
        CallStatus::Busy
    } else {
        CallStatus::Ringing
    };
    let row = store::insert_call(
        tx.conn(),
        chat_id,
        caller,
        request.call_type.as_str(),
        status,
        now,
    )
    .await?;
    let mut people = vec![(caller, ParticipantStatus::Joined)];
    people.extend(callees.iter().map(|c| {
        let status = if busy.contains(c) {
            ParticipantStatus::Busy
        } else {
            ParticipantStatus::Ringing
        };
        (*c, status)
    }));
    if status == CallStatus::Busy {
        people[0].1 = ParticipantStatus::Left;
    }
    store::insert_participants(tx.conn(), row.id, &people, now).await?;
    let mut pushes = false;
    if status == CallStatus::Ringing {
        let timeout = i64::try_from(state.config.settings.calls.call_ring_timeout).unwrap_or(45);
        jobs::enqueue(
            tx.conn(),
            NewJob::new(ring::KIND, json!({ "call_id": row.id }))
                .run_at(now + timeout * 1000)
                .unique_key(format!("{}:{}", ring::KIND, row.id)),
        )
        .await?;
        pushes = enqueue_ring_pushes(&tx, &row, &ringing).await?;
        super::offline::joined_by_api(state, tx.conn(), caller).await?;
    }
    let view = event_view(state, &tx, row.id).await?;
    if status == CallStatus::Ringing {
        tx.emit_each(&ringing, Audience::default(), Event::CallInitiated(&view))?;
    } else {
        emit_updated(&mut tx, &view)?;
    }
    state.publish(tx.commit().await?);
    if pushes {
        state.jobs.wake();
    }
    one(state, caller, row.id).await
}

/// 409 when `user` is joined to a call already (one they started that still
/// rings, or one they are talking in): a person is in one call at a time,
/// and ends it before starting or answering another, as on WhatsApp. Read on
/// the transaction that would join them, under the log lock, so two
/// concurrent starts or answers cannot both pass.
async fn require_in_no_call(tx: &LogTx, user: i64) -> ApiResult<()> {
    if store::live_calls_joined_by(tx.conn(), user)
        .await?
        .is_empty()
    {
        return Ok(());
    }
    Err(ApiError::Conflict(
        "You are already in a call; end it first.".into(),
    ))
}

/// The chat a new call happens in: `chat_id`, or the private chat with
/// `callee_id` (created if needed; 403 when either blocked the other).
async fn chat_of(state: &AppState, caller: i64, request: &InitiateCallRequest) -> ApiResult<i64> {
    match (request.chat_id, request.callee_id) {
        (Some(chat), None) => Ok(chat),
        (None, Some(callee)) if callee == caller => {
            Err(ApiError::field("callee_id", "You cannot call yourself."))
        }
        (None, Some(callee)) => {
            let (chat, _) = chats::service::get_or_create_private(state, caller, callee)
                .await
                .map_err(|err| match err {
                    ApiError::Forbidden(_) => ApiError::forbidden("You cannot call this user."),
                    other => other,
                })?;
            Ok(chat.id)
        }
        _ => Err(ApiError::field(
            "chat_id",
            "Send either chat_id or callee_id.",
        )),
    }
}

/// Who a call in this chat rings, read on the transaction: the other current
/// members. In a private chat a block either way is 403; in a group, members
/// with a block either way with the caller are left out.
async fn callees(tx: &LogTx, member: &membership::Member, caller: i64) -> ApiResult<Vec<i64>> {
    let others: Vec<i64> = membership::participants(tx.conn(), member.chat.id)
        .await?
        .into_iter()
        .map(|p| p.user_id)
        .filter(|id| *id != caller)
        .collect();
    let pairs: Vec<(i64, i64)> = others
        .iter()
        .flat_map(|other| [(caller, *other), (*other, caller)])
        .collect();
    let blocks = contacts::service::blocks_among(tx.conn(), &pairs).await?;
    let blocked =
        |other: &i64| blocks.contains(&(caller, *other)) || blocks.contains(&(*other, caller));
    let private = member.chat.chat_type == ChatType::Private.as_str();
    if private && others.iter().any(blocked) {
        return Err(ApiError::forbidden("You cannot call this user."));
    }
    let callees: Vec<i64> = others.into_iter().filter(|o| !blocked(o)).collect();
    if callees.is_empty() {
        return Err(ApiError::field(
            "chat_id",
            "There is nobody to call in this chat.",
        ));
    }
    Ok(callees)
}

/// Queues a "call ringing" push for each callee being rung, in the transaction
/// that starts the call, so that a phone whose app is asleep rings too. Calls
/// ring every device, connected or not (as a phone rings beside an open web
/// page); mutes do not silence a call. True when any push was queued (wake
/// the job runner after the commit).
async fn enqueue_ring_pushes(tx: &LogTx, call: &call::Model, callees: &[i64]) -> ApiResult<bool> {
    let payload = devices::PushPayload::Call {
        call_id: call.id,
        chat_id: call.chat_id,
        caller_id: call.caller_id,
        started_at: call.started_at,
    };
    Ok(devices::push::enqueue_push(tx.conn(), callees, payload).await? > 0)
}

/// Answers, declines or ends a call for `user`. 404 when they are not a
/// participant; 403 when the caller answers or declines; 409 when the call or
/// their part in it does not allow the move.
pub async fn act(state: &AppState, user: i64, call_id: i64, action: Action) -> ApiResult<CallView> {
    let mut tx = LogTx::begin(&state.db).await?;
    let now = tx.now();
    let (row, me) = participant_of(&tx, call_id, user).await?;
    let status = CallStatus::parse(&row.status);
    if !status.is_live() {
        return Err(ApiError::Conflict(format!(
            "This call is already {}.",
            status.as_str()
        )));
    }
    let mine = ParticipantStatus::parse(&me.status);
    match action {
        Action::Answer | Action::Decline if row.caller_id == user => {
            return Err(ApiError::forbidden(
                "Only the people called may answer or decline.",
            ));
        }
        Action::Answer | Action::Decline if mine != ParticipantStatus::Ringing => {
            return Err(ApiError::Conflict(format!(
                "You have already {}.",
                done_word(mine)
            )));
        }
        Action::Answer => {
            require_in_no_call(&tx, user).await?;
            store::move_participant(
                tx.conn(),
                call_id,
                user,
                mine,
                ParticipantStatus::Joined,
                now,
            )
            .await?;
            if status == CallStatus::Ringing {
                store::move_call(tx.conn(), call_id, status, CallStatus::Ongoing, now).await?;
            }
            super::offline::joined_by_api(state, tx.conn(), user).await?;
        }
        Action::Decline => {
            store::move_participant(
                tx.conn(),
                call_id,
                user,
                mine,
                ParticipantStatus::Declined,
                now,
            )
            .await?;
            settle(&tx, &row, status, false).await?;
        }
        Action::End if !mine.is_live() => {
            return Err(ApiError::Conflict(format!(
                "You have already {}.",
                done_word(mine)
            )));
        }
        Action::End => {
            leave_call(&tx, &row, user, mine).await?;
        }
    }
    let view = event_view(state, &tx, call_id).await?;
    emit_updated(&mut tx, &view)?;
    state.publish(tx.commit().await?);
    one(state, user, call_id).await
}

/// Takes `user` out of `chat_id`'s live calls inside `tx`, as `end` would,
/// and announces each: someone who left a group or was removed from it is in
/// none of its calls, and cannot answer, signal or hear one afterwards.
pub async fn leave_chat_calls(
    state: &AppState,
    tx: &mut LogTx,
    chat_id: i64,
    user: i64,
) -> ApiResult<()> {
    for row in store::live_in_chat(tx.conn(), chat_id).await? {
        let people = store::participants(tx.conn(), &[row.id]).await?;
        let mine = people
            .iter()
            .find(|p| p.user_id == user)
            .map(|p| ParticipantStatus::parse(&p.status));
        if let Some(mine) = mine.filter(|s| s.is_live()) {
            leave_call(tx, &row, user, mine).await?;
            let view = event_view(state, tx, row.id).await?;
            emit_updated(tx, &view)?;
        }
    }
    Ok(())
}

/// Takes `user`, whose part in the live call `row` is `mine` (ringing or
/// joined), out of it inside `tx` (joined: left; ringing: declined) and
/// settles the call: what `end` does, and leaving a group or staying offline
/// too. False when their part had already moved on (nothing written).
pub(super) async fn leave_call(
    tx: &LogTx,
    row: &call::Model,
    user: i64,
    mine: ParticipantStatus,
) -> ApiResult<bool> {
    let gone = if mine == ParticipantStatus::Joined {
        ParticipantStatus::Left
    } else {
        ParticipantStatus::Declined
    };
    if !store::move_participant(tx.conn(), row.id, user, mine, gone, tx.now()).await? {
        return Ok(false);
    }
    // In a private chat, one person leaving ends the call.
    let private = membership::find_chats(tx.conn(), &[row.chat_id])
        .await?
        .first()
        .is_some_and(|c| c.chat_type == ChatType::Private.as_str());
    settle(tx, row, CallStatus::parse(&row.status), private).await?;
    Ok(true)
}

fn done_word(status: ParticipantStatus) -> &'static str {
    match status {
        ParticipantStatus::Joined => "answered",
        ParticipantStatus::Declined => "declined",
        ParticipantStatus::Left => "left this call",
        ParticipantStatus::Missed => "missed this call",
        ParticipantStatus::Busy => "been marked busy for this call",
        ParticipantStatus::Ringing => "been rung",
    }
}

/// The call and `user`'s part in it, read on the transaction; 404 when they
/// have none.
async fn participant_of(
    tx: &LogTx,
    call_id: i64,
    user: i64,
) -> ApiResult<(call::Model, call_participant::Model)> {
    let not_found = || ApiError::not_found("Call");
    let row = store::find(tx.conn(), call_id)
        .await?
        .ok_or_else(not_found)?;
    let me = store::participants(tx.conn(), &[call_id])
        .await?
        .into_iter()
        .find(|p| p.user_id == user)
        .ok_or_else(not_found)?;
    Ok((row, me))
}

/// After someone's part changed: ends the call when it can no longer go on
/// (`force`: a private call someone ended). A ringing call ends when nobody is
/// left to ring or the caller left: `declined` when every callee declined,
/// else `missed`. An ongoing call ends (`ended`) when fewer than two people
/// are in it and nobody is being rung. Whoever was still ringing has missed
/// it; whoever was in it has left.
pub(super) async fn settle(
    tx: &LogTx,
    row: &call::Model,
    status: CallStatus,
    force: bool,
) -> ApiResult<()> {
    let people = store::participants(tx.conn(), &[row.id]).await?;
    let count = |s: ParticipantStatus| {
        people
            .iter()
            .filter(|p| ParticipantStatus::parse(&p.status) == s)
            .count()
    };
    let (joined, ringing) = (
        count(ParticipantStatus::Joined),
        count(ParticipantStatus::Ringing),
    );
    let callees = people.len().saturating_sub(1);
    let end = force
        || joined == 0
        || match status {
            CallStatus::Ringing => ringing == 0,
            _ => joined < 2 && ringing == 0,
        };
    if !end {
        return Ok(());
    }
    let last = match status {
        CallStatus::Ringing if callees > 0 && count(ParticipantStatus::Declined) == callees => {
            CallStatus::Declined
        }
        CallStatus::Ringing => CallStatus::Missed,
        _ => CallStatus::Ended,
    };
    let now = tx.now();
    store::move_all(
        tx.conn(),
        row.id,
        ParticipantStatus::Ringing,
        ParticipantStatus::Missed,
        now,
    )
    .await?;
    store::move_all(
        tx.conn(),
        row.id,
        ParticipantStatus::Joined,
        ParticipantStatus::Left,
        now,
    )
    .await?;
    store::move_call(tx.conn(), row.id, status, last, now).await?;
    Ok(())
}

/// Emits `CallUpdated`: logged once per participant (their user channel and
/// sync), and live on `private-call.{id}` once.
pub(super) fn emit_updated(tx: &mut LogTx, view: &CallView) -> ApiResult<()> {
    let people: Vec<i64> = view.participants.iter().map(|p| p.user_id).collect();
    let call = Audience {
        channels: vec![call_channel(view.id)],
        ..Audience::default()
    };
    tx.emit_each(&people, call, Event::CallUpdated(view))
}

/// Signalling: relays `payload` to another live participant of a live call,
/// on their user channel only (`CallSignal`, not logged); at most
/// CALL_SIGNALS_PER_10_SECONDS relayed per user, then 429.
pub async fn signal(
    state: &AppState,
    user: i64,
    call_id: i64,
    request: SignalRequest,
) -> ApiResult<()> {
    let max = state.config.settings.calls.call_signal_max_bytes;
    if request.payload.is_null() {
        return Err(ApiError::field("payload", "The payload field is required."));
    }
    let size = serde_json::to_string(&request.payload)
        .map_err(|e| ApiError::Internal(e.into()))?
        .len() as u64;
    if size > max {
        return Err(ApiError::field(
            "payload",
            format!(
                "The payload may not be greater than {} kilobytes.",
                max / 1024
            ),
        ));
    }
    let db = &state.db.read;
    let not_found = || ApiError::not_found("Call");
    let row = store::find(db, call_id).await?.ok_or_else(not_found)?;
    let people = store::participants(db, &[call_id]).await?;
    let status_of = |id: i64| {
        people
            .iter()
            .find(|p| p.user_id == id)
            .map(|p| ParticipantStatus::parse(&p.status))
    };
    let mine = status_of(user).ok_or_else(not_found)?;
    if !CallStatus::parse(&row.status).is_live() || !mine.is_live() {
        return Err(ApiError::Conflict("This call is not live for you.".into()));
    }
    let target = request.to_user_id;
    match status_of(target) {
        Some(theirs) if target != user && theirs.is_live() => {}
        Some(_) if target != user => {
            return Err(ApiError::Conflict(
                "That participant is no longer in the call.".into(),
            ));
        }
        _ => {
            return Err(ApiError::field(
                "to_user_id",
                "The to user id must be another participant of this call.",
            ));
        }
    }
    // Counted once it would be relayed: a refused signal reaches nobody.
    let limit = Limit::new(
        format!("call-signal:{user}"),
        state.config.settings.calls.call_signals_per_10_seconds,
        Duration::from_secs(10),
    );
    ratelimit::enforce(state.limiter.as_ref(), &[limit]).await?;
    let payload = CallSignalPayload {
        call_id,
        from_user_id: user,
        signal_type: request.signal_type,
        payload: request.payload,
    };
    state
        .realtime
        .transient(Event::CallSignal(&payload), vec![user_channel(target)])
}

/// The calls `user` made or received, newest first.
pub async fn history(state: &AppState, user: i64, page: PageQuery) -> ApiResult<CallList> {
    let (ids, total) = store::page_of(&state.db.read, user, page.offset(), page.limit).await?;
    let rows = store::find_many(&state.db.read, &ids).await?;
    Ok(CallList {
        calls: render(state, &state.db.read, user, rows).await?,
        pagination: page.pagination(total),
    })
}

/// One call as `viewer` sees it (after a change, read on the write side).
async fn one(state: &AppState, viewer: i64, call_id: i64) -> ApiResult<CallView> {
    let rows = store::find_many(&state.db.write, &[call_id]).await?;
    render(state, &state.db.write, viewer, rows)
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found("Call"))
}

/// A call as its events carry it: the caller as anyone may see them.
pub(super) async fn event_view(state: &AppState, tx: &LogTx, call_id: i64) -> ApiResult<CallView> {
    let rows = store::find_many(tx.conn(), &[call_id]).await?;
    render(state, tx.conn(), 0, rows)
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found("Call"))
}

/// Call resources in bulk: one query for the participants, three for the
/// callers as `viewer` sees them (viewer 0: as anyone may).
async fn render(
    state: &AppState,
    conn: &impl sea_orm::ConnectionTrait,
    viewer: i64,
    rows: Vec<call::Model>,
) -> ApiResult<Vec<CallView>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut people: HashMap<i64, Vec<CallParticipantView>> = HashMap::new();
    for p in store::participants(conn, &ids).await? {
        people
            .entry(p.call_id)
            .or_default()
            .push(CallParticipantView {
                user_id: p.user_id,
                status: ParticipantStatus::parse(&p.status),
            });
    }
    let callers: Vec<i64> = rows
        .iter()
        .map(|r| r.caller_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let users = users::service::view_users(state, viewer, &callers).await?;
    rows.into_iter()
        .map(|row| {
            let caller = users
                .get(&row.caller_id)
                .cloned()
                .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no user {}", row.caller_id)))?;
            let participants = people.remove(&row.id).unwrap_or_default();
            Ok(view(row, caller, participants))
        })
        .collect()
}

fn view(row: call::Model, caller: UserView, participants: Vec<CallParticipantView>) -> CallView {
    let duration_seconds = match (row.answered_at, row.ended_at) {
        (Some(answered), Some(ended)) => (ended - answered).max(0) / 1000,
        _ => 0,
    };
    CallView {
        id: row.id,
        chat_id: row.chat_id,
        caller,
        call_type: CallType::parse(&row.call_type),
        status: CallStatus::parse(&row.status),
        started_at: Timestamp(row.started_at),
        answered_at: row.answered_at.map(Timestamp),
        ended_at: row.ended_at.map(Timestamp),
        duration_seconds,
        participants,
    }
}

/// Whether `user` takes part in the call now, ringing or joined (for
/// `private-call.{id}`): not someone who declined, left or was removed.
pub async fn is_participant(state: &AppState, call_id: i64, user: i64) -> ApiResult<bool> {
    Ok(store::participants(&state.db.read, &[call_id])
        .await?
        .iter()
        .any(|p| p.user_id == user && ParticipantStatus::parse(&p.status).is_live()))
}

/// TURN credentials for `user`; 503 without TURN_SECRET.
pub fn turn_credentials(state: &AppState, user: i64) -> ApiResult<TurnCredentials> {
    let calls = &state.config.settings.calls;
    let secret = calls
        .turn_secret
        .as_deref()
        .ok_or_else(|| ApiError::Unavailable("TURN is not configured on this server.".into()))?;
    let now = u64::try_from(now_ms() / 1000).unwrap_or_default();
    Ok(turn::credentials(
        secret,
        &calls.turn_urls,
        calls.turn_ttl,
        user,
        now,
    ))
}
