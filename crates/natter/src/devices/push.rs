//! Pushes as jobs: who gets one, enqueued in the transaction of the change
//! that causes it, and the handler that sends one per device (docs/push.md).
//!
//! - A message: [`enqueue_message_pushes`], called by the writer inside the
//!   batch's transaction, for every recipient who has a device, has not
//!   muted the chat (or is mentioned: a mention rings through a mute) and has
//!   no socket open on any node. One job per recipient and chat
//!   (`push.message`), collapsed while it waits.
//! - Anything else (a ringing call): [`enqueue_push`].
//!
//! The handler ([`PushHandler`]) reads the current state when it runs (the
//! user may have muted the chat, left it, or come online since), sends through
//! the configured driver, removes devices whose token is dead, and records on
//! each device the job that reached it, so a retried run skips the devices
//! already reached.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sea_orm::{ConnectionTrait, DbErr};
use serde::{Deserialize, Serialize};

use super::store;
use crate::clock::now_ms;
use crate::db::entities::device;
use crate::jobs::{self, Handler, Job, JobError, NewJob};
use crate::membership;
use crate::push::{Notification, Platform, Push, PushError, PushEvent, Target};
use crate::realtime::presence::Presence;
use crate::state::AppState;
use crate::telemetry::PUSH_JOBS;
use crate::users;

/// The job kind of a message push.
pub const MESSAGE_KIND: &str = "push.message";
/// The job kind of a call push.
pub const CALL_KIND: &str = "push.call";

/// A call push is worth retrying only while the call may still ring.
const CALL_MAX_ATTEMPTS: u32 = 3;

/// What a push is about, as a job carries it: ids only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PushPayload {
    /// A new message in a chat (`sent_at` in Unix milliseconds).
    Message {
        chat_id: i64,
        message_id: i64,
        sender_id: i64,
        sent_at: i64,
        /// The recipient is mentioned: pushed even if they muted the chat.
        #[serde(default)]
        mention: bool,
    },
    /// A call ringing (`started_at` in Unix milliseconds).
    Call {
        call_id: i64,
        chat_id: i64,
        caller_id: i64,
        started_at: i64,
    },
}

impl PushPayload {
    fn kind(&self) -> &'static str {
        match self {
            PushPayload::Message { .. } => MESSAGE_KIND,
            PushPayload::Call { .. } => CALL_KIND,
        }
    }

    fn type_label(&self) -> &'static str {
        match self {
            PushPayload::Message { .. } => "message",
            PushPayload::Call { .. } => "call",
        }
    }

    /// Message pushes collapse per recipient and chat while queued, mentions
    /// apart (collapsing into a plain push would lose `mention`, and a muted
    /// chat's mention would then be dropped); a call's push is enqueued once
    /// per callee however often it is asked for.
    fn unique_key(&self, user_id: i64) -> String {
        match self {
            PushPayload::Message {
                chat_id,
                mention: true,
                ..
            } => format!("push:msg:{user_id}:{chat_id}:m"),
            PushPayload::Message { chat_id, .. } => format!("push:msg:{user_id}:{chat_id}"),
            PushPayload::Call { call_id, .. } => format!("push:call:{call_id}:{user_id}"),
        }
    }

    fn sender_id(&self) -> i64 {
        match *self {
            PushPayload::Message { sender_id, .. } => sender_id,
            PushPayload::Call { caller_id, .. } => caller_id,
        }
    }

    fn is_mention(&self) -> bool {
        matches!(self, PushPayload::Message { mention: true, .. })
    }

    /// The notification for one device. `sender_name` is there only when the
    /// device opted in to content, and so is saying it is a mention.
    fn notification(&self, sender_name: Option<String>) -> Notification {
        let (event, chat_id, sent_at) = match *self {
            PushPayload::Message {
                chat_id,
                message_id,
                sent_at,
                ..
            } => (PushEvent::Message { message_id }, chat_id, sent_at),
            PushPayload::Call {
                call_id,
                chat_id,
                started_at,
                ..
            } => (PushEvent::Call { call_id }, chat_id, started_at),
        };
        Notification {
            event,
            chat_id,
            sent_at,
            mention: self.is_mention() && sender_name.is_some(),
            sender_name,
        }
    }

    fn job(self, user_id: i64) -> NewJob {
        let payload = PushJob {
            user_id,
            payload: self,
        };
        let job = NewJob::new(
            self.kind(),
            serde_json::to_value(payload).unwrap_or_default(),
        )
        .unique_key(self.unique_key(user_id));
        match self {
            PushPayload::Message { .. } => job,
            PushPayload::Call { .. } => job.max_attempts(CALL_MAX_ATTEMPTS),
        }
    }
}

/// A push job's payload.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct PushJob {
    user_id: i64,
    #[serde(flatten)]
    payload: PushPayload,
}

/// Enqueues the same push to each of `users` on `conn`, the transaction of the
/// change it is about: the jobs exist if and only if that change commits. One
/// query finds who has a device and one statement queues their jobs, whatever
/// the number of users (a group call rings up to GROUP_MAX_MEMBERS). Wake
/// `state.jobs` after the commit, or they wait up to JOB_POLL_INTERVAL.
/// Returns how many jobs were queued.
///
/// Who should get it (not the caller, not a user with a socket open) is the
/// caller's decision; the handler sends calls to every device.
pub async fn enqueue_push(
    conn: &impl ConnectionTrait,
    users: &[i64],
    payload: PushPayload,
) -> Result<u64, DbErr> {
    let with_devices = store::users_with_devices(conn, users).await?;
    let jobs: Vec<NewJob> = with_devices
        .into_iter()
        .map(|user| payload.job(user))
        .collect();
    let queued = jobs::enqueue_many(conn, jobs).await?;
    count(payload.type_label(), "queued", queued);
    Ok(queued)
}

/// A message the writer stored, and who may hear of it (the sender among them).
#[derive(Debug, Clone)]
pub struct SentMessage {
    pub chat_id: i64,
    pub message_id: i64,
    pub sender_id: i64,
    pub sent_at: i64,
    pub members: Vec<i64>,
    /// The members it mentions (a group message).
    pub mentioned: Vec<i64>,
}

/// Who was found connected before the writer's transaction began, among the
/// users it asked about: a hint, so that the transaction itself need not wait
/// on Redis. Someone who connects or leaves meanwhile costs one push too many
/// or one push fewer, as a lookup inside the transaction could as well (the
/// socket may open the moment after it); the push job checks again when it runs.
#[derive(Debug, Default)]
pub struct OnlineHint {
    pub asked: HashSet<i64>,
    pub online: HashSet<i64>,
}

impl OnlineHint {
    /// Asks presence about `users` (outside any transaction). If presence does
    /// not answer, nobody counts as asked, so the batch asks again itself.
    pub async fn lookup(presence: &Presence, users: Vec<i64>) -> OnlineHint {
        match presence.online_among(&users).await {
            Ok(online) => OnlineHint {
                asked: users.into_iter().collect(),
                online,
            },
            Err(_) => OnlineHint::default(),
        }
    }
}

/// What [`enqueue_message_pushes`] did: the jobs it queued, and which of the
/// recipients not found connected beforehand have a device (for the next
/// batch's [`OnlineHint`]).
#[derive(Debug, Default)]
pub struct QueuedPushes {
    pub queued: u64,
    pub with_devices: Vec<i64>,
}

impl QueuedPushes {
    /// Counts the jobs in `natter_push_jobs_total`, once the transaction that
    /// queued them has committed: a batch that fails at its commit (on
    /// PostgreSQL its messages' keys are checked there) queued none.
    pub fn count_committed(&self) {
        count("message", "queued", self.queued);
    }
}

/// Enqueues the pushes of a batch of messages on the batch's transaction:
/// one per recipient and chat, for recipients with a device, who have not
/// muted the chat (or are mentioned in the message, which is pushed through a
/// mute, as WhatsApp does) and have no socket open anywhere. One query for
/// devices, then (only for those who have one) one for mutes, whatever the
/// batch's size; none at all when `hint` found every recipient connected
/// (a conversation whose people are all online); presence is asked only
/// about those `hint` did not cover.
pub async fn enqueue_message_pushes(
    conn: &impl ConnectionTrait,
    presence: &Presence,
    hint: &OnlineHint,
    sent: &[SentMessage],
) -> Result<QueuedPushes, DbErr> {
    let recipients: Vec<i64> = sent
        .iter()
        .flat_map(|m| m.members.iter().copied().filter(|u| *u != m.sender_id))
        .filter(|u| !hint.online.contains(u))
        .collect::<HashSet<i64>>()
        .into_iter()
        .collect();
    if recipients.is_empty() {
        return Ok(QueuedPushes::default());
    }
    let with_devices = store::users_with_devices(conn, &recipients).await?;
    if with_devices.is_empty() {
        return Ok(QueuedPushes::default());
    }
    let chats: Vec<i64> = sent.iter().map(|m| m.chat_id).collect();
    let muted = membership::muted_among(conn, &chats, &with_devices, now_ms()).await?;
    let online = online_among(presence, hint, &with_devices).await;
    let reachable: HashSet<i64> = with_devices
        .iter()
        .copied()
        .filter(|u| !online.contains(u))
        .collect();
    // The first message of the batch per (user, chat): later ones collapse
    // into it, unless a later one mentions the user and the first does not.
    let mut wanted: HashMap<(i64, i64), PushPayload> = HashMap::new();
    for message in sent {
        // This runs in the writer's transaction, over every member: a set,
        // not a scan of the mentions per member.
        let mentioned: HashSet<i64> = message.mentioned.iter().copied().collect();
        for user in message.members.iter().copied() {
            if user == message.sender_id || !reachable.contains(&user) {
                continue;
            }
            let mention = mentioned.contains(&user);
            if muted.contains(&(message.chat_id, user)) && !mention {
                continue;
            }
            let payload = PushPayload::Message {
                chat_id: message.chat_id,
                message_id: message.message_id,
                sender_id: message.sender_id,
                sent_at: message.sent_at,
                mention,
            };
            wanted
                .entry((user, message.chat_id))
                .and_modify(|first| {
                    if mention && !first.is_mention() {
                        *first = payload;
                    }
                })
                .or_insert(payload);
        }
    }
    let jobs: Vec<NewJob> = wanted
        .into_iter()
        .map(|((user, _), payload)| payload.job(user))
        .collect();
    let queued = jobs::enqueue_many(conn, jobs).await?;
    Ok(QueuedPushes {
        queued,
        with_devices,
    })
}

/// Which of `users` are connected: the hint's answer for those it asked
/// about, one presence lookup for the rest (none when the hint covers all).
async fn online_among(presence: &Presence, hint: &OnlineHint, users: &[i64]) -> HashSet<i64> {
    let unasked: Vec<i64> = users
        .iter()
        .copied()
        .filter(|u| !hint.asked.contains(u))
        .collect();
    let mut online = presence.online_among(&unasked).await.unwrap_or_else(|err| {
        // Better a push too many than a message nobody hears of.
        tracing::warn!(error = %err, "presence unavailable; pushing to everyone with a device");
        HashSet::new()
    });
    online.extend(hint.online.iter().copied());
    online
}

fn count(kind: &'static str, outcome: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!(PUSH_JOBS, "type" => kind, "outcome" => outcome).increment(n);
    }
}

/// Runs `push.message` and `push.call` jobs.
pub struct PushHandler {
    pub app: AppState,
    pub push: Arc<Push>,
}

#[async_trait::async_trait]
impl Handler for PushHandler {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let PushJob { user_id, payload } = job.payload_as()?;
        // New messages from now on get a push of their own: this one may
        // already be on its way.
        jobs::free_unique_key(&self.app.db.write, job.id).await?;
        if let Some(reason) = self.skip_reason(user_id, &payload).await? {
            tracing::debug!(job_id = job.id, user_id, reason, "push skipped");
            count(payload.type_label(), "skipped", 1);
            return Ok(());
        }
        // Which run reached a device: a retried job skips those.
        let run_key = format!("{}:{}", job.id, job.created_at);
        let devices: Vec<device::Model> = store::of_user(&self.app.db.read, user_id)
            .await?
            .into_iter()
            .filter(|d| d.last_push.as_deref() != Some(run_key.as_str()))
            .collect();
        let sender_name = self.sender_name(&payload, &devices).await?;
        let mut outcome = Outcome::default();
        for device in &devices {
            let name = sender_name.clone().filter(|_| device.push_content);
            let result = self.send(device, &payload.notification(name)).await;
            tracing::debug!(
                job_id = job.id,
                user_id,
                device_id = device.id,
                result = ?result,
                "push sent"
            );
            self.settle(device, &run_key, result, &mut outcome).await?;
        }
        outcome.into_result()
    }
}

impl PushHandler {
    /// Why a message push is no longer wanted: the user left or muted the
    /// chat (unless the message mentions them), or is connected now (their
    /// socket and sync bring the message). Calls always ring.
    async fn skip_reason(
        &self,
        user_id: i64,
        payload: &PushPayload,
    ) -> Result<Option<&'static str>, JobError> {
        let PushPayload::Message {
            chat_id, mention, ..
        } = *payload
        else {
            return Ok(None);
        };
        let member = membership::current_participant(&self.app.db.read, chat_id, user_id).await?;
        let Some(member) = member else {
            return Ok(Some("not a member"));
        };
        if !mention && member.muted_until.is_some_and(|until| until > now_ms()) {
            return Ok(Some("muted"));
        }
        let online = self.app.realtime.presence.online_among(&[user_id]).await;
        if online.is_ok_and(|o| o.contains(&user_id)) {
            return Ok(Some("online"));
        }
        Ok(None)
    }

    /// The sender's name, read only when a device opted in to it.
    async fn sender_name(
        &self,
        payload: &PushPayload,
        devices: &[device::Model],
    ) -> Result<Option<String>, JobError> {
        if !devices.iter().any(|d| d.push_content) {
            return Ok(None);
        }
        let sender = payload.sender_id();
        let summaries = users::service::summaries(&self.app, &[sender])
            .await
            .map_err(|e| JobError::Retry(format!("cannot read the sender: {e}")))?;
        Ok(summaries.get(&sender).map(|s| s.name.clone()))
    }

    async fn send(
        &self,
        device: &device::Model,
        notification: &Notification,
    ) -> Result<(), PushError> {
        let Some(platform) = Platform::parse(&device.platform) else {
            return Err(PushError::Failed(format!(
                "unknown platform {}",
                device.platform
            )));
        };
        let target = Target {
            platform,
            token: driver_token(device),
            device_id: device.id,
        };
        self.push.send(&target, notification).await
    }

    /// Records what one device's send means for the device and the job.
    async fn settle(
        &self,
        device: &device::Model,
        run_key: &str,
        result: Result<(), PushError>,
        outcome: &mut Outcome,
    ) -> Result<(), JobError> {
        let db = &self.app.db.write;
        match result {
            Ok(()) => store::mark_pushed(db, device.id, run_key, now_ms()).await?,
            Err(PushError::DeadToken) => {
                tracing::info!(device_id = device.id, "push token is dead; device removed");
                store::delete_dead(db, device.id, &device.token_hash).await?;
            }
            Err(PushError::Retry { after, reason }) => {
                outcome.retry_after = match (outcome.retry_after, after) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                outcome
                    .retry
                    .push(format!("device {}: {reason}", device.id));
            }
            Err(PushError::Failed(reason)) => {
                outcome
                    .failed
                    .push(format!("device {}: {reason}", device.id));
            }
        }
        Ok(())
    }
}

/// The token as the driver takes it: Web Push wants the whole subscription.
fn driver_token(device: &device::Model) -> String {
    match (&device.p256dh, &device.auth) {
        (Some(p256dh), Some(auth)) if device.platform == Platform::Webpush.as_str() => {
            serde_json::json!({
                "endpoint": device.token,
                "keys": {"p256dh": p256dh, "auth": auth},
            })
            .to_string()
        }
        _ => device.token.clone(),
    }
}

/// The devices of one run that did not get their push.
#[derive(Default)]
struct Outcome {
    retry: Vec<String>,
    retry_after: Option<std::time::Duration>,
    failed: Vec<String>,
}

impl Outcome {
    /// Retry while any device may still take it (the others are skipped
    /// next time); dead at once when the only failures cannot be retried.
    fn into_result(self) -> Result<(), JobError> {
        if !self.retry.is_empty() {
            let mut reasons = self.retry;
            reasons.extend(self.failed);
            let reason = reasons.join("; ");
            return Err(match self.retry_after {
                Some(after) => JobError::RetryAfter { after, reason },
                None => JobError::Retry(reason),
            });
        }
        if !self.failed.is_empty() {
            return Err(JobError::Permanent(self.failed.join("; ")));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_collapse_per_chat() {
        let message = PushPayload::Message {
            chat_id: 3,
            message_id: 9,
            sender_id: 1,
            sent_at: 5,
            mention: true,
        };
        let job = message.job(7);
        assert_eq!(job.kind, MESSAGE_KIND);
        assert_eq!(
            job.unique_key.as_deref(),
            Some("push:msg:7:3:m"),
            "a mention collapses apart from plain pushes"
        );
        assert_eq!(job.payload["type"], "message");
        assert_eq!(job.payload["user_id"], 7);
        assert_eq!(job.payload["mention"], true);
        let back: PushJob = serde_json::from_value(job.payload).unwrap_or(PushJob {
            user_id: 0,
            payload: PushPayload::Call {
                call_id: 0,
                chat_id: 0,
                caller_id: 0,
                started_at: 0,
            },
        });
        assert_eq!((back.user_id, back.payload), (7, message));
        let call = PushPayload::Call {
            call_id: 4,
            chat_id: 3,
            caller_id: 1,
            started_at: 5,
        };
        let job = call.job(7);
        assert_eq!(job.kind, CALL_KIND);
        assert_eq!(job.max_attempts, CALL_MAX_ATTEMPTS);
        assert!(call.notification(None).is_call());
    }

    #[test]
    fn retries_win_over_failures_and_keep_the_longest_wait() {
        let outcome = Outcome {
            retry: vec!["a".into()],
            retry_after: Some(std::time::Duration::from_secs(5)),
            failed: vec!["b".into()],
        };
        assert_eq!(
            outcome.into_result(),
            Err(JobError::RetryAfter {
                after: std::time::Duration::from_secs(5),
                reason: "a; b".into()
            })
        );
        let failed = Outcome {
            failed: vec!["b".into()],
            ..Outcome::default()
        };
        assert_eq!(failed.into_result(), Err(JobError::Permanent("b".into())));
        assert_eq!(Outcome::default().into_result(), Ok(()));
    }
}
