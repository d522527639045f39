//! Which channels are occupied, on every node: each subscription counts in
//! presence (a [`PresenceKey::Occupied`] per channel), so the Pusher HTTP API
//! can list channels and their subscription counts, and `channel_occupied` /
//! `channel_vacated` webhooks fire once per cluster, on the edge.

use super::Sockets;
use super::presence::PresenceKey;
use super::webhooks::HookEvent;

impl Sockets {
    /// A socket subscribed to `channel`.
    pub async fn count_in(&self, channel: &str) {
        let key = PresenceKey::Occupied(channel.to_string());
        match self.realtime.presence.join(&key, "").await {
            Ok(true) => self.realtime.webhooks.notify(HookEvent::ChannelOccupied {
                channel: channel.to_string(),
            }),
            Ok(false) => {}
            Err(err) => tracing::warn!(error = %err, "could not count a subscription"),
        }
    }

    /// A socket's subscription to `channel` ended.
    pub async fn count_out(&self, channel: &str) {
        let key = PresenceKey::Occupied(channel.to_string());
        match self.realtime.presence.leave(&key).await {
            Ok(true) => self.channel_vacated(channel),
            Ok(false) => {}
            Err(err) => tracing::warn!(error = %err, "could not count a subscription out"),
        }
    }

    /// The last subscription to `channel` anywhere ended (here, or with a dead node).
    pub fn channel_vacated(&self, channel: &str) {
        self.realtime.webhooks.notify(HookEvent::ChannelVacated {
            channel: channel.to_string(),
        });
    }
}
