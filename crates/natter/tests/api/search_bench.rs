//! The search bench (issue 19: "100 ms for a user with 100,000 messages"):
//! one user with 100,000 messages over 10 chats, stored in bulk through the
//! entities (100,000 HTTP sends would time the writer, not search), then
//! `GET /api/search` timed for a common, a medium, a rare word and a prefix.
//! Ignored by default: `bench/search` runs it (in release) and prints one line
//! per backend and word; docs/benchmarks.md keeps the figures.

use std::time::{Duration, Instant};

use sea_orm::{ActiveValue::Set, ConnectionTrait, DbBackend, EntityTrait, Statement};

use natter::db::entities::message;

use crate::common::{Backend, TestServer};

const MESSAGES: usize = 100_000;
const CHATS: usize = 10;
const SEARCHES: usize = 50;
/// (word, share of messages it is put in, as one in N): every fifth, every
/// hundredth, and exactly 20 messages in all.
const WORDS: &[(&str, usize)] = &[("hello", 5), ("pizza", 100), ("zanzibar", MESSAGES / 20)];

/// A reproducible pseudo-random sequence (no seed file to keep).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    /// A word rank in 0..size, small ranks far more often (about Zipf's law).
    fn zipf(&mut self, size: usize) -> usize {
        let u = (self.next() % 1_000_000) as f64 / 1_000_000.0;
        ((size as f64).powf(u) as usize)
            .saturating_sub(1)
            .min(size - 1)
    }
}

/// The filler vocabulary: consonant-vowel syllables, so no filler word is one
/// of [`WORDS`].
fn filler(rank: usize) -> String {
    const SYLLABLES: [&str; 20] = [
        "ba", "ke", "lo", "mi", "nu", "pa", "re", "si", "to", "vu", "da", "fe", "go", "hi", "ju",
        "ma", "ne", "ri", "so", "ti",
    ];
    let mut word = String::new();
    let mut n = rank + SYLLABLES.len();
    while n > 0 {
        word.push_str(SYLLABLES[n % SYLLABLES.len()]);
        n /= SYLLABLES.len();
    }
    word
}

fn text(i: usize, random: &mut Lcg) -> String {
    let mut words: Vec<String> = (0..8).map(|_| filler(random.zipf(5_000))).collect();
    for (word, every) in WORDS {
        if i.is_multiple_of(*every) {
            let at = random.next() as usize % words.len();
            words[at] = word.to_string();
        }
    }
    words.join(" ")
}

async fn scalar(server: &TestServer, sql: &str) -> i64 {
    let db = &server.state().db.write;
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<Option<i64>>(0).unwrap().unwrap_or(0)
}

/// Stores the messages in chunks, each a multi-row INSERT.
async fn store_messages(server: &TestServer, owner: i64, chats: &[(i64, i64)]) {
    let first_id = scalar(server, "SELECT MAX(id) FROM messages").await + 1;
    // After every membership's start, so all of them are the owner's to find.
    let first_seq = scalar(server, "SELECT MAX(from_seq) FROM chat_memberships").await + 1;
    let now = natter::clock::now_ms();
    let mut random = Lcg(19);
    let rows: Vec<message::ActiveModel> = (0..MESSAGES)
        .map(|i| {
            let (chat, partner) = chats[i % chats.len()];
            message::ActiveModel {
                id: Set(first_id + i as i64),
                chat_id: Set(chat),
                sender_id: Set(if i % 2 == 0 { owner } else { partner }),
                seq: Set(first_seq + i as i64),
                message_type: Set("text".into()),
                content: Set(Some(text(i, &mut random))),
                sent_at: Set(now - (MESSAGES - i) as i64 * 1000),
                ..Default::default()
            }
        })
        .collect();
    let db = &server.state().db.write;
    for chunk in rows.chunks(1000) {
        message::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(db)
            .await
            .unwrap();
    }
    // What autovacuum (PostgreSQL) or a DBA would have done after a bulk load.
    let analyze = match db.get_database_backend() {
        DbBackend::MySql => "ANALYZE TABLE messages, chat_memberships",
        _ => "ANALYZE",
    };
    db.execute_unprepared(analyze).await.unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn run(backend: Backend) {
    let server = TestServer::start(backend).await;
    let owner = server.sign_up("Owner").await;
    let mut chats = Vec::new();
    for i in 0..CHATS {
        let partner = server.sign_up(&format!("Partner {i}")).await;
        let (_, chat) = owner.client.private_chat(partner.id).await.unwrap();
        chats.push((chat.id, partner.id));
    }
    let started = Instant::now();
    store_messages(&server, owner.id, &chats).await;
    eprintln!(
        "search bench {backend:?}: {MESSAGES} messages stored in {:.1?}",
        started.elapsed()
    );
    for q in ["hello", "pizza", "zanzibar", "hel", "hello pizza"] {
        let first = owner.client.search(q, 20, None).await.unwrap();
        let mut times = Vec::with_capacity(SEARCHES);
        for _ in 0..SEARCHES {
            let start = Instant::now();
            owner.client.search(q, 20, None).await.unwrap();
            times.push(start.elapsed());
        }
        times.sort();
        eprintln!(
            "search bench {backend:?}: q={q:?} ({} on the first page, more: {}) p50 {:.1?} p99 {:.1?} max {:.1?}",
            first.results.len(),
            first.pagination.has_more,
            percentile(&times, 0.50),
            percentile(&times, 0.99),
            times[times.len() - 1],
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: bench/search runs it"]
async fn sqlite() {
    run(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: bench/search runs it"]
async fn postgres() {
    if Backend::Postgres.available() {
        run(Backend::Postgres).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: bench/search runs it"]
async fn mysql() {
    if Backend::Mysql.available() {
        run(Backend::Mysql).await
    }
}
