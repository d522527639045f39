//! `media.probe`: after a video or audio message is sent (201), ffprobe gives
//! its duration and ffmpeg a poster; then every chat showing that file hears
//! `App\Events\MessageEdited` (socket and sync log) with the message as it now
//! is. Without ffmpeg nothing is probed and nothing fails. A repeated run finds
//! the details recorded and only tells the chats again (harmless: the same
//! message, rendered again).

use crate::error::ApiResult;
use crate::jobs::{Handler, Job, JobError};
use crate::media::jobs::MediaPayload;
use crate::media::{self, Media};
use crate::membership;
use crate::state::AppState;
use crate::synclog::{Audience, Event, LogTx};

use super::{render, store};

pub struct ProbeMedia {
    pub app: AppState,
    pub media: Media,
}

#[async_trait::async_trait]
impl Handler for ProbeMedia {
    async fn run(&self, job: &Job) -> Result<(), JobError> {
        let MediaPayload { media_id } = job.payload_as()?;
        let found = media::service::probe_stored(&self.media, &self.app.db, media_id)
            .await
            .map_err(|e| JobError::Retry(format!("probing media {media_id}: {e:#}")))?;
        if !found {
            return Ok(());
        }
        tell_chats(&self.app, media_id)
            .await
            .map_err(|e| JobError::Retry(format!("telling the chats of media {media_id}: {e}")))
    }
}

/// `MessageEdited` for each message showing the media row, in one transaction.
async fn tell_chats(state: &AppState, media_id: i64) -> ApiResult<()> {
    let mut tx = LogTx::begin(&state.db).await?;
    let messages = store::showing_media(tx.conn(), media_id).await?;
    let views = render::render(state, tx.conn(), &messages).await?;
    for view in &views {
        membership::emit_to_chat(
            &mut tx,
            view.chat_id,
            Event::MessageEdited(view),
            Audience::default(),
        )
        .await?;
    }
    state.publish(tx.commit().await?);
    Ok(())
}
