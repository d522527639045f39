//! The `log` driver: one INFO line per push, sent nowhere. It names the
//! device and what the push is about, never the token or the sender's name.

use super::{Notification, PushDriver, PushError, PushEvent, Target};

pub struct LogPush;

#[async_trait::async_trait]
impl PushDriver for LogPush {
    fn name(&self) -> &'static str {
        "log"
    }

    async fn send(&self, target: &Target, notification: &Notification) -> Result<(), PushError> {
        let (kind, id) = match notification.event {
            PushEvent::Message { message_id } => ("message", message_id),
            PushEvent::Call { call_id } => ("call", call_id),
        };
        tracing::info!(
            platform = target.platform.as_str(),
            device_id = target.device_id,
            r#type = kind,
            id,
            chat_id = notification.chat_id,
            "push (log driver; not sent)"
        );
        Ok(())
    }
}
