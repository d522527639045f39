//! Sending SMS: one trait, three drivers chosen by `SMS_DRIVER`.
//!
//! - `log`: writes the text (and so the code) to the server log. For a laptop;
//!   never use it in production, where logs must hold no secrets.
//! - `outbox`: appends `{"to","body","code","sent_at"}` as one JSON line to
//!   `SMS_OUTBOX_PATH`, for tests and local clients.
//! - `twilio`: Twilio's Messages API.

pub mod outbox;
mod twilio;

use std::sync::Arc;

use crate::config::{Config, SmsDriverKind};

pub use outbox::OutboxSms;
pub use twilio::TwilioSms;

/// One outgoing text message.
#[derive(Debug, Clone)]
pub struct Sms {
    /// E.164 number.
    pub to: String,
    pub body: String,
    /// The code the body carries (only the `outbox` driver records it separately).
    pub code: String,
}

#[async_trait::async_trait]
pub trait SmsSender: Send + Sync {
    async fn send(&self, sms: &Sms) -> anyhow::Result<()>;
}

/// Writes each SMS to the log.
pub struct LogSms;

#[async_trait::async_trait]
impl SmsSender for LogSms {
    async fn send(&self, sms: &Sms) -> anyhow::Result<()> {
        tracing::info!(to = %sms.to, body = %sms.body, "SMS (log driver; not sent)");
        Ok(())
    }
}

/// The driver the settings ask for.
pub fn from_config(config: &Config, http: reqwest::Client) -> Arc<dyn SmsSender> {
    let settings = &config.settings;
    match settings.sms_driver {
        SmsDriverKind::Log => {
            if !settings.http_addr.ip().is_loopback() {
                // Whoever reads this log can sign in as anyone: fine on a
                // laptop, not on a server others reach.
                tracing::warn!(
                    http_addr = %settings.http_addr,
                    "SMS_DRIVER=log writes every sign-in code to this log and sends no SMS; \
                     set SMS_DRIVER=twilio before others use this server"
                );
            }
            Arc::new(LogSms)
        }
        SmsDriverKind::Outbox => Arc::new(OutboxSms::new(config.sms_outbox_path.clone())),
        SmsDriverKind::Twilio => Arc::new(TwilioSms {
            http,
            api_url: settings.twilio_api_url.trim_end_matches('/').to_string(),
            account_sid: settings.twilio_sid.clone().unwrap_or_default(),
            auth_token: settings.twilio_token.clone().unwrap_or_default(),
            from: settings.twilio_from.clone().unwrap_or_default(),
        }),
    }
}
