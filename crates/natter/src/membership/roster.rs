//! The rosters the group-commit writer keeps between batches.

use std::collections::HashMap;
use std::sync::Arc;

use sea_orm::ConnectionTrait;

use super::store;
use crate::error::ApiResult;
use crate::resources::chat::ChatType;
#[cfg(test)]
use crate::resources::chat::Role;

/// Who is in a chat as of a transaction, whether it is private, and its
/// disappearing-messages timer (seconds, 0 off) as of that transaction.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    pub private: bool,
    pub members: Vec<i64>,
    pub disappearing_seconds: i64,
}

/// Rosters kept between transactions by their one user, the group-commit
/// writer, each with the chat's roster version it was read at. Every change
/// of participants bumps the version in the same log transaction (which
/// holds the log lock, as the writer's does), so a roster whose version
/// still matches inside the writer's transaction is exactly the current one,
/// whichever node changed it. A message to a 1,024-member group then reads one
/// row, not 1,024.
pub struct RosterCache {
    /// Chat -> (roster version read with it, the roster).
    entries: HashMap<i64, (i64, Arc<Roster>)>,
    /// Rosters kept at most; beyond it the cache starts over.
    capacity: usize,
}

/// The writer's cap: 50,000 chats' rosters.
const ROSTER_CACHE_CHATS: usize = 50_000;

impl Default for RosterCache {
    fn default() -> Self {
        RosterCache::with_capacity(ROSTER_CACHE_CHATS)
    }
}

impl RosterCache {
    pub fn with_capacity(capacity: usize) -> RosterCache {
        RosterCache {
            entries: HashMap::new(),
            capacity,
        }
    }

    /// How many rosters are kept now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The members these chats had when last read, without asking the
    /// database: a guess (the roster may have changed since), for work that
    /// only needs a hint before a transaction begins.
    pub fn cached_members<'a>(&'a self, chat_ids: &'a [i64]) -> impl Iterator<Item = i64> + 'a {
        chat_ids
            .iter()
            .filter_map(|id| self.entries.get(id))
            .flat_map(|(_, roster)| roster.members.iter().copied())
    }

    /// Rosters of several open chats, as of the caller's transaction: one
    /// small query for the versions, and the members only of chats whose
    /// roster changed since they were last read. Shared, not copied: a
    /// 1,024-member roster is handed to every batch that sends there. The
    /// timer is read with the versions, so it is the one as of the caller's
    /// transaction; a changed timer makes the entry stale too (rare).
    pub async fn rosters(
        &mut self,
        conn: &impl ConnectionTrait,
        chat_ids: &[i64],
    ) -> ApiResult<HashMap<i64, Arc<Roster>>> {
        let versions = store::roster_versions(conn, chat_ids).await?;
        let stale: Vec<&(i64, String, i64, i64)> = versions
            .iter()
            .filter(|(id, _, version, timer)| {
                !self.entries.get(id).is_some_and(|(v, roster)| {
                    v == version && roster.disappearing_seconds == *timer
                })
            })
            .collect();
        if !stale.is_empty() {
            if self.entries.len() + stale.len() > self.capacity {
                self.entries.clear();
            }
            let stale_ids: Vec<i64> = stale.iter().map(|(id, _, _, _)| *id).collect();
            let mut members: HashMap<i64, Vec<i64>> = HashMap::new();
            for (chat_id, user_id) in store::current_members_of(conn, &stale_ids).await? {
                members.entry(chat_id).or_default().push(user_id);
            }
            for (id, chat_type, version, timer) in stale {
                let roster = Roster {
                    private: chat_type == ChatType::Private.as_str(),
                    members: members.remove(id).unwrap_or_default(),
                    disappearing_seconds: *timer,
                };
                self.entries.insert(*id, (*version, Arc::new(roster)));
            }
        }
        Ok(versions
            .iter()
            .filter_map(|(id, _, _, _)| Some((*id, self.entries.get(id)?.1.clone())))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::testing::{execute, sqlite, user};
    use crate::membership::{insert_group, join};
    use crate::synclog::LogTx;

    fn members(rosters: &HashMap<i64, Arc<Roster>>, chat: i64) -> Vec<i64> {
        let mut members = rosters[&chat].members.clone();
        members.sort_unstable();
        members
    }

    #[tokio::test]
    async fn keeps_rosters_until_their_version_moves_and_starts_over_at_the_cap() {
        let (_dir, db) = sqlite().await;
        let (ann, bob, cat) = (
            user(&db, "ann").await,
            user(&db, "bob").await,
            user(&db, "cat").await,
        );
        let mut tx = LogTx::begin(&db).await.unwrap();
        let a = insert_group(&mut tx, ann, "a".into(), None)
            .await
            .unwrap()
            .id;
        join(&mut tx, a, bob, Role::Member).await.unwrap();
        let b = insert_group(&mut tx, bob, "b".into(), None)
            .await
            .unwrap()
            .id;
        let c = insert_group(&mut tx, cat, "c".into(), None)
            .await
            .unwrap()
            .id;
        tx.commit().await.unwrap();

        let mut cache = RosterCache::with_capacity(2);
        let rosters = cache.rosters(&db.read, &[a, b]).await.unwrap();
        assert_eq!(members(&rosters, a), vec![ann, bob]);
        assert!(!rosters[&a].private);
        assert_eq!(cache.len(), 2);

        // A hit: a member added behind the version's back is not seen, so the
        // roster came from the cache, not from a query.
        execute(&db, &format!(
            "INSERT INTO chat_participants (chat_id, user_id, role, joined_at) VALUES ({a}, {cat}, 'member', 0)"
        )).await;
        let rosters = cache.rosters(&db.read, &[a]).await.unwrap();
        assert_eq!(members(&rosters, a), vec![ann, bob]);

        // A real change bumps the version: the roster is read again.
        execute(
            &db,
            &format!("DELETE FROM chat_participants WHERE chat_id = {a} AND user_id = {cat}"),
        )
        .await;
        let mut tx = LogTx::begin(&db).await.unwrap();
        join(&mut tx, a, cat, Role::Member).await.unwrap();
        tx.commit().await.unwrap();
        let rosters = cache.rosters(&db.read, &[a]).await.unwrap();
        assert_eq!(members(&rosters, a), vec![ann, bob, cat]);

        // A third chat over the cap of two: the cache starts over with it.
        cache.rosters(&db.read, &[a, b]).await.unwrap();
        assert_eq!(cache.len(), 2);
        let rosters = cache.rosters(&db.read, &[c]).await.unwrap();
        assert_eq!(members(&rosters, c), vec![cat]);
        assert_eq!(cache.len(), 1);
        let rosters = cache.rosters(&db.read, &[a, b]).await.unwrap();
        assert_eq!(members(&rosters, b), vec![bob]);
        assert_eq!(cache.len(), 2, "re-read after the eviction");

        // A closed chat has no roster.
        execute(
            &db,
            &format!("UPDATE chats SET deleted_at = 1 WHERE id = {b}"),
        )
        .await;
        assert!(
            !cache
                .rosters(&db.read, &[b])
                .await
                .unwrap()
                .contains_key(&b)
        );
    }
}
