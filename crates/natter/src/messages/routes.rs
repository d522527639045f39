//! HTTP handlers for messages.

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};

use super::dto::{
    EditMessageRequest, ForwardRequest, HistoryQuery, MessageEnvelope, MessageHistory,
    MessagesEnvelope, PinList, ReactRequest, ReactResponse, ReadResponse, ReceiptList,
    SendMessageForm, SendMessageRequest, StarredList, StarredQuery, SuccessMessage, TypingRequest,
    ViewOnceMedia, WatermarkRequest,
};
use super::{MessagesState, pins, receipts, service, stars};
use crate::clock::Timestamp;
use crate::error::ApiResult;
use crate::http::auth::AuthUser;
use crate::http::json::ValidJson;
use crate::http::path::ValidPath;
use crate::http::query::ValidQuery;
use crate::http::reply::Success;
use crate::media::upload::is_multipart;
use crate::membership::Watermark;
use crate::state::AppState;

/// History, oldest first, paged backwards with `before_message_id`.
#[utoipa::path(get, path = "/api/chats/{chat}/messages", tag = "messages", security(("bearer" = [])),
    params(("chat" = i64, Path, description = "Chat id"), HistoryQuery),
    responses((status = 200, body = MessageHistory), (status = 404, description = "Not a member of that chat")))]
pub async fn history(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(chat): ValidPath<i64>,
    ValidQuery(query): ValidQuery<HistoryQuery>,
) -> ApiResult<Json<MessageHistory>> {
    Ok(Json(
        service::history(&state, auth.user_id, chat, query).await?,
    ))
}

/// Sends a message: JSON, or `multipart/form-data` with the file in `file` for
/// image, video, audio and document messages. 201 once committed; 200 with the
/// first message when the same `client_message_id` was sent before.
#[utoipa::path(post, path = "/api/chats/{chat}/messages", tag = "messages", security(("bearer" = [])),
    params(("chat" = i64, Path, description = "Chat id")),
    request_body(content(
        (SendMessageRequest = "application/json"),
        (SendMessageForm = "multipart/form-data"),
    )),
    responses((status = 201, body = MessageEnvelope), (status = 200, body = MessageEnvelope, description = "A retried send"),
        (status = 403, description = "Blocked"), (status = 404, description = "Not a member of that chat"),
        (status = 413, description = "The file is over its type's MEDIA_MAX_BYTES_* limit"),
        (status = 415, description = "The file's bytes are not an allowed type for message_type"),
        (status = 422, description = "Validation failed"),
        (status = 429, description = "Over SENDS_PER_MINUTE; see Retry-After")))]
pub async fn send(
    State(state): State<MessagesState>,
    auth: AuthUser,
    ValidPath(chat): ValidPath<i64>,
    request: Request,
) -> ApiResult<(StatusCode, Json<MessageEnvelope>)> {
    service::count_send(&state.app, auth.user_id).await?;
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (message, created) = if is_multipart(content_type.as_deref()) {
        service::send_upload(
            &state.app,
            &state.writer,
            &state.media,
            auth.user_id,
            chat,
            request.into_body(),
            content_type.as_deref(),
        )
        .await?
    } else {
        let ValidJson(body) =
            ValidJson::<SendMessageRequest>::from_request(request, &state).await?;
        service::send(&state.app, &state.writer, auth.user_id, chat, body).await?
    };
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(MessageEnvelope { message })))
}

/// Edits a text message (sender only, within MESSAGE_EDIT_WINDOW).
#[utoipa::path(put, path = "/api/messages/{message}", tag = "messages", security(("bearer" = [])),
    params(("message" = i64, Path, description = "Message id")), request_body = EditMessageRequest,
    responses((status = 200, body = MessageEnvelope), (status = 403, description = "Not editable by the caller"),
        (status = 404, description = "Not visible to the caller")))]
pub async fn edit(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(message): ValidPath<i64>,
    ValidJson(request): ValidJson<EditMessageRequest>,
) -> ApiResult<Json<MessageEnvelope>> {
    let message = service::edit(&state, auth.user_id, message, request.content).await?;
    Ok(Json(MessageEnvelope { message }))
}

/// Opens a view-once message's file (a recipient, once): its `media` with a
/// signed URL. 410 the second time, and for a deleted message.
#[utoipa::path(post, path = "/api/messages/{message}/view", tag = "messages", security(("bearer" = [])),
    params(("message" = i64, Path, description = "Message id")),
    responses((status = 200, body = ViewOnceMedia),
        (status = 403, description = "Not a view-once message, or the caller sent it"),
        (status = 404, description = "Not visible to the caller"),
        (status = 410, description = "Already opened by the caller, or deleted")))]
pub async fn view_once(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(message): ValidPath<i64>,
) -> ApiResult<Json<ViewOnceMedia>> {
    let media = service::open_view_once(&state, auth.user_id, message).await?;
    Ok(Json(ViewOnceMedia {
        success: true,
        media,
    }))
}

/// Deletes a message for everyone (sender only).
#[utoipa::path(delete, path = "/api/messages/{message}", tag = "messages", security(("bearer" = [])),
    params(("message" = i64, Path, description = "Message id")),
    responses((status = 200, body = SuccessMessage), (status = 403, description = "Not the sender"),
        (status = 404, description = "Not visible to the caller")))]
pub async fn delete(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(message): ValidPath<i64>,
) -> ApiResult<Json<SuccessMessage>> {
    service::delete(&state, auth.user_id, message).await?;
    Ok(Json(SuccessMessage {
        success: true,
        message: "Message deleted successfully".into(),
    }))
}

/// Sets the caller's reaction (one per message; a new emoji replaces the old).
#[utoipa::path(post, path = "/api/messages/{message}/reactions", tag = "messages", security(("bearer" = [])),
    params(("message" = i64, Path, description = "Message id")), request_body = ReactRequest,
    responses((status = 200, body = ReactResponse), (status = 403, description = "A deleted or system message, or a block"),
        (status = 422, description = "Not one emoji")))]
pub async fn react(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(message): ValidPath<i64>,
    ValidJson(request): ValidJson<ReactRequest>,
) -> ApiResult<Json<ReactResponse>> {
    Ok(Json(
        service::react(&state, auth.user_id, message, request.emoji).await?,
    ))
}

/// Removes the caller's reaction.
#[utoipa::path(delete, path = "/api/messages/{message}/reactions", tag = "messages", security(("bearer" = [])),
    params(("message" = i64, Path, description = "Message id")),
    responses((status = 200, body = Success)))]
pub async fn unreact(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(message): ValidPath<i64>,
) -> ApiResult<Json<Success>> {
    service::unreact(&state, auth.user_id, message).await?;
    Ok(Json(Success { success: true }))
}

/// Forwards a message to chats the caller is in.
#[utoipa::path(post, path = "/api/messages/{message}/forward", tag = "messages", security(("bearer" = [])),
    params(("message" = i64, Path, description = "Message id")), request_body = ForwardRequest,
    responses((status = 201, body = MessagesEnvelope), (status = 403, description = "A deleted or system message, or a block"),
        (status = 404, description = "A chat the caller is not in"),
        (status = 422, description = "Validation failed, or more chats than SENDS_PER_MINUTE"),
        (status = 429, description = "One send per chat would go over SENDS_PER_MINUTE; nothing was sent, see Retry-After")))]
pub async fn forward(
    State(state): State<MessagesState>,
    auth: AuthUser,
    ValidPath(message): ValidPath<i64>,
    ValidJson(request): ValidJson<ForwardRequest>,
) -> ApiResult<(StatusCode, Json<MessagesEnvelope>)> {
    let messages =
        service::forward(&state.app, &state.writer, auth.user_id, message, request).await?;
    Ok((StatusCode::CREATED, Json(MessagesEnvelope { messages })))
}

/// Per-recipient delivery and read times (sender only).
#[utoipa::path(get, path = "/api/messages/{message}/receipts", tag = "messages", security(("bearer" = [])),
    params(("message" = i64, Path, description = "Message id")),
    responses((status = 200, body = ReceiptList), (status = 403, description = "Not the sender")))]
pub async fn receipts(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(message): ValidPath<i64>,
) -> ApiResult<Json<ReceiptList>> {
    Ok(Json(
        receipts::receipts(&state, auth.user_id, message).await?,
    ))
}

/// Marks everything up to a message read (never moves backward).
#[utoipa::path(put, path = "/api/chats/{chat}/read", tag = "chats", security(("bearer" = [])),
    params(("chat" = i64, Path, description = "Chat id")), request_body = WatermarkRequest,
    responses((status = 200, body = ReadResponse), (status = 422, description = "Not a message of this chat")))]
pub async fn read(
    State(state): State<MessagesState>,
    auth: AuthUser,
    ValidPath(chat): ValidPath<i64>,
    ValidJson(request): ValidJson<WatermarkRequest>,
) -> ApiResult<Json<ReadResponse>> {
    let at = receipts::mark(
        &state.app,
        &state.writer,
        auth.user_id,
        chat,
        request.message_id,
        Watermark::Read,
    )
    .await?;
    Ok(Json(ReadResponse {
        success: true,
        read_at: Timestamp(at),
    }))
}

/// Marks everything up to a message delivered (never moves backward).
#[utoipa::path(put, path = "/api/chats/{chat}/delivered", tag = "chats", security(("bearer" = [])),
    params(("chat" = i64, Path, description = "Chat id")), request_body = WatermarkRequest,
    responses((status = 200, body = Success), (status = 422, description = "Not a message of this chat")))]
pub async fn delivered(
    State(state): State<MessagesState>,
    auth: AuthUser,
    ValidPath(chat): ValidPath<i64>,
    ValidJson(request): ValidJson<WatermarkRequest>,
) -> ApiResult<Json<Success>> {
    receipts::mark(
        &state.app,
        &state.writer,
        auth.user_id,
        chat,
        request.message_id,
        Watermark::Delivered,
    )
    .await?;
    Ok(Json(Success { success: true }))
}

/// Broadcasts `App\Events\UserTyping` on the chat channel (not logged), for
/// clients that cannot send client events.
#[utoipa::path(post, path = "/api/chats/{chat}/typing", tag = "realtime", security(("bearer" = [])),
    params(("chat" = i64, Path, description = "Chat id")), request_body = TypingRequest,
    responses((status = 202, description = "Broadcast"), (status = 403, description = "Blocked"),
        (status = 404, description = "Not a member"),
        (status = 429, description = "Over TYPING_PER_MINUTE; see Retry-After")))]
pub async fn typing(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(chat): ValidPath<i64>,
    ValidJson(request): ValidJson<TypingRequest>,
) -> ApiResult<StatusCode> {
    service::typing(&state, auth.user_id, chat, request.typing).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Stars a message for the caller (private to them): 201 when starred now,
/// 200 when it already was. Every device of the caller gets `MessageStarred`.
#[utoipa::path(post, path = "/api/messages/{message}/star", tag = "messages", security(("bearer" = [])),
    params(("message" = i64, Path, description = "Message id")),
    responses((status = 201, body = MessageEnvelope), (status = 200, body = MessageEnvelope, description = "Already starred"),
        (status = 403, description = "A system message"),
        (status = 404, description = "Not visible to the caller, or deleted")))]
pub async fn star(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(message): ValidPath<i64>,
) -> ApiResult<(StatusCode, Json<MessageEnvelope>)> {
    let changed = stars::set(&state, auth.user_id, message, true).await?;
    let message = stars::view(&state, auth.user_id, message).await?;
    let status = if changed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(MessageEnvelope { message })))
}

/// Unstars a message for the caller (200 whether or not it was starred).
#[utoipa::path(delete, path = "/api/messages/{message}/star", tag = "messages", security(("bearer" = [])),
    params(("message" = i64, Path, description = "Message id")),
    responses((status = 200, body = MessageEnvelope), (status = 403, description = "A system message"),
        (status = 404, description = "Not visible to the caller, or deleted")))]
pub async fn unstar(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath(message): ValidPath<i64>,
) -> ApiResult<Json<MessageEnvelope>> {
    stars::set(&state, auth.user_id, message, false).await?;
    let message = stars::view(&state, auth.user_id, message).await?;
    Ok(Json(MessageEnvelope { message }))
}

/// The caller's starred messages, newest star first, from every chat they are
/// in (deleted and expired ones leave the list); paged with `before`.
#[utoipa::path(get, path = "/api/starred", tag = "messages", security(("bearer" = [])),
    params(StarredQuery),
    responses((status = 200, body = StarredList), (status = 422, description = "A bad limit or before")))]
pub async fn starred(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidQuery(query): ValidQuery<StarredQuery>,
) -> ApiResult<Json<StarredList>> {
    Ok(Json(stars::list(&state, auth.user_id, query).await?))
}

/// Pins a message in its chat (any member; at most three pins, a fourth
/// replaces the oldest). Broadcasts `MessagePinned` and posts a `system`
/// message; pinning it again changes nothing.
#[utoipa::path(put, path = "/api/chats/{chat}/pins/{message}", tag = "chats", security(("bearer" = [])),
    params(("chat" = i64, Path, description = "Chat id"), ("message" = i64, Path, description = "Message id")),
    responses((status = 200, body = PinList), (status = 403, description = "A system message, or a block"),
        (status = 404, description = "Not a member, or not a visible message of this chat"),
        (status = 429, description = "Posts a system message in the chat, so counts as a send: over SENDS_PER_MINUTE; see Retry-After")))]
pub async fn pin_message(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath((chat, message)): ValidPath<(i64, i64)>,
) -> ApiResult<Json<PinList>> {
    let pinned_messages = pins::pin(&state, auth.user_id, chat, message).await?;
    Ok(Json(PinList {
        success: true,
        pinned_messages,
    }))
}

/// Unpins a message (any member; 200 whether or not it was pinned).
/// Broadcasts `MessagePinned` with `pinned: false`.
#[utoipa::path(delete, path = "/api/chats/{chat}/pins/{message}", tag = "chats", security(("bearer" = [])),
    params(("chat" = i64, Path, description = "Chat id"), ("message" = i64, Path, description = "Message id")),
    responses((status = 200, body = PinList), (status = 403, description = "A system message, or a block"),
        (status = 404, description = "Not a member, or not a visible message of this chat")))]
pub async fn unpin_message(
    State(state): State<AppState>,
    auth: AuthUser,
    ValidPath((chat, message)): ValidPath<(i64, i64)>,
) -> ApiResult<Json<PinList>> {
    let pinned_messages = pins::unpin(&state, auth.user_id, chat, message).await?;
    Ok(Json(PinList {
        success: true,
        pinned_messages,
    }))
}
