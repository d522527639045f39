//! Queries on the `calls` and `call_participants` tables (and only here).
//! Every change is made on the caller's log transaction: the log lock orders
//! all call changes, and each UPDATE also names the state it expects, so a
//! change that lost a race changes nothing.

use std::collections::HashSet;

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::db::IN_LIST_CHUNK;
use crate::db::entities::{call, call_participant};
use crate::resources::call::{CallStatus, ParticipantStatus};

pub async fn insert_call(
    db: &impl ConnectionTrait,
    chat_id: i64,
    caller_id: i64,
    call_type: &str,
    status: CallStatus,
    now: i64,
) -> Result<call::Model, DbErr> {
    call::ActiveModel {
        chat_id: Set(chat_id),
        caller_id: Set(caller_id),
        call_type: Set(call_type.to_string()),
        status: Set(status.as_str().to_string()),
        started_at: Set(now),
        answered_at: Set(None),
        ended_at: Set((!status.is_live()).then_some(now)),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// One row per (user, status) of a new call; joined ones joined at `now`.
pub async fn insert_participants(
    db: &impl ConnectionTrait,
    call_id: i64,
    people: &[(i64, ParticipantStatus)],
    now: i64,
) -> Result<(), DbErr> {
    let rows = people
        .iter()
        .map(|(user, status)| call_participant::ActiveModel {
            call_id: Set(call_id),
            user_id: Set(*user),
            status: Set(status.as_str().to_string()),
            joined_at: Set((*status == ParticipantStatus::Joined).then_some(now)),
            left_at: Set(None),
            ..Default::default()
        });
    call_participant::Entity::insert_many(rows).exec(db).await?;
    Ok(())
}

pub async fn find(db: &impl ConnectionTrait, id: i64) -> Result<Option<call::Model>, DbErr> {
    call::Entity::find_by_id(id).one(db).await
}

pub async fn find_many(db: &impl ConnectionTrait, ids: &[i64]) -> Result<Vec<call::Model>, DbErr> {
    call::Entity::find()
        .filter(call::Column::Id.is_in(ids.iter().copied()))
        .order_by_desc(call::Column::Id)
        .all(db)
        .await
}

/// The participants of these calls, in the order they were added.
pub async fn participants(
    db: &impl ConnectionTrait,
    call_ids: &[i64],
) -> Result<Vec<call_participant::Model>, DbErr> {
    let mut rows = Vec::new();
    for chunk in call_ids.chunks(IN_LIST_CHUNK) {
        rows.extend(
            call_participant::Entity::find()
                .filter(call_participant::Column::CallId.is_in(chunk.iter().copied()))
                .order_by_asc(call_participant::Column::Id)
                .all(db)
                .await?,
        );
    }
    Ok(rows)
}

/// Which of `users` are being rung by, or are in, a call now.
pub async fn busy_among(db: &impl ConnectionTrait, users: &[i64]) -> Result<HashSet<i64>, DbErr> {
    let live = [
        ParticipantStatus::Ringing.as_str(),
        ParticipantStatus::Joined.as_str(),
    ];
    let mut busy = HashSet::new();
    for chunk in users.chunks(IN_LIST_CHUNK) {
        let ids: Vec<i64> = call_participant::Entity::find()
            .select_only()
            .column(call_participant::Column::UserId)
            .filter(call_participant::Column::UserId.is_in(chunk.iter().copied()))
            .filter(call_participant::Column::Status.is_in(live))
            .into_tuple()
            .all(db)
            .await?;
        busy.extend(ids);
    }
    Ok(busy)
}

/// Moves a participant from `from` to `to`, stamping `joined_at` when they
/// join and `left_at` when a joined participant leaves. False when they were
/// not in `from`.
pub async fn move_participant(
    db: &impl ConnectionTrait,
    call_id: i64,
    user_id: i64,
    from: ParticipantStatus,
    to: ParticipantStatus,
    now: i64,
) -> Result<bool, DbErr> {
    let mut update = call_participant::Entity::update_many()
        .col_expr(call_participant::Column::Status, Expr::value(to.as_str()))
        .filter(call_participant::Column::CallId.eq(call_id))
        .filter(call_participant::Column::UserId.eq(user_id))
        .filter(call_participant::Column::Status.eq(from.as_str()));
    if to == ParticipantStatus::Joined {
        update = update.col_expr(call_participant::Column::JoinedAt, Expr::value(now));
    }
    if to == ParticipantStatus::Left {
        update = update.col_expr(call_participant::Column::LeftAt, Expr::value(now));
    }
    Ok(update.exec(db).await?.rows_affected == 1)
}

/// Moves every participant of a call in `from` to `to` (a call ending).
pub async fn move_all(
    db: &impl ConnectionTrait,
    call_id: i64,
    from: ParticipantStatus,
    to: ParticipantStatus,
    now: i64,
) -> Result<u64, DbErr> {
    let mut update = call_participant::Entity::update_many()
        .col_expr(call_participant::Column::Status, Expr::value(to.as_str()))
        .filter(call_participant::Column::CallId.eq(call_id))
        .filter(call_participant::Column::Status.eq(from.as_str()));
    if to == ParticipantStatus::Left {
        update = update.col_expr(call_participant::Column::LeftAt, Expr::value(now));
    }
    Ok(update.exec(db).await?.rows_affected)
}

/// Moves a call from `from` to `to`: answered at `now` when it starts,
/// ended at `now` when it stops. False when it was not in `from`.
pub async fn move_call(
    db: &impl ConnectionTrait,
    call_id: i64,
    from: CallStatus,
    to: CallStatus,
    now: i64,
) -> Result<bool, DbErr> {
    let mut update = call::Entity::update_many()
        .col_expr(call::Column::Status, Expr::value(to.as_str()))
        .filter(call::Column::Id.eq(call_id))
        .filter(call::Column::Status.eq(from.as_str()));
    if to == CallStatus::Ongoing {
        update = update.col_expr(call::Column::AnsweredAt, Expr::value(now));
    }
    if !to.is_live() {
        update = update.col_expr(call::Column::EndedAt, Expr::value(now));
    }
    Ok(update.exec(db).await?.rows_affected == 1)
}

/// The statuses of a call still ringing or ongoing.
fn live() -> [&'static str; 2] {
    [CallStatus::Ringing.as_str(), CallStatus::Ongoing.as_str()]
}

/// `SELECT id FROM calls WHERE status IN (live)`: the calls still ringing or
/// ongoing, for the queries below (ending a call moves its people out, but a
/// row left joined to a call that is over must not count as being in it).
fn live_call_ids() -> sea_orm::sea_query::SelectStatement {
    sea_orm::sea_query::Query::select()
        .column(call::Column::Id)
        .from(call::Entity)
        .and_where(call::Column::Status.is_in(live()))
        .to_owned()
}

/// The live calls `user` is joined to now: one query, the calls whose status
/// is live among those with a joined participant row for `user`.
pub async fn live_calls_joined_by(
    db: &impl ConnectionTrait,
    user: i64,
) -> Result<Vec<call::Model>, DbErr> {
    let joined = sea_orm::sea_query::Query::select()
        .column(call_participant::Column::CallId)
        .from(call_participant::Entity)
        .and_where(call_participant::Column::UserId.eq(user))
        .and_where(call_participant::Column::Status.eq(ParticipantStatus::Joined.as_str()))
        .to_owned();
    call::Entity::find()
        .filter(call::Column::Id.in_subquery(joined))
        .filter(call::Column::Status.is_in(live()))
        .order_by_desc(call::Column::Id)
        .all(db)
        .await
}

/// Everyone joined to a live call, each once.
pub async fn users_joined_to_live_calls(db: &impl ConnectionTrait) -> Result<Vec<i64>, DbErr> {
    call_participant::Entity::find()
        .select_only()
        .column(call_participant::Column::UserId)
        .distinct()
        .filter(call_participant::Column::Status.eq(ParticipantStatus::Joined.as_str()))
        .filter(call_participant::Column::CallId.in_subquery(live_call_ids()))
        .into_tuple()
        .all(db)
        .await
}

/// The calls of `chat_id` still ringing or ongoing.
pub async fn live_in_chat(
    db: &impl ConnectionTrait,
    chat_id: i64,
) -> Result<Vec<call::Model>, DbErr> {
    call::Entity::find()
        .filter(call::Column::ChatId.eq(chat_id))
        .filter(call::Column::Status.is_in(live()))
        .all(db)
        .await
}

/// One page of the calls `user_id` took part in, newest first, and the total.
pub async fn page_of(
    db: &impl ConnectionTrait,
    user_id: i64,
    offset: u64,
    limit: u64,
) -> Result<(Vec<i64>, u64), DbErr> {
    let query =
        call_participant::Entity::find().filter(call_participant::Column::UserId.eq(user_id));
    let total = query.clone().count(db).await?;
    let ids = query
        .select_only()
        .column(call_participant::Column::CallId)
        .order_by_desc(call_participant::Column::CallId)
        .offset(offset)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?;
    Ok((ids, total))
}
