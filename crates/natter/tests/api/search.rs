//! Message search (`GET /api/search`, issue 19) as a user tries it: words
//! found and ranked, edits and deletes reflected at once, nothing from
//! another user's chats, a group left and rejoined searched by its
//! membership intervals, pages that neither repeat nor skip, and hostile
//! text that is answered, never a 500.

use std::collections::HashSet;
use std::time::Duration;

use natter_client::{Client, SearchPage};
use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::common::TestServer;
use crate::media::jpeg;

async fn search(client: &Client, q: &str) -> SearchPage {
    client.search(q, 50, None).await.unwrap()
}

/// The text of each result, in the order found.
fn texts(page: &SearchPage) -> Vec<String> {
    page.results
        .iter()
        .map(|r| {
            r.message
                .content
                .as_ref()
                .and_then(|c| c.as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

fn ids(page: &SearchPage) -> Vec<i64> {
    page.results.iter().map(|r| r.message.id).collect()
}

backend_tests! {
    async fn finds_every_word_as_a_word_start_best_match_first(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let brown = ann.client.send_text(chat, "the quick brown fox").await.unwrap();
        let foxes = bob.client.send_text(chat, "fox fox fox, said the fox").await.unwrap();
        ann.client.send_text(chat, "nothing to see here").await.unwrap();
        let glove = bob.client.send_text(chat, "a foxglove in the garden").await.unwrap();

        for client in [&ann.client, &bob.client] {
            let page = search(client, "fox").await;
            assert_eq!(ids(&page)[0], foxes.id, "the message saying it most ranks first: {:?}", texts(&page));
            let found: HashSet<i64> = ids(&page).into_iter().collect();
            assert_eq!(found, HashSet::from([brown.id, foxes.id, glove.id]), "{:?}", texts(&page));
            assert!(page.results.iter().all(|r| r.chat_id == chat && r.message.chat_id == chat));
            assert!(!page.pagination.has_more);
            assert_eq!(page.pagination.next_before, None);
        }
        // The rendered Message: sender and all.
        let page = search(&ann.client, "quick").await;
        assert_eq!(ids(&page), vec![brown.id]);
        assert_eq!(page.results[0].message.sender.name, "Ann");
        assert_eq!(page.results[0].message.content, Some(json!("the quick brown fox")));
        assert!(!page.results[0].message.starred);
        // `starred` is the caller's own, as in history.
        ann.client.star(brown.id).await.unwrap();
        assert!(search(&ann.client, "quick").await.results[0].message.starred, "Ann starred it");
        assert!(!search(&bob.client, "quick").await.results[0].message.starred, "Bob did not");
        // Every word must be there; case does not matter; a word's start is enough.
        assert_eq!(ids(&search(&bob.client, "BROWN fox").await), vec![brown.id]);
        assert_eq!(ids(&search(&bob.client, "qui bro").await), vec![brown.id]);
        assert!(search(&bob.client, "brown garden").await.results.is_empty());
        assert!(search(&bob.client, "zebra").await.results.is_empty());
    }

    async fn equally_good_matches_come_newest_first(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let mut sent = Vec::new();
        for _ in 0..3 {
            sent.push(ann.client.send_text(chat, "lunch tomorrow").await.unwrap().id);
            sent.push(bob.client.send_text(chat, "something else").await.unwrap().id);
        }
        let page = search(&ann.client, "lunch").await;
        assert_eq!(ids(&page), vec![sent[4], sent[2], sent[0]]);
    }

    async fn captions_are_found_but_not_system_view_once_or_expired_messages(backend: Backend) {
        let server = TestServer::start_with(backend, |s| s.disappearing_test_seconds = Some(2)).await;
        let (ann, bob, chat) = server.pair().await;
        let cy = server.sign_up("Cy").await;
        let group = ann.client.create_group("Created together", &[bob.id, cy.id]).await.unwrap();
        // The group's system messages ({"event": "created", ...}) are no one's words.
        for word in ["created", "event", "actor"] {
            assert!(search(&ann.client, word).await.results.is_empty(), "{word}");
        }
        let (_, photo) = ann.client
            .send_media(group.id, "image", &[("content", "sunset caption")], "sunset.jpg", &jpeg(64, 48))
            .await
            .unwrap();
        ann.client
            .send_media(group.id, "image", &[("content", "secret caption"), ("view_once", "true")], "once.jpg", &jpeg(64, 48))
            .await
            .unwrap();
        let page = search(&cy.client, "caption").await;
        assert_eq!(ids(&page), vec![photo.id], "a view-once photo's caption stays out of search");
        assert!(page.results[0].message.media.is_some());

        // A disappearing message is found until it expires, then never (before the job runs too).
        bob.client.set_disappearing(chat, 2).await.unwrap();
        let fleeting = ann.client.send_text(chat, "vanishing ink").await.unwrap();
        assert_eq!(ids(&search(&bob.client, "vanishing").await), vec![fleeting.id]);
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(search(&bob.client, "vanishing").await.results.is_empty());
        assert!(search(&ann.client, "ink").await.results.is_empty());
    }

    async fn an_edit_changes_what_is_found_and_a_deleted_message_is_gone(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let meeting = ann.client.send_text(chat, "meet at noon").await.unwrap();
        let plan = ann.client.send_text(chat, "secret plan").await.unwrap();
        let other = bob.client.send_text(chat, "another secret").await.unwrap();
        assert_eq!(ids(&search(&bob.client, "noon").await), vec![meeting.id]);

        ann.client.edit_message(meeting.id, "meet at dawn").await.unwrap();
        assert!(search(&bob.client, "noon").await.results.is_empty());
        let page = search(&bob.client, "dawn").await;
        assert_eq!(ids(&page), vec![meeting.id]);
        assert!(page.results[0].message.edited_at.is_some());
        assert_eq!(ids(&search(&bob.client, "meet").await), vec![meeting.id]);

        ann.client.delete_message(plan.id).await.unwrap();
        assert_eq!(ids(&search(&bob.client, "secret").await), vec![other.id]);
        assert!(search(&ann.client, "plan").await.results.is_empty());
        assert_sqlite_index_matches_messages(&server).await;
    }

    async fn another_users_chats_are_never_searched(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let (cy, dan, theirs) = server.pair().await;
        let ours = ann.client.send_text(chat, "hidden treasure").await.unwrap();
        let map = cy.client.send_text(theirs, "treasure map").await.unwrap();
        assert_eq!(ids(&search(&ann.client, "treasure").await), vec![ours.id]);
        assert_eq!(ids(&search(&bob.client, "treasure").await), vec![ours.id]);
        assert_eq!(ids(&search(&cy.client, "treasure").await), vec![map.id]);
        assert_eq!(ids(&search(&dan.client, "treasure").await), vec![map.id]);
        let stranger = server.sign_up("Eve").await;
        assert!(search(&stranger.client, "treasure").await.results.is_empty());
    }

    async fn a_group_left_and_rejoined_is_searched_by_its_membership_intervals(backend: Backend) {
        let server = TestServer::start(backend).await;
        let ada = server.sign_up("Ada").await;
        let ben = server.sign_up("Ben").await;
        let cy = server.sign_up("Cy").await;
        let group = ada.client.create_group("Hikers", &[ben.id, cy.id]).await.unwrap().id;
        let before = ada.client.send_text(group, "alpha before").await.unwrap();
        // Two words each, so that every "alpha" ranks the same and age orders them.
        let own = ben.client.send_text(group, "alpha mine").await.unwrap();

        ben.client.leave_group(group).await.unwrap();
        let while_away = ada.client.send_text(group, "alpha away").await.unwrap();
        // A user who left finds what they saw while in the group, nothing after.
        assert_eq!(ids(&search(&ben.client, "alpha").await), vec![own.id, before.id]);
        assert_eq!(ids(&search(&cy.client, "alpha").await), vec![while_away.id, own.id, before.id]);

        ada.client.add_members(group, &[ben.id]).await.unwrap();
        let again = cy.client.send_text(group, "alpha again").await.unwrap();
        assert_eq!(ids(&search(&ben.client, "alpha").await), vec![again.id, own.id, before.id]);
        assert!(search(&ben.client, "away").await.results.is_empty());
    }

    async fn pages_neither_repeat_nor_skip_and_new_messages_wait_for_a_new_search(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, bob, chat) = server.pair().await;
        let mut sent = Vec::new();
        for i in 0..25 {
            sent.push(ann.client.send_text(chat, &format!("paging word {i}")).await.unwrap().id);
        }
        let first = bob.client.search("paging", 10, None).await.unwrap();
        assert_eq!(first.results.len(), 10);
        assert!(first.pagination.has_more);
        // Sent after the first page: not in the pages that follow, which would shift.
        let late = ann.client.send_text(chat, "paging word late").await.unwrap();
        let cursor = first.pagination.next_before.clone().unwrap();
        let second = bob.client.search("paging", 10, Some(&cursor)).await.unwrap();
        assert_eq!(second.results.len(), 10);
        let cursor = second.pagination.next_before.clone().unwrap();
        let third = bob.client.search("paging", 10, Some(&cursor)).await.unwrap();
        assert_eq!(third.results.len(), 5);
        assert!(!third.pagination.has_more);
        assert_eq!(third.pagination.next_before, None);
        let walked: Vec<i64> = [&first, &second, &third].iter().flat_map(|p| ids(p)).collect();
        let mut expected = sent.clone();
        expected.reverse();
        assert_eq!(walked, expected, "equal ranks: newest first, every message once");
        assert!(!walked.contains(&late.id));
        // A new search sees it; the default page is 20.
        let fresh = bob.client.raw(Method::GET, "/api/search?q=paging", None).await.unwrap();
        assert_eq!(fresh.status, 200);
        assert_eq!(fresh.body["results"].as_array().unwrap().len(), 20);
        assert_eq!(fresh.body["results"][0]["message"]["id"], late.id);
        assert_eq!(fresh.body["results"][0]["chat_id"], chat);
    }

    async fn bad_parameters_are_422(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, _, chat) = server.pair().await;
        let needle = ann.client.send_text(chat, "needle in a haystack").await.unwrap();
        let long = "y".repeat(101);
        let cases: Vec<(String, &str)> = vec![
            ("/api/search".into(), "q"),
            ("/api/search?q=".into(), "q"),
            (format!("/api/search?q={long}"), "q"),
            ("/api/search?q=hi&limit=0".into(), "limit"),
            ("/api/search?q=hi&limit=51".into(), "limit"),
            ("/api/search?q=hi&limit=ten".into(), "limit"),
            ("/api/search?q=hi&before=".into(), "before"),
            ("/api/search?q=hi&before=abc".into(), "before"),
            ("/api/search?q=hi&before=1.99999999".into(), "before"),
        ];
        for (path, field) in cases {
            let raw = ann.client.raw(Method::GET, &path, None).await.unwrap();
            assert_eq!(raw.status, 422, "{path}: {}", raw.body);
            assert!(raw.body["errors"][field].is_array(), "{path}: {}", raw.body);
        }
        // 100 characters is allowed, and limit 50.
        let page = ann.client.search(&format!("{:<100}", "needle"), 50, None).await.unwrap();
        assert_eq!(ids(&page), vec![needle.id]);
        let anonymous = Client::new(&server.url());
        assert_eq!(anonymous.search("hi", 20, None).await.unwrap_err().status(), Some(401));
    }

    async fn hostile_text_is_answered_never_a_500(backend: Backend) {
        let server = TestServer::start(backend).await;
        let (ann, _, chat) = server.pair().await;
        let fox = ann.client.send_text(chat, "fox: \"quoted\" it's NEAR the 東京タワー 🦊 Ünïcode").await.unwrap();
        let hostile = [
            "\"", "*", "-", "NEAR(", "NEAR(fox", "AND OR", "'", "\\", "\"unterminated", "()", ")(",
            "-fox", "+fox", "fox*", "fox OR", "NOT fox", "fox:*", "fox & !", "!!", "@@", "<>~",
            "%", "_", "'; DROP TABLE messages; --", "\u{0}", "🦊", "a", "the", "OR", "^fox", "{fox}",
            "fox NEAR/2 quoted", "col:fox", "content:fox", "\u{202e}fox", "ﬀ", "²",
        ];
        for q in hostile {
            match ann.client.search(q, 20, None).await {
                Ok(_) => {}
                Err(err) => assert_eq!(err.status(), Some(422), "{q:?}: {err}"),
            }
        }
        // Operators are read as words: these still find the message.
        for q in ["fox*", "-fox", "+fox", "\"fox\"", "NEAR(fox", "fox:*", "東京タワー", "quoted NEAR"] {
            assert_eq!(ids(&search(&ann.client, q).await), vec![fox.id], "{q:?}");
        }
    }
}

/// SQLite's FTS5 index has external content: it must hold exactly the
/// messages the insert statement and the triggers index (text a person wrote),
/// or a later delete, told the text it indexed, corrupts it. The index's own
/// documents are listed through an `fts5vocab` table.
async fn assert_sqlite_index_matches_messages(server: &TestServer) {
    use sea_orm::{ConnectionTrait, Statement};
    let db = &server.state().db;
    if db.backend != sea_orm::DbBackend::Sqlite {
        return;
    }
    let ids = |sql: &str| {
        let statement = Statement::from_string(db.backend, sql);
        async move {
            let rows = db.write.query_all_raw(statement).await.unwrap();
            rows.iter()
                .map(|row| row.try_get_by_index::<i64>(0).unwrap())
                .collect::<Vec<_>>()
        }
    };
    db.write
        .execute_unprepared(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_docs USING fts5vocab(main, messages_fts, 'instance')",
        )
        .await
        .unwrap();
    let indexed = ids("SELECT DISTINCT doc FROM temp.fts_docs ORDER BY doc").await;
    let written = ids(
        "SELECT id FROM messages WHERE content IS NOT NULL AND content <> '' \
         AND message_type <> 'system' ORDER BY id",
    )
    .await;
    assert!(!written.is_empty());
    assert_eq!(
        indexed, written,
        "the search index holds exactly the written text"
    );
    db.write
        .execute_unprepared(
            "INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 0)",
        )
        .await
        .expect("the search index is consistent");
}
