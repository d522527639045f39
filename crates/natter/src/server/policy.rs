//! The application's answers to real time ([`Policy`]): channels follow chat
//! membership, whispers follow membership and blocks, presence shows the
//! user's public summary, and coming online is announced to their contacts.

use async_trait::async_trait;

use crate::error::{ApiError, ApiResult};
use crate::media;
use crate::membership;
use crate::realtime::channels::Channel;
use crate::realtime::{Policy, UserInfo};
use crate::state::AppState;
use crate::users;
use crate::{calls, contacts};

pub struct AppPolicy {
    pub app: AppState,
}

#[async_trait]
impl Policy for AppPolicy {
    async fn may_join(&self, user: i64, channel: &Channel) -> bool {
        match channel {
            Channel::User(id) => *id == user,
            Channel::Chat(id) => membership::require_member(&self.app, *id, user)
                .await
                .is_ok(),
            // Presence shows when someone is there: not between two people
            // of whom one blocked the other (the same rule as whispers).
            Channel::ChatPresence(id) => membership::may_whisper(&self.app, *id, user).await,
            Channel::Call(id) => calls::service::is_participant(&self.app, *id, user)
                .await
                .unwrap_or(false),
            // `#server-to-user-*` follows `pusher:signin`, never /broadcasting/auth.
            Channel::ServerToUser(_) | Channel::Unknown => false,
            Channel::Public => true,
        }
    }

    async fn may_whisper(&self, user: i64, chat: i64) -> bool {
        membership::may_whisper(&self.app, chat, user).await
    }

    async fn user_info(&self, user: i64) -> ApiResult<UserInfo> {
        let summary = users::service::summaries(&self.app, &[user])
            .await?
            .remove(&user)
            .ok_or_else(|| ApiError::not_found("User"))?;
        Ok(UserInfo {
            avatar_url: media::urls::sign(&self.app.storage, summary.avatar_key.as_deref()).await,
            name: summary.name,
        })
    }

    async fn presence_changed(&self, user: i64, online: bool) -> ApiResult<()> {
        // Announced whether or not the call check below works, and the other
        // way round: neither waits on the other's failure.
        let announced = contacts::service::announce_presence(&self.app, user, online).await;
        if !online {
            calls::offline::went_offline(&self.app, user).await?;
        }
        announced
    }

    async fn reset_presence(&self) -> ApiResult<()> {
        users::service::reset_presence(&self.app).await?;
        calls::offline::at_lone_start(&self.app).await
    }
}
