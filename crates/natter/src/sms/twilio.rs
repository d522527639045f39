//! The `twilio` driver: `POST /2010-04-01/Accounts/{sid}/Messages.json` with the
//! form fields `To`, `From`, `Body` and HTTP basic auth (account SID, auth token),
//! as Twilio's REST API expects. Twilio answers 201 with the message resource.

use anyhow::{Context, bail};

use super::{Sms, SmsSender};

pub struct TwilioSms {
    pub http: reqwest::Client,
    pub api_url: String,
    pub account_sid: String,
    pub auth_token: String,
    pub from: String,
}

#[async_trait::async_trait]
impl SmsSender for TwilioSms {
    async fn send(&self, sms: &Sms) -> anyhow::Result<()> {
        let url = format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.api_url, self.account_sid
        );
        let response = self
            .http
            .post(&url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&[
                ("To", sms.to.as_str()),
                ("From", self.from.as_str()),
                ("Body", sms.body.as_str()),
            ])
            .send()
            .await
            .context("Twilio could not be reached")?;
        let status = response.status();
        if !status.is_success() {
            // Twilio's error body names the problem (code, message); it holds no secret.
            let body = response.text().await.unwrap_or_default();
            bail!(
                "Twilio refused the SMS with {status}: {}",
                body.chars().take(300).collect::<String>()
            );
        }
        Ok(())
    }
}
