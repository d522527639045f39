//! The operator's commands: `natter users`, `natter sessions`, `natter stats`.
//! Each runs the service the API runs (account deletion, sign-out, the same
//! socket closing as logout) on an [`AppState`] of its own, and returns the
//! lines to print, so tests check the text a person reads.
//!
//! The command is not a node: it serves no socket. What it ends on the
//! server's sockets goes over the bus the nodes share, so with REDIS_URL every
//! node closes them at once. Without Redis (embedded mode) the server's bus is
//! in its own process and the command cannot reach it: the tokens stop working
//! within CACHE_TTL and a socket already open stays until it disconnects
//! (docs/operations.md).

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::auth;
use crate::background::TaskGroup;
use crate::clock::{format_ms, now_ms};
use crate::config::{Config, SessionsAction, Settings, UsersAction};
use crate::db::entities::user;
use crate::error::ApiError;
use crate::ops::nodes::{self, STALE_AFTER};
use crate::phone;
use crate::state::AppState;
use crate::{membership, messages, users};

/// The services an admin command needs, and the tasks to stop after it.
pub struct Admin {
    pub state: AppState,
    fanout: TaskGroup,
}

impl Admin {
    /// Connects as the server does (database, Redis when configured); runs
    /// pending migrations, as `natter serve` would.
    pub async fn connect(settings: Settings) -> anyhow::Result<Admin> {
        let config = Config::resolve(settings)?;
        let fanout = TaskGroup::new();
        let state = AppState::build(config, CancellationToken::new(), &fanout).await?;
        Ok(Admin { state, fanout })
    }

    /// Sends what is queued for the other nodes (the Redis publisher drains
    /// before it stops), then closes the database (no checkpoint: the server
    /// runs on beside it).
    pub async fn finish(self) {
        self.fanout.stop().await;
        self.state.db.disconnect().await;
    }
}

/// `natter users ACTION`.
pub async fn users(state: &AppState, action: &UsersAction) -> anyhow::Result<Vec<String>> {
    match action {
        UsersAction::List { limit } => list(state, *limit).await,
        UsersAction::Show { user } => show(state, user).await,
        UsersAction::Ban { id } => {
            auth::service::ban(state, *id).await.map_err(plain)?;
            Ok(vec![format!(
                "user {id} banned; every login ended and their sockets closed"
            )])
        }
        UsersAction::Unban { id } => {
            auth::service::unban(state, *id).await.map_err(plain)?;
            Ok(vec![format!("user {id} may sign in again")])
        }
        UsersAction::Delete { id } => {
            // The API's deletion refuses nobody; here a wrong id is an error.
            users::service::require_active(state, *id)
                .await
                .map_err(plain)?;
            auth::service::delete_account(state, *id)
                .await
                .map_err(plain)?;
            Ok(vec![format!("user {id} deleted")])
        }
    }
}

/// `natter sessions ACTION`.
pub async fn sessions(state: &AppState, action: &SessionsAction) -> anyhow::Result<Vec<String>> {
    match action {
        SessionsAction::Revoke { user } => {
            users::service::require_active(state, *user)
                .await
                .map_err(plain)?;
            auth::service::sign_out_everywhere(state, *user, "revoked_by_admin")
                .await
                .map_err(plain)?;
            Ok(vec![format!(
                "every session of user {user} revoked and their sockets closed"
            )])
        }
    }
}

/// `natter stats`: counts, then one line per node that reported its sockets.
pub async fn stats(state: &AppState) -> anyhow::Result<Vec<String>> {
    let users = users::service::count_active(state).await.map_err(plain)?;
    let chats = membership::count_chats(state).await.map_err(plain)?;
    let messages = messages::service::count(state).await.map_err(plain)?;
    let nodes = nodes::all(state)
        .await
        .context("cannot read node_sockets (has `natter migrate` run?)")?;
    let mut lines = vec![
        format!("users     {users}"),
        format!("chats     {chats}"),
        format!("messages  {messages}"),
    ];
    if nodes.is_empty() {
        lines.push("sockets   no node is running".to_string());
        return Ok(lines);
    }
    let now = now_ms();
    let stale_ms = STALE_AFTER.as_millis() as i64;
    let live: i64 = nodes
        .iter()
        .filter(|n| now - n.updated_at <= stale_ms)
        .map(|n| n.sockets)
        .sum();
    lines.push(format!("sockets   {live}"));
    lines.push(format!("{:<40} {:>8}  {}", "NODE", "SOCKETS", "REPORTED"));
    for node in nodes {
        let age = (now - node.updated_at).max(0) / 1000;
        let note = if now - node.updated_at > stale_ms {
            " (stale: not counted)"
        } else {
            ""
        };
        lines.push(format!(
            "{:<40} {:>8}  {age}s ago{note}",
            node.node_id, node.sockets
        ));
    }
    Ok(lines)
}

async fn list(state: &AppState, limit: u64) -> anyhow::Result<Vec<String>> {
    let rows = users::service::list_newest(state, limit)
        .await
        .map_err(plain)?;
    if rows.is_empty() {
        return Ok(vec!["no users".to_string()]);
    }
    let mut lines = vec![format!(
        "{:>10}  {:<16}  {:<24}  {:<24}  {}",
        "ID", "PHONE", "NAME", "CREATED", "BANNED"
    )];
    for user in rows {
        lines.push(format!(
            "{:>10}  {:<16}  {:<24}  {:<24}  {}",
            user.id,
            user.phone_number.as_deref().unwrap_or("-"),
            cut(&user.name, 24),
            time(user.created_at),
            user.banned_at.map(time).unwrap_or_else(|| "-".to_string())
        ));
    }
    Ok(lines)
}

/// One account, found by id or (starting with `+`) by phone number.
async fn show(state: &AppState, which: &str) -> anyhow::Result<Vec<String>> {
    let found = if which.starts_with('+') {
        let e164 = phone::to_e164(which, None)
            .map_err(|_| anyhow::anyhow!("{which} is not a phone number in E.164 form"))?;
        users::service::find_by_phone(state, &e164)
            .await
            .map_err(plain)?
    } else {
        let id: i64 = which
            .parse()
            .map_err(|_| anyhow::anyhow!("{which} is neither a user id nor a +phone number"))?;
        users::service::find_any(state, id).await.map_err(plain)?
    };
    let user = found.ok_or_else(|| anyhow::anyhow!("no user {which}"))?;
    Ok(describe(&user))
}

fn describe(user: &user::Model) -> Vec<String> {
    let optional = |v: Option<i64>| v.map(time).unwrap_or_else(|| "-".to_string());
    vec![
        format!("id:        {}", user.id),
        format!("phone:     {}", user.phone_number.as_deref().unwrap_or("-")),
        format!("name:      {}", user.name),
        format!("about:     {}", user.about.as_deref().unwrap_or("")),
        format!("created:   {}", time(user.created_at)),
        format!("last seen: {}", optional(user.last_seen_at)),
        format!("online:    {}", if user.is_online { "yes" } else { "no" }),
        format!("banned:    {}", optional(user.banned_at)),
        format!("deleted:   {}", optional(user.deleted_at)),
    ]
}

/// An API error as the operator should read it: its message, not a 404 body.
fn plain(err: ApiError) -> anyhow::Error {
    match err {
        ApiError::NotFound(what) => anyhow::anyhow!("{}", what.to_lowercase()),
        other => anyhow::Error::new(other),
    }
}

fn time(ms: i64) -> String {
    format_ms(ms)
}

fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}
