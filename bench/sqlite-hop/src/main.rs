//! One natter writer batch of W1-light (five one-to-one messages in five
//! chats), as its statements reach SQLite, committed BATCHES times:
//!
//! - `sqlx`: through sqlx's SQLite connection, as natter runs them: each
//!   statement is a command sent to the connection's own thread and an
//!   answer sent back (the async side parks and wakes for each);
//! - `inline`: the same statements on the calling thread (rusqlite).
//!
//! Same schema (the columns and indexes of natter's `messages`, `events`,
//! `chats`, `sync_log_counters` that a batch touches), WAL, synchronous=FULL.
//! Prints the batch's wall time; run it under `perf stat -e
//! cpu-clock,context-switches` for its CPU and switches (README.md).

use std::time::Instant;

const MESSAGES: usize = 5;
const CHATS: i64 = 10;
const BATCHES: usize = 3000;

const SCHEMA: &str = r#"
CREATE TABLE chats (id integer PRIMARY KEY, type varchar(10) NOT NULL, roster_version integer NOT NULL DEFAULT 0, disappearing_seconds integer NOT NULL DEFAULT 0);
CREATE TABLE blocks (blocker_id integer NOT NULL, blocked_id integer NOT NULL, PRIMARY KEY (blocker_id, blocked_id));
CREATE TABLE messages (id integer PRIMARY KEY, chat_id integer NOT NULL, sender_id integer NOT NULL, seq integer NOT NULL, client_message_id varchar(64), message_type varchar(16) NOT NULL, content text, sent_at integer NOT NULL, expires_at integer, view_once boolean NOT NULL DEFAULT FALSE);
CREATE INDEX idx_messages_chat ON messages (chat_id, id);
CREATE UNIQUE INDEX uq_messages_client_id ON messages (sender_id, client_message_id);
CREATE INDEX idx_messages_expires ON messages (expires_at);
CREATE TABLE events (seq integer PRIMARY KEY, chat_id integer, user_id integer, name varchar(64) NOT NULL, data text NOT NULL, created_at integer NOT NULL);
CREATE INDEX idx_events_chat ON events (chat_id, seq);
CREATE INDEX idx_events_user ON events (user_id, seq);
CREATE INDEX idx_events_created ON events (created_at);
CREATE TABLE sync_log_counters (id integer PRIMARY KEY, last_seq integer NOT NULL, last_message_id integer NOT NULL);
INSERT INTO sync_log_counters VALUES (1, 0, 0);
"#;

/// The batch's statements, in the writer's order (BEGIN and COMMIT aside).
struct Sql {
    lock: &'static str,
    client_ids: String,
    rosters: String,
    blocks: &'static str,
    messages: String,
    events: String,
    counters: &'static str,
}

fn placeholders(row: &str, n: usize) -> String {
    vec![row; n].join(",")
}

impl Sql {
    fn new() -> Sql {
        let ids = placeholders("?", MESSAGES);
        Sql {
            lock: "UPDATE sync_log_counters SET last_seq = last_seq WHERE id = 1 RETURNING last_seq, last_message_id",
            client_ids: format!(
                "SELECT id FROM messages WHERE sender_id = ? AND client_message_id IN ({ids})"
            ),
            rosters: format!(
                "SELECT id, type, roster_version, disappearing_seconds FROM chats WHERE id IN ({ids})"
            ),
            blocks: "SELECT blocker_id FROM blocks WHERE blocker_id = ? AND blocked_id = ?",
            messages: format!(
                "INSERT INTO messages (id, chat_id, sender_id, seq, client_message_id, message_type, content, sent_at) VALUES {}",
                placeholders("(?, ?, ?, ?, ?, 'text', ?, ?)", MESSAGES)
            ),
            events: format!(
                "INSERT INTO events (seq, chat_id, name, data, created_at) VALUES {}",
                placeholders("(?, ?, 'MessageSent', ?, ?)", MESSAGES)
            ),
            counters: "UPDATE sync_log_counters SET last_seq = ?, last_message_id = ? WHERE id = 1",
        }
    }
}

/// The rows of batch `k`: (message id, chat, seq, client id) per message.
fn rows(k: usize, last_id: i64) -> Vec<(i64, i64, i64, String)> {
    (0..MESSAGES)
        .map(|i| {
            let id = last_id + 1 + i as i64;
            let chat = 1 + (k * MESSAGES + i) as i64 % CHATS;
            (id, chat, id, format!("c-{id}"))
        })
        .collect()
}

fn payload() -> String {
    format!(r#"{{"message":{{"content":"{}"}}}}"#, "x".repeat(300))
}

fn report(driver: &str, mut millis: Vec<f64>) {
    millis.sort_by(f64::total_cmp);
    let mean = millis.iter().sum::<f64>() / millis.len() as f64;
    let at = |q: f64| millis[((millis.len() as f64 * q) as usize).min(millis.len() - 1)];
    println!(
        "{driver}: {} batches of {MESSAGES}: p50 {:.3} ms, p99 {:.3} ms, mean {mean:.3} ms",
        millis.len(),
        at(0.50),
        at(0.99)
    );
}

fn inline(path: &str) {
    use rusqlite::{Connection, params_from_iter, types::Value};
    let conn = Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "wal").unwrap();
    conn.pragma_update(None, "synchronous", "full").unwrap();
    conn.execute_batch(SCHEMA).unwrap();
    for id in 1..=CHATS {
        conn.execute("INSERT INTO chats (id, type) VALUES (?, 'private')", [id])
            .unwrap();
    }
    let sql = Sql::new();
    let data = payload();
    let mut millis = Vec::with_capacity(BATCHES);
    for k in 0..BATCHES {
        let started = Instant::now();
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        let (seq, last_id): (i64, i64) = conn
            .prepare_cached(sql.lock)
            .unwrap()
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        let batch = rows(k, last_id);
        let mut ids = vec![Value::Integer(1)];
        ids.extend(batch.iter().map(|r| Value::Text(r.3.clone())));
        let mut found = conn.prepare_cached(&sql.client_ids).unwrap();
        let stored = found
            .query_map(params_from_iter(ids), |r| r.get::<_, i64>(0))
            .unwrap()
            .count();
        assert_eq!(stored, 0);
        let chats: Vec<Value> = batch.iter().map(|r| Value::Integer(r.1)).collect();
        let mut rosters = conn.prepare_cached(&sql.rosters).unwrap();
        let read = rosters
            .query_map(params_from_iter(chats), |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .unwrap()
            .count();
        assert!(read > 0);
        let blocked = conn
            .prepare_cached(sql.blocks)
            .unwrap()
            .exists([1, 2])
            .unwrap();
        assert!(!blocked);
        let mut messages = Vec::new();
        let mut events = Vec::new();
        for (id, chat, _, client_id) in &batch {
            let seq = seq + (id - last_id);
            messages.extend([
                Value::Integer(*id),
                Value::Integer(*chat),
                Value::Integer(1),
                Value::Integer(seq),
            ]);
            messages.extend([
                Value::Text(client_id.clone()),
                Value::Text("hello".into()),
                Value::Integer(k as i64),
            ]);
            events.extend([
                Value::Integer(seq),
                Value::Integer(*chat),
                Value::Text(data.clone()),
                Value::Integer(k as i64),
            ]);
        }
        conn.prepare_cached(&sql.messages)
            .unwrap()
            .execute(params_from_iter(messages))
            .unwrap();
        conn.prepare_cached(&sql.events)
            .unwrap()
            .execute(params_from_iter(events))
            .unwrap();
        let last = last_id + MESSAGES as i64;
        conn.prepare_cached(sql.counters)
            .unwrap()
            .execute([seq + MESSAGES as i64, last])
            .unwrap();
        conn.execute_batch("COMMIT").unwrap();
        millis.push(started.elapsed().as_secs_f64() * 1e3);
    }
    report("inline (rusqlite)", millis);
}

async fn through_sqlx(path: &str) {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    use sqlx::{AssertSqlSafe, Connection, Executor, Row, SqliteConnection};
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
    conn.execute(SCHEMA).await.unwrap();
    for id in 1..=CHATS {
        sqlx::query("INSERT INTO chats (id, type) VALUES (?, 'private')")
            .bind(id)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let sql = Sql::new();
    let data = payload();
    let mut millis = Vec::with_capacity(BATCHES);
    for k in 0..BATCHES {
        let started = Instant::now();
        conn.execute("BEGIN IMMEDIATE").await.unwrap();
        let row = sqlx::query(sql.lock).fetch_one(&mut conn).await.unwrap();
        let (seq, last_id): (i64, i64) = (row.get(0), row.get(1));
        let batch = rows(k, last_id);
        let mut found = sqlx::query(AssertSqlSafe(sql.client_ids.clone())).bind(1i64);
        for r in &batch {
            found = found.bind(r.3.clone());
        }
        assert!(found.fetch_all(&mut conn).await.unwrap().is_empty());
        let mut rosters = sqlx::query(AssertSqlSafe(sql.rosters.clone()));
        for r in &batch {
            rosters = rosters.bind(r.1);
        }
        assert!(!rosters.fetch_all(&mut conn).await.unwrap().is_empty());
        let blocked = sqlx::query(sql.blocks)
            .bind(1i64)
            .bind(2i64)
            .fetch_optional(&mut conn)
            .await
            .unwrap();
        assert!(blocked.is_none());
        let mut messages = sqlx::query(AssertSqlSafe(sql.messages.clone()));
        let mut events = sqlx::query(AssertSqlSafe(sql.events.clone()));
        for (id, chat, _, client_id) in &batch {
            let seq = seq + (id - last_id);
            messages = messages
                .bind(*id)
                .bind(*chat)
                .bind(1i64)
                .bind(seq)
                .bind(client_id.clone())
                .bind("hello")
                .bind(k as i64);
            events = events
                .bind(seq)
                .bind(*chat)
                .bind(data.clone())
                .bind(k as i64);
        }
        messages.execute(&mut conn).await.unwrap();
        events.execute(&mut conn).await.unwrap();
        let last = last_id + MESSAGES as i64;
        sqlx::query(sql.counters)
            .bind(seq + MESSAGES as i64)
            .bind(last)
            .execute(&mut conn)
            .await
            .unwrap();
        conn.execute("COMMIT").await.unwrap();
        millis.push(started.elapsed().as_secs_f64() * 1e3);
    }
    report("sqlx (a hop per statement)", millis);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (driver, path) = match (args.next(), args.next()) {
        (Some(driver), Some(path)) => (driver, path),
        _ => {
            eprintln!("usage: sqlite-hop sqlx|inline NEW_DATABASE_FILE");
            std::process::exit(2);
        }
    };
    assert!(
        !std::path::Path::new(&path).exists(),
        "{path} exists: give a new file"
    );
    match driver.as_str() {
        "inline" => inline(&path),
        "sqlx" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(through_sqlx(&path)),
        other => {
            eprintln!("unknown driver {other}: sqlx or inline");
            std::process::exit(2);
        }
    }
}
