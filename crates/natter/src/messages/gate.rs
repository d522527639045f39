//! Who may send where, decided inside the writer's transaction.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::writer::{Draft, Refusal};
use crate::contacts;
use crate::error::ApiResult;
use crate::membership::{Roster, RosterCache};
use crate::synclog::LogTx;

/// Who may send where, as of this batch's transaction: the rosters of the
/// batch's chats (kept between batches while their version holds) and the
/// blocks between the people of its private chats. Two or three queries per
/// batch, whatever its size.
pub(super) struct Gate {
    rosters: HashMap<i64, Arc<Roster>>,
    blocks: HashSet<(i64, i64)>,
}

impl Gate {
    pub(super) async fn load<'a>(
        tx: &LogTx,
        cache: &mut RosterCache,
        drafts: impl Iterator<Item = &'a Draft> + Clone,
    ) -> ApiResult<Gate> {
        let mut chat_ids: Vec<i64> = drafts.clone().map(|d| d.chat_id).collect();
        chat_ids.sort_unstable();
        chat_ids.dedup();
        let rosters = cache.rosters(tx.conn(), &chat_ids).await?;
        let mut pairs = Vec::new();
        for draft in drafts {
            if let Some(other) = rosters
                .get(&draft.chat_id)
                .and_then(|r| other_in_private(r, draft.sender.id))
            {
                pairs.push((other, draft.sender.id));
                pairs.push((draft.sender.id, other));
            }
        }
        let blocks = contacts::service::blocks_among(tx.conn(), &pairs).await?;
        Ok(Gate { rosters, blocks })
    }

    /// The chat's members if the draft may be sent.
    pub(super) fn admit(&self, draft: &Draft) -> Result<Vec<i64>, Refusal> {
        let sender = draft.sender.id;
        let roster = self.rosters.get(&draft.chat_id).ok_or(Refusal::NotMember)?;
        if !roster.members.contains(&sender) {
            return Err(Refusal::NotMember);
        }
        if let Some(other) = other_in_private(roster, sender) {
            if self.blocks.contains(&(other, sender)) {
                return Err(Refusal::BlockedByRecipient);
            }
            if self.blocks.contains(&(sender, other)) {
                return Err(Refusal::SenderBlocks);
            }
        }
        mentions_allowed(roster, &draft.mentions)?;
        Ok(roster.members.clone())
    }

    /// When a message stored at `now` in the chat expires: the chat's
    /// disappearing timer as of this transaction (a timer change takes the
    /// log lock too, so this is the timer at commit); None when it is off.
    pub(super) fn expires_at(&self, chat_id: i64, now: i64) -> Option<i64> {
        let seconds = self.rosters.get(&chat_id)?.disappearing_seconds;
        (seconds > 0).then(|| now + seconds * 1000)
    }
}

/// Mentions are for groups, and only of people in the group as of this
/// transaction: the roster the message is admitted against, so a member
/// removed between the send request and the commit is refused here.
fn mentions_allowed(roster: &Roster, mentions: &[i64]) -> Result<(), Refusal> {
    if mentions.is_empty() {
        return Ok(());
    }
    if roster.private {
        return Err(Refusal::MentionInPrivateChat);
    }
    // One pass over the roster (a group may have 100,000 members); the ids
    // are distinct (validated), so finding as many as were sent finds each.
    let wanted: HashSet<i64> = mentions.iter().copied().collect();
    let found = roster.members.iter().filter(|m| wanted.contains(m)).count();
    if found == wanted.len() {
        Ok(())
    } else {
        Err(Refusal::MentionsNonMember)
    }
}

fn other_in_private(roster: &Roster, me: i64) -> Option<i64> {
    roster
        .private
        .then(|| roster.members.iter().copied().find(|m| *m != me))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Db;
    use crate::db::testing::{execute, sqlite, user};
    use crate::membership::{insert_group, insert_private, join};
    use crate::resources::chat::Role;
    use crate::resources::message::SenderView;

    fn draft(chat_id: i64, sender: i64) -> Draft {
        Draft {
            chat_id,
            sender: SenderView {
                id: sender,
                name: String::new(),
                avatar_url: None,
            },
            client_message_id: None,
            reply_to: None,
            message_type: "text",
            content: Some("hi".into()),
            location: None,
            contact_data: None,
            media: None,
            view_once: false,
            mentions: Vec::new(),
        }
    }

    async fn block(db: &Db, blocker: i64, blocked: i64) {
        execute(db, &format!(
            "INSERT INTO contacts (user_id, contact_user_id, is_blocked, created_at, updated_at) VALUES ({blocker}, {blocked}, true, 0, 0)"
        ))
        .await;
    }

    fn admitted(gate: &Gate, draft: &Draft) -> Result<Vec<i64>, Refusal> {
        gate.admit(draft).map(|mut members| {
            members.sort_unstable();
            members
        })
    }

    #[tokio::test]
    async fn admits_members_and_refuses_outsiders_and_blocks_in_private_chats() {
        let (_dir, db) = sqlite().await;
        let [ann, bob, cat, dan] = [
            user(&db, "ann").await,
            user(&db, "bob").await,
            user(&db, "cat").await,
            user(&db, "dan").await,
        ];
        let mut tx = LogTx::begin(&db).await.unwrap();
        let with_bob = insert_private(&mut tx, ann, bob, format!("{ann}:{bob}"))
            .await
            .unwrap()
            .id;
        let with_cat = insert_private(&mut tx, ann, cat, format!("{ann}:{cat}"))
            .await
            .unwrap()
            .id;
        let with_dan = insert_private(&mut tx, ann, dan, format!("{ann}:{dan}"))
            .await
            .unwrap()
            .id;
        let group = insert_group(&mut tx, ann, "g".into(), None)
            .await
            .unwrap()
            .id;
        join(&mut tx, group, bob, Role::Member).await.unwrap();
        join(&mut tx, group, cat, Role::Member).await.unwrap();
        tx.commit().await.unwrap();
        block(&db, cat, ann).await;
        block(&db, ann, dan).await;

        let drafts = [
            draft(with_bob, ann),
            draft(with_bob, cat),
            draft(with_cat, ann),
            draft(with_dan, ann),
            draft(group, ann),
            draft(group, dan),
            draft(i64::MAX, ann),
        ];
        let tx = LogTx::begin(&db).await.unwrap();
        let gate = Gate::load(&tx, &mut RosterCache::default(), drafts.iter())
            .await
            .unwrap();
        assert_eq!(admitted(&gate, &drafts[0]), Ok(vec![ann, bob]), "a member");
        assert_eq!(
            admitted(&gate, &drafts[1]),
            Err(Refusal::NotMember),
            "not a member"
        );
        assert_eq!(
            admitted(&gate, &drafts[2]),
            Err(Refusal::BlockedByRecipient),
            "the other person blocked the sender"
        );
        assert_eq!(
            admitted(&gate, &drafts[3]),
            Err(Refusal::SenderBlocks),
            "the sender blocked the other person"
        );
        assert_eq!(
            admitted(&gate, &drafts[4]),
            Ok(vec![ann, bob, cat]),
            "blocks do not apply in a group"
        );
        assert_eq!(
            admitted(&gate, &drafts[5]),
            Err(Refusal::NotMember),
            "not in the group"
        );
        assert_eq!(
            admitted(&gate, &drafts[6]),
            Err(Refusal::NotMember),
            "no such chat"
        );
        tx.rollback().await.unwrap();
    }

    #[tokio::test]
    async fn mentions_are_of_current_group_members_only() {
        let (_dir, db) = sqlite().await;
        let [ann, bob, cat] = [
            user(&db, "ann").await,
            user(&db, "bob").await,
            user(&db, "cat").await,
        ];
        let mut tx = LogTx::begin(&db).await.unwrap();
        let private = insert_private(&mut tx, ann, bob, format!("{ann}:{bob}"))
            .await
            .unwrap()
            .id;
        let group = insert_group(&mut tx, ann, "g".into(), None)
            .await
            .unwrap()
            .id;
        join(&mut tx, group, bob, Role::Member).await.unwrap();
        tx.commit().await.unwrap();
        let mention = |chat_id, users: Vec<i64>| Draft {
            mentions: users,
            ..draft(chat_id, ann)
        };
        let drafts = [
            mention(group, vec![bob]),
            mention(group, vec![bob, cat]),
            mention(private, vec![bob]),
        ];
        let tx = LogTx::begin(&db).await.unwrap();
        let gate = Gate::load(&tx, &mut RosterCache::default(), drafts.iter())
            .await
            .unwrap();
        assert_eq!(admitted(&gate, &drafts[0]), Ok(vec![ann, bob]));
        assert_eq!(admitted(&gate, &drafts[1]), Err(Refusal::MentionsNonMember));
        assert_eq!(
            admitted(&gate, &drafts[2]),
            Err(Refusal::MentionInPrivateChat)
        );
        tx.rollback().await.unwrap();
    }
}
