//! What real time asks the application. realtime/ knows sockets, channels and
//! presence counts, not chats or users: whether someone may join a channel or
//! whisper in a chat, who they are on a presence channel, and what follows
//! from someone coming online are the application's answers, given through
//! this trait. The server implements it (server/policy.rs) and hands it to
//! the sockets ([`Sockets`](super::Sockets)); [`Realtime`](super::Realtime)
//! itself never holds it, so the application's state can hold real time
//! without a cycle.

use async_trait::async_trait;
use serde::Serialize;

use super::channels::Channel;
use crate::error::ApiResult;

#[async_trait]
pub trait Policy: Send + Sync {
    /// Whether `user` may subscribe to `channel` now (checked when
    /// `/broadcasting/auth` signs it and again when a socket presents it).
    async fn may_join(&self, user: i64, channel: &Channel) -> bool;

    /// Whether `user` may whisper (client events, such as typing) on a chat's
    /// channels now.
    async fn may_whisper(&self, user: i64, chat: i64) -> bool;

    /// Who `user` is to the other members of a presence channel.
    async fn user_info(&self, user: i64) -> ApiResult<UserInfo>;

    /// `user`'s first socket anywhere connected (`online`), or their last one
    /// closed, possibly on a node that died.
    async fn presence_changed(&self, user: i64, online: bool) -> ApiResult<()>;

    /// Marks every user offline (a lone node starting: nobody can be
    /// connected yet, whatever a crash left recorded).
    async fn reset_presence(&self) -> ApiResult<()>;
}

/// A user as presence channels show them.
#[derive(Debug, Clone, Serialize)]
pub struct UserInfo {
    pub name: String,
    pub avatar_url: Option<String>,
}
