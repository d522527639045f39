//! A typed Rust client of natter's API (API.md): REST calls return the wire
//! types below, failures come back as [`Error::Api`] with the status and body,
//! and [`socket`] speaks the Pusher protocol. natter's own tests and
//! natter-bench use it; so can any Rust program.

pub mod socket;
pub mod types;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use rustls::crypto::ring;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

pub use types::*;

/// What a call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with a non-2xx status.
    #[error("HTTP {status}: {body}")]
    Api {
        status: u16,
        body: Value,
        retry_after: Option<u64>,
    },
    /// The server could not be reached or the answer was not the expected shape.
    #[error("transport: {0}")]
    Transport(String),
}

impl Error {
    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            Error::Transport(_) => None,
        }
    }

    /// The error body, if the server answered.
    pub fn body(&self) -> Option<&Value> {
        match self {
            Error::Api { body, .. } => Some(body),
            Error::Transport(_) => None,
        }
    }

    /// The `Retry-After` header (seconds), if the server answered with one.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Error::Api { retry_after, .. } => *retry_after,
            Error::Transport(_) => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// A raw answer: status, headers of interest and JSON body (Null when not JSON).
#[derive(Debug, Clone)]
pub struct Raw {
    pub status: u16,
    pub body: Value,
    pub retry_after: Option<u64>,
    pub content_type: Option<String>,
}

/// A connection to one natter server, optionally signed in.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Client {
    /// `base_url` such as `http://127.0.0.1:8000`.
    pub fn new(base_url: &str) -> Client {
        let http = Client::http_builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .build()
            .unwrap_or_default();
        Client::with_http(base_url, http)
    }

    /// A reqwest builder ready for [`Client::with_http`] (the TLS provider
    /// installed), for callers that tune their own connections.
    pub fn http_builder() -> reqwest::ClientBuilder {
        let _ = ring::default_provider().install_default();
        reqwest::Client::builder()
    }

    /// A client over a `reqwest::Client` built by the caller (the bench keeps
    /// every connection open and may speak HTTP/2).
    pub fn with_http(base_url: &str, http: reqwest::Client) -> Client {
        Client {
            http,
            base: base_url.trim_end_matches('/').to_string(),
            token: None,
        }
    }

    /// The same server, calling with this bearer token.
    pub fn with_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_string()),
            ..self.clone()
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Any request, any body; never fails on a status. For tests of error shapes.
    pub async fn raw(&self, method: Method, path: &str, body: Option<Value>) -> Result<Raw> {
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.finish(request).await
    }

    /// A request with a body sent as is, with the given content type.
    pub async fn raw_bytes(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Raw> {
        let mut request = self
            .http
            .request(method, format!("{}{}", self.base, path))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        self.finish(request).await
    }

    async fn finish(&self, request: reqwest::RequestBuilder) -> Result<Raw> {
        let response = request
            .send()
            .await
            .map_err(|e| Error::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Error::Transport(e.to_string()))?;
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok(Raw {
            status,
            body,
            retry_after,
            content_type,
        })
    }

    /// A `multipart/form-data` request: text fields, then the file as the part
    /// `file` (the order API.md asks for: the type before the file). Never fails
    /// on a status.
    pub async fn raw_upload(
        &self,
        method: Method,
        path: &str,
        fields: &[(&str, &str)],
        file: Option<(&str, &[u8])>,
    ) -> Result<Raw> {
        let (content_type, body) = multipart_body(fields, file);
        self.raw_bytes(method, path, &content_type, body).await
    }

    /// A typed upload (as [`Client::raw_upload`]), the status with the body.
    async fn upload_with_status<T: DeserializeOwned>(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        file: (&str, &[u8]),
    ) -> Result<(u16, T)> {
        let raw = self
            .raw_upload(Method::POST, path, fields, Some(file))
            .await?;
        typed(raw)
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<T> {
        Ok(self.call_with_status(method, path, body).await?.1)
    }

    /// A typed call that also returns the success status (200 vs 201).
    async fn call_with_status<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, T)> {
        typed(self.raw(method, path, body).await?)
    }

    // ---- auth ----

    pub async fn send_otp(
        &self,
        phone_number: &str,
        country_code: &str,
    ) -> Result<SendOtpResponse> {
        let body = json!({ "phone_number": phone_number, "country_code": country_code });
        self.call(Method::POST, "/api/auth/send-otp", Some(body))
            .await
    }

    pub async fn verify_otp(
        &self,
        phone_number: &str,
        country_code: &str,
        otp: &str,
        name: Option<&str>,
    ) -> Result<VerifyOtpResponse> {
        let mut body =
            json!({ "phone_number": phone_number, "country_code": country_code, "otp": otp });
        if let Some(name) = name {
            body["name"] = json!(name);
        }
        self.call(Method::POST, "/api/auth/verify-otp", Some(body))
            .await
    }

    /// verify-otp for a device that names itself in the user's list of
    /// linked devices.
    pub async fn verify_otp_as(
        &self,
        phone_number: &str,
        country_code: &str,
        otp: &str,
        device: &DeviceLabel,
    ) -> Result<VerifyOtpResponse> {
        let mut body = json!(device);
        body["phone_number"] = json!(phone_number);
        body["country_code"] = json!(country_code);
        body["otp"] = json!(otp);
        self.call(Method::POST, "/api/auth/verify-otp", Some(body))
            .await
    }

    /// Signs this device in with a link code from a signed-in device (no
    /// token needed): a new login of that user.
    pub async fn link(&self, code: &str, device: &DeviceLabel) -> Result<VerifyOtpResponse> {
        let mut body = json!(device);
        body["code"] = json!(code);
        self.call(Method::POST, "/api/auth/link", Some(body)).await
    }

    /// Call on a client holding the refresh token.
    pub async fn refresh(&self) -> Result<TokenPair> {
        self.call(Method::POST, "/api/auth/refresh", None).await
    }

    pub async fn logout(&self) -> Result<Value> {
        self.call(Method::POST, "/api/auth/logout", None).await
    }

    // ---- users ----

    pub async fn profile(&self) -> Result<SelfUser> {
        self.call(Method::GET, "/api/user/profile", None).await
    }

    pub async fn update_profile(&self, changes: Value) -> Result<SelfUser> {
        self.call(Method::PUT, "/api/user/profile", Some(changes))
            .await
    }

    pub async fn update_privacy(&self, changes: Value) -> Result<SelfUser> {
        self.call(Method::PUT, "/api/user/privacy", Some(changes))
            .await
    }

    pub async fn user(&self, id: i64) -> Result<User> {
        self.call(Method::GET, &format!("/api/users/{id}"), None)
            .await
    }

    /// Sets the caller's profile photo; returns its signed URL.
    pub async fn upload_avatar(&self, file_name: &str, bytes: &[u8]) -> Result<String> {
        let (_, body): (u16, Value) = self
            .upload_with_status("/api/user/avatar", &[], (file_name, bytes))
            .await?;
        body["avatar_url"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| Error::Transport(format!("no avatar_url in {body}")))
    }

    pub async fn delete_account(&self) -> Result<Value> {
        self.call(Method::DELETE, "/api/user", None).await
    }

    // ---- contacts ----

    pub async fn contacts(&self, page: u64, limit: u64) -> Result<ContactList> {
        self.call(
            Method::GET,
            &format!("/api/contacts?page={page}&limit={limit}"),
            None,
        )
        .await
    }

    /// Returns the contact and the status (201 new, 200 existing).
    pub async fn add_contact(&self, body: Value) -> Result<(u16, Contact)> {
        self.call_with_status(Method::POST, "/api/contacts", Some(body))
            .await
    }

    pub async fn sync_contacts(
        &self,
        numbers: &[&str],
        country_code: Option<&str>,
    ) -> Result<ContactSync> {
        let mut body = json!({ "phone_numbers": numbers });
        if let Some(cc) = country_code {
            body["country_code"] = json!(cc);
        }
        self.call(Method::POST, "/api/contacts/sync", Some(body))
            .await
    }

    pub async fn toggle_block(&self, contact_id: i64) -> Result<BlockResult> {
        self.call(
            Method::PUT,
            &format!("/api/contacts/{contact_id}/block"),
            None,
        )
        .await
    }

    pub async fn delete_contact(&self, contact_id: i64) -> Result<Value> {
        self.call(Method::DELETE, &format!("/api/contacts/{contact_id}"), None)
            .await
    }

    // ---- devices ----

    /// Registers a push device: `body` is `{platform, token, ...}` (API.md,
    /// "Devices and push"). Returns the status (201 new to this account, 200
    /// already its own) and the device.
    pub async fn register_device(&self, body: Value) -> Result<(u16, Device)> {
        self.call_with_status(Method::POST, "/api/devices", Some(body))
            .await
    }

    pub async fn devices(&self) -> Result<Vec<Device>> {
        let list: DeviceList = self.call(Method::GET, "/api/devices", None).await?;
        Ok(list.devices)
    }

    pub async fn delete_device(&self, device_id: i64) -> Result<Value> {
        self.call(Method::DELETE, &format!("/api/devices/{device_id}"), None)
            .await
    }

    // ---- linked devices ----

    /// The caller's logins, most recently active first.
    pub async fn sessions(&self) -> Result<SessionList> {
        self.call(Method::GET, "/api/sessions", None).await
    }

    /// Signs one of the caller's logins out (the calling one too: logout).
    pub async fn delete_session(&self, session_id: i64) -> Result<Value> {
        self.call(Method::DELETE, &format!("/api/sessions/{session_id}"), None)
            .await
    }

    /// A code for a new device to sign in with ([`Client::link`]).
    pub async fn create_link_code(&self) -> Result<LinkCode> {
        self.call(Method::POST, "/api/sessions/link-codes", None)
            .await
    }

    // ---- chats ----

    pub async fn chats(&self, page: u64, limit: u64) -> Result<ChatList> {
        self.call(
            Method::GET,
            &format!("/api/chats?page={page}&limit={limit}"),
            None,
        )
        .await
    }

    /// Only the archived chats (`archived` true) or only the others, in list order.
    pub async fn chats_archived(&self, archived: bool, page: u64, limit: u64) -> Result<ChatList> {
        self.call(
            Method::GET,
            &format!("/api/chats?archived={archived}&page={page}&limit={limit}"),
            None,
        )
        .await
    }

    /// The private chat with `user_id`, and the status (201 created, 200 existed).
    pub async fn private_chat(&self, user_id: i64) -> Result<(u16, Chat)> {
        self.call_with_status(
            Method::POST,
            "/api/chats/private",
            Some(json!({ "contact_id": user_id })),
        )
        .await
    }

    pub async fn chat(&self, chat_id: i64) -> Result<Chat> {
        self.call(Method::GET, &format!("/api/chats/{chat_id}"), None)
            .await
    }

    pub async fn mark_read(&self, chat_id: i64, message_id: i64) -> Result<Value> {
        self.call(
            Method::PUT,
            &format!("/api/chats/{chat_id}/read"),
            Some(json!({ "message_id": message_id })),
        )
        .await
    }

    pub async fn mark_delivered(&self, chat_id: i64, message_id: i64) -> Result<Value> {
        self.call(
            Method::PUT,
            &format!("/api/chats/{chat_id}/delivered"),
            Some(json!({ "message_id": message_id })),
        )
        .await
    }

    pub async fn mute(&self, chat_id: i64, until: Option<&str>) -> Result<Chat> {
        self.call(
            Method::PUT,
            &format!("/api/chats/{chat_id}/mute"),
            Some(json!({ "until": until })),
        )
        .await
    }

    /// Pins the chat to the top of the list (at most 3; 422 for a 4th) or unpins it.
    pub async fn pin_chat(&self, chat_id: i64, pinned: bool) -> Result<Chat> {
        self.call(
            Method::PUT,
            &format!("/api/chats/{chat_id}/pin"),
            Some(json!({ "pinned": pinned })),
        )
        .await
    }

    /// Archives the chat (which unpins it) or unarchives it.
    pub async fn archive_chat(&self, chat_id: i64, archived: bool) -> Result<Chat> {
        self.call(
            Method::PUT,
            &format!("/api/chats/{chat_id}/archive"),
            Some(json!({ "archived": archived })),
        )
        .await
    }

    /// Sets the chat's disappearing-messages timer in seconds (0 turns it off;
    /// 86400, 604800 or 7776000). Any member of a private chat, admins of a group.
    pub async fn set_disappearing(&self, chat_id: i64, seconds: i64) -> Result<Chat> {
        self.call(
            Method::PUT,
            &format!("/api/chats/{chat_id}/disappearing"),
            Some(json!({ "seconds": seconds })),
        )
        .await
    }

    // ---- messages ----

    /// Sends a text message.
    pub async fn send_text(&self, chat_id: i64, text: &str) -> Result<Message> {
        self.send_message(chat_id, json!({ "message_type": "text", "content": text }))
            .await
            .map(|(_, m)| m)
    }

    /// Sends any message body; returns the status (201 new, 200 a retried send).
    pub async fn send_message(&self, chat_id: i64, body: Value) -> Result<(u16, Message)> {
        let (status, envelope): (u16, MessageEnvelope) = self
            .call_with_status(
                Method::POST,
                &format!("/api/chats/{chat_id}/messages"),
                Some(body),
            )
            .await?;
        Ok((status, envelope.message))
    }

    /// Sends a media message (`message_type` image, video, audio or document)
    /// as multipart: `fields` besides the type (`content`, `client_message_id`,
    /// `reply_to_message_id`), then the file. Returns the status (201 new, 200 a
    /// retried send).
    pub async fn send_media(
        &self,
        chat_id: i64,
        message_type: &str,
        fields: &[(&str, &str)],
        file_name: &str,
        bytes: &[u8],
    ) -> Result<(u16, Message)> {
        let mut all = vec![("message_type", message_type)];
        all.extend_from_slice(fields);
        let (status, envelope): (u16, MessageEnvelope) = self
            .upload_with_status(
                &format!("/api/chats/{chat_id}/messages"),
                &all,
                (file_name, bytes),
            )
            .await?;
        Ok((status, envelope.message))
    }

    pub async fn history(&self, chat_id: i64, limit: u64, before: Option<i64>) -> Result<History> {
        let mut path = format!("/api/chats/{chat_id}/messages?limit={limit}");
        if let Some(before) = before {
            path.push_str(&format!("&before_message_id={before}"));
        }
        self.call(Method::GET, &path, None).await
    }

    pub async fn edit_message(&self, message_id: i64, content: &str) -> Result<Message> {
        let envelope: MessageEnvelope = self
            .call(
                Method::PUT,
                &format!("/api/messages/{message_id}"),
                Some(json!({ "content": content })),
            )
            .await?;
        Ok(envelope.message)
    }

    pub async fn delete_message(&self, message_id: i64) -> Result<Value> {
        self.call(Method::DELETE, &format!("/api/messages/{message_id}"), None)
            .await
    }

    pub async fn react(&self, message_id: i64, emoji: &str) -> Result<Value> {
        self.call(
            Method::POST,
            &format!("/api/messages/{message_id}/reactions"),
            Some(json!({ "emoji": emoji })),
        )
        .await
    }

    pub async fn unreact(&self, message_id: i64) -> Result<Value> {
        self.call(
            Method::DELETE,
            &format!("/api/messages/{message_id}/reactions"),
            None,
        )
        .await
    }

    pub async fn forward(&self, message_id: i64, chat_ids: &[i64]) -> Result<Vec<Message>> {
        let envelope: MessagesEnvelope = self
            .call(
                Method::POST,
                &format!("/api/messages/{message_id}/forward"),
                Some(json!({ "chat_ids": chat_ids })),
            )
            .await?;
        Ok(envelope.messages)
    }

    /// Opens a view-once message's file: its `media` (with a signed URL) the
    /// first time; 410 after.
    pub async fn view_once(&self, message_id: i64) -> Result<Value> {
        let path = format!("/api/messages/{message_id}/view");
        let body: Value = self.call(Method::POST, &path, None).await?;
        Ok(body.get("media").cloned().unwrap_or(Value::Null))
    }

    /// Stars a message for the caller; the status is 201 when starred now,
    /// 200 when it already was.
    pub async fn star(&self, message_id: i64) -> Result<(u16, Message)> {
        let (status, envelope): (u16, MessageEnvelope) = self
            .call_with_status(
                Method::POST,
                &format!("/api/messages/{message_id}/star"),
                None,
            )
            .await?;
        Ok((status, envelope.message))
    }

    /// Unstars a message for the caller.
    pub async fn unstar(&self, message_id: i64) -> Result<Message> {
        let envelope: MessageEnvelope = self
            .call(
                Method::DELETE,
                &format!("/api/messages/{message_id}/star"),
                None,
            )
            .await?;
        Ok(envelope.message)
    }

    /// The caller's starred messages, newest star first; `before` is the
    /// `next_before` of the page before.
    pub async fn starred(&self, limit: u64, before: Option<i64>) -> Result<StarredList> {
        let mut path = format!("/api/starred?limit={limit}");
        if let Some(before) = before {
            path.push_str(&format!("&before={before}"));
        }
        self.call(Method::GET, &path, None).await
    }

    /// Pins a message in its chat; the chat's pins after it.
    pub async fn pin(&self, chat_id: i64, message_id: i64) -> Result<Vec<PinnedMessage>> {
        let list: PinList = self
            .call(
                Method::PUT,
                &format!("/api/chats/{chat_id}/pins/{message_id}"),
                None,
            )
            .await?;
        Ok(list.pinned_messages)
    }

    /// Unpins a message; the chat's pins after it.
    pub async fn unpin(&self, chat_id: i64, message_id: i64) -> Result<Vec<PinnedMessage>> {
        let list: PinList = self
            .call(
                Method::DELETE,
                &format!("/api/chats/{chat_id}/pins/{message_id}"),
                None,
            )
            .await?;
        Ok(list.pinned_messages)
    }

    pub async fn receipts(&self, message_id: i64) -> Result<ReceiptList> {
        self.call(
            Method::GET,
            &format!("/api/messages/{message_id}/receipts"),
            None,
        )
        .await
    }

    // ---- search ----

    /// `GET /api/search`: the caller's messages matching `q`, best first;
    /// `before` is the previous page's `pagination.next_before`.
    pub async fn search(&self, q: &str, limit: u64, before: Option<&str>) -> Result<SearchPage> {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("q", q)
            .append_pair("limit", &limit.to_string());
        if let Some(before) = before {
            query.append_pair("before", before);
        }
        let path = format!("/api/search?{}", query.finish());
        self.call(Method::GET, &path, None).await
    }

    // ---- mentions ----

    /// Sends a text message to a group that mentions `user_ids` (the text
    /// should show them as `@Name`).
    pub async fn send_mention(
        &self,
        chat_id: i64,
        text: &str,
        user_ids: &[i64],
    ) -> Result<Message> {
        let body = json!({ "message_type": "text", "content": text, "mentions": user_ids });
        self.send_message(chat_id, body).await.map(|(_, m)| m)
    }

    // ---- broadcast lists ----

    pub async fn create_broadcast_list(
        &self,
        name: &str,
        user_ids: &[i64],
    ) -> Result<BroadcastList> {
        let envelope: BroadcastListEnvelope = self
            .call(
                Method::POST,
                "/api/broadcast-lists",
                Some(json!({ "name": name, "user_ids": user_ids })),
            )
            .await?;
        Ok(envelope.broadcast_list)
    }

    pub async fn broadcast_lists(&self) -> Result<Vec<BroadcastList>> {
        let envelope: BroadcastListsEnvelope =
            self.call(Method::GET, "/api/broadcast-lists", None).await?;
        Ok(envelope.broadcast_lists)
    }

    pub async fn broadcast_list(&self, list_id: i64) -> Result<BroadcastList> {
        let path = format!("/api/broadcast-lists/{list_id}");
        let envelope: BroadcastListEnvelope = self.call(Method::GET, &path, None).await?;
        Ok(envelope.broadcast_list)
    }

    /// Renames a list and/or replaces its recipients (`{"name", "user_ids"}`).
    pub async fn update_broadcast_list(
        &self,
        list_id: i64,
        changes: Value,
    ) -> Result<BroadcastList> {
        let path = format!("/api/broadcast-lists/{list_id}");
        let envelope: BroadcastListEnvelope =
            self.call(Method::PATCH, &path, Some(changes)).await?;
        Ok(envelope.broadcast_list)
    }

    pub async fn delete_broadcast_list(&self, list_id: i64) -> Result<Value> {
        let path = format!("/api/broadcast-lists/{list_id}");
        self.call(Method::DELETE, &path, None).await
    }

    /// Sends a message body to every recipient of a list; returns the
    /// private messages created (each with its `chat_id`).
    pub async fn broadcast(&self, list_id: i64, body: Value) -> Result<Vec<Message>> {
        let path = format!("/api/broadcast-lists/{list_id}/messages");
        let envelope: MessagesEnvelope = self.call(Method::POST, &path, Some(body)).await?;
        Ok(envelope.messages)
    }

    // ---- groups ----

    pub async fn create_group(&self, name: &str, participants: &[i64]) -> Result<Chat> {
        self.call(
            Method::POST,
            "/api/groups",
            Some(json!({ "name": name, "participants": participants })),
        )
        .await
    }

    pub async fn group(&self, group_id: i64) -> Result<Chat> {
        self.call(Method::GET, &format!("/api/groups/{group_id}"), None)
            .await
    }

    /// Sets a group's photo (admins only).
    pub async fn upload_group_avatar(
        &self,
        group_id: i64,
        file_name: &str,
        bytes: &[u8],
    ) -> Result<Chat> {
        self.upload_with_status(
            &format!("/api/groups/{group_id}/avatar"),
            &[],
            (file_name, bytes),
        )
        .await
        .map(|(_, chat)| chat)
    }

    pub async fn update_group(&self, group_id: i64, changes: Value) -> Result<Chat> {
        self.call(
            Method::PUT,
            &format!("/api/groups/{group_id}"),
            Some(changes),
        )
        .await
    }

    pub async fn add_members(&self, group_id: i64, user_ids: &[i64]) -> Result<Chat> {
        self.call(
            Method::POST,
            &format!("/api/groups/{group_id}/members"),
            Some(json!({ "user_ids": user_ids })),
        )
        .await
    }

    pub async fn remove_member(&self, group_id: i64, user_id: i64) -> Result<Chat> {
        self.call(
            Method::DELETE,
            &format!("/api/groups/{group_id}/members/{user_id}"),
            None,
        )
        .await
    }

    pub async fn set_role(&self, group_id: i64, user_id: i64, role: &str) -> Result<Chat> {
        self.call(
            Method::PUT,
            &format!("/api/groups/{group_id}/members/{user_id}/role"),
            Some(json!({ "role": role })),
        )
        .await
    }

    pub async fn leave_group(&self, group_id: i64) -> Result<Value> {
        self.call(Method::POST, &format!("/api/groups/{group_id}/leave"), None)
            .await
    }

    /// Returns (code, url).
    pub async fn invite_link(&self, group_id: i64) -> Result<(String, String)> {
        let link: Value = self
            .call(
                Method::POST,
                &format!("/api/groups/{group_id}/invite-link"),
                None,
            )
            .await?;
        Ok((
            link["code"].as_str().unwrap_or_default().to_string(),
            link["url"].as_str().unwrap_or_default().to_string(),
        ))
    }

    pub async fn join_group(&self, code: &str) -> Result<Chat> {
        self.call(Method::POST, &format!("/api/groups/join/{code}"), None)
            .await
    }

    // ---- sync ----

    pub async fn sync(&self, since: i64, limit: u64) -> Result<SyncPage> {
        self.call(
            Method::GET,
            &format!("/api/sync?since={since}&limit={limit}"),
            None,
        )
        .await
    }

    /// Pages through the log from `since` to its end.
    pub async fn sync_all(&self, since: i64) -> Result<Vec<SyncEvent>> {
        let mut since = since;
        let mut events = Vec::new();
        loop {
            let page = self.sync(since, 500).await?;
            since = page.next_since;
            events.extend(page.events);
            if !page.has_more {
                return Ok(events);
            }
        }
    }

    // ---- statuses ----

    /// The caller's and their mutual contacts' live statuses, by person.
    pub async fn statuses(&self) -> Result<StatusFeed> {
        self.call(Method::GET, "/api/status", None).await
    }

    /// Posts a text status.
    pub async fn post_text_status(&self, text: &str, background: Option<&str>) -> Result<Status> {
        let body = json!({ "type": "text", "content": text, "background_color": background });
        self.call(Method::POST, "/api/status", Some(body)).await
    }

    /// Posts an image or video status (`status_type` "image" or "video") as
    /// multipart/form-data, with an optional caption.
    pub async fn post_media_status(
        &self,
        status_type: &str,
        caption: Option<&str>,
        file_name: &str,
        bytes: Vec<u8>,
    ) -> Result<Status> {
        let mut fields = vec![("type", status_type)];
        if let Some(caption) = caption {
            fields.push(("content", caption));
        }
        let (_, status) = self
            .upload_with_status("/api/status", &fields, (file_name, &bytes))
            .await?;
        Ok(status)
    }

    pub async fn view_status(&self, status_id: i64) -> Result<Value> {
        let path = format!("/api/status/{status_id}/view");
        self.call(Method::POST, &path, None).await
    }

    pub async fn status_views(&self, status_id: i64) -> Result<StatusViewList> {
        let path = format!("/api/status/{status_id}/views");
        self.call(Method::GET, &path, None).await
    }

    pub async fn delete_status(&self, status_id: i64) -> Result<Value> {
        let path = format!("/api/status/{status_id}");
        self.call(Method::DELETE, &path, None).await
    }

    // ---- calls ----

    /// Calls one person (`"voice"` or `"video"`).
    pub async fn call_user(&self, callee_id: i64, call_type: &str) -> Result<Call> {
        let body = json!({ "callee_id": callee_id, "type": call_type });
        self.call(Method::POST, "/api/calls", Some(body)).await
    }

    /// Calls everyone in a chat.
    pub async fn call_chat(&self, chat_id: i64, call_type: &str) -> Result<Call> {
        let body = json!({ "chat_id": chat_id, "type": call_type });
        self.call(Method::POST, "/api/calls", Some(body)).await
    }

    pub async fn calls(&self, page: u64, limit: u64) -> Result<CallList> {
        let path = format!("/api/calls?page={page}&limit={limit}");
        self.call(Method::GET, &path, None).await
    }

    /// `action` is "answer", "decline" or "end".
    pub async fn call_action(&self, call_id: i64, action: &str) -> Result<Call> {
        let path = format!("/api/calls/{call_id}/{action}");
        self.call(Method::PUT, &path, None).await
    }

    /// Relays WebRTC signalling (`"offer"`, `"answer"`, `"ice-candidate"`) to a participant.
    pub async fn signal(
        &self,
        call_id: i64,
        to_user_id: i64,
        signal_type: &str,
        payload: Value,
    ) -> Result<Value> {
        let path = format!("/api/calls/{call_id}/signal");
        let body = json!({ "to_user_id": to_user_id, "type": signal_type, "payload": payload });
        self.call(Method::POST, &path, Some(body)).await
    }

    pub async fn turn_credentials(&self) -> Result<TurnCredentials> {
        self.call(Method::GET, "/api/calls/turn-credentials", None)
            .await
    }

    /// Any JSON answer, typed by the caller; for routes without a helper.
    pub async fn json<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<B>,
    ) -> Result<T> {
        let body = body
            .map(|b| serde_json::to_value(b).map_err(|e| Error::Transport(e.to_string())))
            .transpose()?;
        self.call(method, path, body).await
    }

    /// Like [`Client::json`], also returning the status.
    pub async fn json_with_status<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, T)> {
        self.call_with_status(method, path, body).await
    }
}

/// A successful answer's body as `T`; anything else as [`Error::Api`].
fn typed<T: DeserializeOwned>(raw: Raw) -> Result<(u16, T)> {
    if !(200..300).contains(&raw.status) {
        return Err(Error::Api {
            status: raw.status,
            body: raw.body,
            retry_after: raw.retry_after,
        });
    }
    let parsed = serde_json::from_value(raw.body.clone())
        .map_err(|e| Error::Transport(format!("unexpected body ({e}): {}", raw.body)))?;
    Ok((raw.status, parsed))
}

/// A `multipart/form-data` body and its content type. The boundary is random,
/// so no file can contain it by chance.
pub fn multipart_body(fields: &[(&str, &str)], file: Option<(&str, &[u8])>) -> (String, Vec<u8>) {
    let boundary = format!("natter-{:032x}", rand_u128());
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(value.as_bytes());
        body.extend_from_slice(b"\r\n");
    }
    if let Some((file_name, bytes)) = file {
        let file_name = file_name.replace(['"', '\r', '\n'], "_");
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn rand_u128() -> u128 {
    let state = RandomState::new();
    let mut high = state.build_hasher();
    high.write_u64(1);
    let mut low = state.build_hasher();
    low.write_u64(2);
    (u128::from(high.finish()) << 64) | u128::from(low.finish())
}

pub fn is_success(status: u16) -> bool {
    StatusCode::from_u16(status).is_ok_and(|s| s.is_success())
}
