//! What a workload needs from a messaging server, whichever it is. natter,
//! ejabberd and Synapse each implement it over their own protocol.

use std::sync::Arc;

use anyhow::Result;

use crate::recorder::Recorder;

/// A user of the server under test, signed in.
#[derive(Debug, Clone)]
pub struct User {
    /// The server's id for the user (natter's number, a JID, a Matrix user id).
    pub id: String,
    /// What authenticates the user's requests (token, password).
    pub secret: String,
    /// Index in creation order (natter picks a node by it, with several).
    pub index: usize,
}

/// A conversation: a private chat, a MUC room, a Matrix room.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: String,
    pub members: Vec<User>,
}

/// A live connection receiving a user's messages; dropping it disconnects.
pub struct Listener {
    pub task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A position from which a user catches up on what they missed.
#[derive(Debug, Clone, Default)]
pub struct Cursor(pub String);

#[async_trait::async_trait]
pub trait Server: Send + Sync {
    fn name(&self) -> String;
    /// The server's process id, for its memory.
    fn pid(&self) -> Option<u32>;
    /// natter's base URL (for W5, its Pusher HTTP API); None for the peers.
    fn base_url(&self) -> Option<String> {
        None
    }
    /// `n` new users, signed in.
    async fn users(&self, n: usize) -> Result<Vec<User>>;
    /// A one-to-one conversation.
    async fn direct(&self, a: &User, b: &User) -> Result<Conversation>;
    /// A group of these members; the first one creates it.
    async fn group(&self, members: &[User]) -> Result<Conversation>;
    /// Connects `user` and records every message body that arrives for them.
    /// `local` is the source address to connect from (to spread many sockets).
    async fn listen(
        &self,
        user: &User,
        recorder: Arc<Recorder>,
        local: Option<std::net::IpAddr>,
    ) -> Result<Listener>;
    /// Like [`Server::listen`], but for `conversation`'s messages on the
    /// conversation's own channel where the server has one (natter's
    /// `private-chat.{id}`). The peers deliver a room's messages on the user's
    /// one connection, so for them it is [`Server::listen`].
    async fn listen_in(
        &self,
        user: &User,
        _conversation: &Conversation,
        recorder: Arc<Recorder>,
        local: Option<std::net::IpAddr>,
    ) -> Result<Listener> {
        self.listen(user, recorder, local).await
    }
    /// Sends a text message and waits for the server's acknowledgement.
    async fn send(&self, from: &User, to: &Conversation, body: &str) -> Result<()>;
    /// Where `user` stands now, to catch up from later.
    async fn cursor(&self, user: &User) -> Result<Cursor>;
    /// Fetches everything `user` missed since `cursor`; returns how many messages.
    async fn catch_up(&self, user: &User, cursor: &Cursor) -> Result<usize>;
}
