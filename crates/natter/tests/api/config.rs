//! Settings as an operator meets them (docs/configuration.md): every value the
//! contract allows is taken, a wrong one stops the start with one line naming it,
//! `.env` comes from the working directory only, `natter config` shows every
//! setting without side effects, an unreachable database or Redis is reported
//! within seconds, and the logs follow LOG_FORMAT and LOG_LEVEL in every
//! subcommand. The binary runs as an operator would run it.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use reqwest::Method;

use crate::backend_tests;
use crate::common::{Backend, TestServer, unique_phone};

const EXE: &str = env!("CARGO_BIN_EXE_natter");

/// `natter <args>` in `dir` with exactly `env` (and PATH): nothing of the test's
/// own environment leaks in.
fn natter(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(EXE)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .output()
        .expect("natter runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The one line a failed start prints, asserting it is one line.
fn the_error_line(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = text(&output.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {stderr}");
    assert!(lines[0].starts_with("natter: "), "{stderr}");
    lines[0].to_string()
}

/// `natter config`'s lines as (name, value).
fn config_lines(output: &Output) -> Vec<(String, String)> {
    assert!(output.status.success(), "{output:?}");
    text(&output.stdout)
        .lines()
        .map(|line| {
            let (name, value) = line.split_once('=').expect("NAME=value");
            (name.to_string(), value.to_string())
        })
        .collect()
}

fn value_of(lines: &[(String, String)], name: &str) -> String {
    lines
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("{name} is not listed: {lines:?}"))
}

#[test]
fn each_wrong_value_stops_the_start_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("storage").display().to_string();
    let cases: &[(&str, &str, &[&str])] = &[
        ("OTP_TTL", "0", &["OTP_TTL=\"0\"", "--otp-ttl", "1..="]),
        ("OTP_TTL", "soon", &["OTP_TTL=\"soon\"", "whole number"]),
        (
            "SMS_DRIVER",
            "pigeon",
            &["SMS_DRIVER=\"pigeon\"", "log, outbox, twilio"],
        ),
        ("LOG_FORMAT", "xml", &["LOG_FORMAT=\"xml\"", "text, json"]),
        (
            "WEB_CLIENT",
            "maybe",
            &["WEB_CLIENT=\"maybe\"", "1/0", "yes/no"],
        ),
        (
            "TRUST_PROXY_HEADERS",
            "sometimes",
            &["TRUST_PROXY_HEADERS=\"sometimes\"", "on/off"],
        ),
        (
            "LOG_LEVEL",
            "verbose",
            &["LOG_LEVEL=\"verbose\"", "unknown level", "debug"],
        ),
        (
            "LOG_LEVEL",
            "info,natter=loud",
            &["LOG_LEVEL=\"info,natter=loud\"", "target=level"],
        ),
        ("HTTP_ADDR", "nowhere", &["HTTP_ADDR=\"nowhere\""]),
        (
            "DATABASE_URL",
            "oracle://db/x",
            &["DATABASE_URL", "oracle://db/x", "mariadb://"],
        ),
    ];
    for (name, value, expected) in cases {
        let output = natter(
            dir.path(),
            &["serve"],
            &[("STORAGE_DIR", &storage), (name, value)],
        );
        let line = the_error_line(&output);
        for part in *expected {
            assert!(line.contains(part), "{name}={value}: {line} lacks {part}");
        }
    }
    assert!(
        !dir.path().join("storage").exists(),
        "nothing is created by a refused start"
    );
}

#[test]
fn the_whole_range_the_contract_allows_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let output = natter(
        dir.path(),
        &["config"],
        &[
            ("OTP_RESEND_SECONDS", "0"),
            ("SYNC_RETENTION", "1"),
            ("OTP_TTL", "1"),
            ("STATUS_TTL", "31536000"),
            ("TRUST_PROXY_HEADERS", "1"),
            ("WEB_CLIENT", "off"),
            ("PUSH_ALLOW_PRIVATE_TARGETS", "yes"),
            ("AWS_USE_PATH_STYLE_ENDPOINT", "1"),
            (
                "DATABASE_URL",
                "mariadb://app:hunter2@127.0.0.1:3306/natter",
            ),
            ("LOG_LEVEL", "warn,natter=debug"),
            // Empty is unset, as `REDIS_URL=` is in a Laravel .env.
            ("REDIS_URL", ""),
        ],
    );
    let lines = config_lines(&output);
    for (name, shown) in [
        ("OTP_RESEND_SECONDS", "0"),
        ("SYNC_RETENTION", "1"),
        ("OTP_TTL", "1"),
        ("STATUS_TTL", "31536000"),
        ("TRUST_PROXY_HEADERS", "true"),
        ("WEB_CLIENT", "false"),
        ("PUSH_ALLOW_PRIVATE_TARGETS", "true"),
        ("AWS_USE_PATH_STYLE_ENDPOINT", "true"),
        ("DATABASE_URL", "mariadb://app:***@127.0.0.1:3306/natter"),
        ("LOG_LEVEL", "warn,natter=debug"),
        ("REDIS_URL", ""),
    ] {
        assert_eq!(value_of(&lines, name), shown, "{name}");
    }
}

#[test]
fn natter_config_lists_every_setting_masks_secrets_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "a-secret-app-key-of-at-least-32-characters";
    let env = [
        ("APP_KEY", secret),
        ("TURN_SECRET", "turn-secret-of-16-chars"),
        ("TURN_URLS", "turn:turn.example.com:3478"),
        ("DATABASE_URL", "postgres://app:hunter2@db.internal/natter"),
    ];
    let output = natter(dir.path(), &["config"], &env);
    let stdout = text(&output.stdout);
    let lines = config_lines(&output);

    // Every setting of `natter serve`, once, by its environment name.
    let mut command = <natter::config::Cli as clap::CommandFactory>::command();
    command.build();
    let serve = command.find_subcommand("serve").unwrap();
    let names: Vec<String> = serve
        .get_arguments()
        .filter(|arg| !arg.is_hide_set())
        .filter_map(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .collect();
    assert!(names.len() > 80, "{names:?}");
    for name in &names {
        let count = lines.iter().filter(|(n, _)| n == name).count();
        assert_eq!(count, 1, "{name} listed {count} times");
    }
    assert_eq!(lines.len(), names.len(), "{stdout}");
    assert!(
        lines.iter().all(|(n, _)| *n == n.to_uppercase()),
        "{stdout}"
    );

    // Secrets masked, generated values said, defaults worked out.
    assert!(
        !stdout.contains(secret) && !stdout.contains("hunter2"),
        "{stdout}"
    );
    assert_eq!(value_of(&lines, "APP_KEY"), "(set, hidden)");
    assert_eq!(value_of(&lines, "TURN_SECRET"), "(set, hidden)");
    assert_eq!(
        value_of(&lines, "DATABASE_URL"),
        "postgres://app:***@db.internal/natter"
    );
    assert_eq!(
        value_of(&lines, "REVERB_APP_SECRET"),
        "(generated at start into storage/reverb.secret)"
    );
    assert_eq!(value_of(&lines, "NODE_ID"), "(random per start)");
    assert_eq!(value_of(&lines, "SMS_DRIVER"), "log");
    assert_eq!(value_of(&lines, "MEDIA_ROOT"), "storage/media");
    assert_eq!(value_of(&lines, "LOG_FORMAT"), "text");

    // The same answer twice, and no file or folder made by asking.
    assert_eq!(natter(dir.path(), &["config"], &env).stdout, output.stdout);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // A secret generated by an earlier start is shown as such.
    std::fs::create_dir(dir.path().join("storage")).unwrap();
    std::fs::write(dir.path().join("storage/app.key"), "k".repeat(48)).unwrap();
    let lines = config_lines(&natter(dir.path(), &["config"], &[]));
    assert_eq!(value_of(&lines, "APP_KEY"), "(generated, storage/app.key)");
    assert_eq!(
        value_of(&lines, "DATABASE_URL"),
        "sqlite://storage/natter.db?mode=rwc"
    );
}

#[test]
fn dotenv_is_read_from_the_working_directory_only_and_a_broken_line_stops() {
    let dir = tempfile::tempdir().unwrap();
    let below = dir.path().join("below");
    std::fs::create_dir(&below).unwrap();
    std::fs::write(dir.path().join(".env"), "OTP_TTL=7\nSYNC_RETENTION=9\n").unwrap();

    let here = config_lines(&natter(dir.path(), &["config"], &[]));
    assert_eq!(value_of(&here, "OTP_TTL"), "7");
    // A real variable wins over the file.
    let env_wins = config_lines(&natter(dir.path(), &["config"], &[("OTP_TTL", "8")]));
    assert_eq!(value_of(&env_wins, "OTP_TTL"), "8");
    // A .env one folder up is not this directory's.
    let below_lines = config_lines(&natter(&below, &["config"], &[]));
    assert_eq!(value_of(&below_lines, "OTP_TTL"), "300");

    std::fs::write(
        dir.path().join(".env"),
        "OTP_TTL=7\nAPP_KEY=\"unterminated secret value\nSYNC_RETENTION=9\n",
    )
    .unwrap();
    let line = the_error_line(&natter(dir.path(), &["serve"], &[]));
    assert!(line.contains(".env line 2 (APP_KEY)"), "{line}");
    assert!(!line.contains("unterminated secret"), "{line}");
    assert!(!dir.path().join("storage").exists());
}

/// A port on 127.0.0.1 nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn an_unreachable_database_fails_within_5_s_naming_address_and_cause() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    for scheme in ["postgres", "mysql", "mariadb"] {
        let url = format!("{scheme}://natter:pw@127.0.0.1:{port}/natter");
        let started = Instant::now();
        let output = natter(dir.path(), &["migrate"], &[("DATABASE_URL", &url)]);
        let took = started.elapsed();
        let line = the_error_line(&output);
        assert!(took < Duration::from_secs(5), "{scheme}: {took:?}");
        assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
        assert!(line.to_lowercase().contains("refused"), "{line}");
        assert!(!line.contains(":pw@"), "{line}");
    }

    // A server that accepts the connection and never answers: the start gives
    // up after 5 s and says so.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let url = format!("postgres://natter@127.0.0.1:{port}/natter");
    let started = Instant::now();
    let line = the_error_line(&natter(dir.path(), &["migrate"], &[("DATABASE_URL", &url)]));
    let took = started.elapsed();
    assert!(line.contains("no answer within 5 s"), "{line}");
    assert!(
        took >= Duration::from_secs(5) && took < Duration::from_secs(9),
        "{took:?}"
    );
    drop(silent);
}

#[test]
fn an_unreachable_redis_fails_within_5_s_naming_address_and_cause() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let redis = format!("redis://127.0.0.1:{port}");
    let storage = dir.path().display().to_string();
    // Redis is connected after the (SQLite) database is migrated: the
    // migrations' time is measured apart.
    let migrate = Instant::now();
    let migrated = natter(dir.path(), &["migrate"], &[("STORAGE_DIR", &storage)]);
    assert!(migrated.status.success(), "{migrated:?}");
    let migrations = migrate.elapsed();
    let started = Instant::now();
    let output = natter(
        dir.path(),
        &["serve"],
        &[
            ("STORAGE_DIR", &storage),
            ("HTTP_ADDR", "127.0.0.1:0"),
            ("REDIS_URL", &redis),
        ],
    );
    let took = started.elapsed();
    let line = the_error_line(&output);
    assert!(took < Duration::from_secs(5) + migrations, "{took:?}");
    assert!(line.contains(&format!("127.0.0.1:{port}")), "{line}");
    assert!(line.to_lowercase().contains("refused"), "{line}");
}

#[tokio::test]
async fn mariadb_urls_are_served_by_the_mysql_driver() {
    if !Backend::Mysql.available() {
        return;
    }
    let database = Backend::Mysql.scratch().await.unwrap();
    let url = database.url.replacen("mysql://", "mariadb://", 1);
    let dir = tempfile::tempdir().unwrap();
    let output = natter(dir.path(), &["migrate"], &[("DATABASE_URL", &url)]);
    assert!(output.status.success(), "{output:?}");
    assert!(text(&output.stderr).contains("migrations are up to date"));
}

#[test]
fn every_subcommand_follows_the_log_settings_without_colour_in_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().display().to_string();
    let run = |format: &str, level: &str| {
        let output = natter(
            dir.path(),
            &["migrate"],
            &[
                ("STORAGE_DIR", &storage),
                ("LOG_FORMAT", format),
                ("LOG_LEVEL", level),
            ],
        );
        assert!(output.status.success(), "{output:?}");
        text(&output.stderr)
    };
    let json = run("json", "info");
    let entries: Vec<serde_json::Value> = json
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(
        entries
            .iter()
            .any(|e| e["message"] == "migrations are up to date" && e["level"] == "INFO"),
        "{json}"
    );
    let plain = run("text", "info");
    assert!(plain.contains("migrations are up to date"), "{plain}");
    assert!(
        !plain.contains('\u{1b}'),
        "colour codes in a pipe: {plain:?}"
    );
    assert!(!run("text", "warn").contains("migrations are up to date"));
}

#[tokio::test]
async fn postgres_notices_are_debug_not_info() {
    if !Backend::Postgres.available() {
        return;
    }
    let database = Backend::Postgres.scratch().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = |level: &str| {
        let output = natter(
            dir.path(),
            &["migrate"],
            &[
                ("DATABASE_URL", &database.url),
                ("LOG_FORMAT", "json"),
                ("LOG_LEVEL", level),
            ],
        );
        assert!(output.status.success(), "{output:?}");
        text(&output.stderr)
    };
    // The first run creates the tables; the second meets "already exists" notices.
    run("info");
    let info = run("info");
    let debug = run("debug");
    assert!(debug.contains("already exists"), "{debug}");
    assert!(!info.contains("already exists"), "{info}");
}

backend_tests! {
    async fn otp_resend_seconds_0_means_no_wait(backend: Backend) {
        let server = TestServer::start_with(backend, |s| s.otp_resend_seconds = 0).await;
        let phone = unique_phone();
        for _ in 0..3 {
            server.client.send_otp(&phone, "1").await.expect("no wait between codes");
        }
        let waits = TestServer::start_with(backend, |s| s.otp_resend_seconds = 60).await;
        waits.client.send_otp(&phone, "1").await.unwrap();
        let again = waits.client.raw(
            Method::POST,
            "/api/auth/send-otp",
            Some(serde_json::json!({"phone_number": phone, "country_code": "1"})),
        ).await.unwrap();
        assert_eq!(again.status, 429);
    }

    async fn a_short_sync_retention_answers_410_within_seconds(backend: Backend) {
        let retention = 2;
        let server = TestServer::start_with(backend, |s| s.sync_retention = retention).await;
        let (ann, bob, chat) = server.pair().await;
        ann.client.send_text(chat, "soon gone").await.unwrap();
        // Every event of bob's so far was written by now; the oldest passes
        // retention by `passed` at the latest.
        let passed = Instant::now() + Duration::from_secs(retention);
        let gone = loop {
            let raw = bob.client.raw(Method::GET, "/api/sync?since=0", None).await.unwrap();
            if raw.status == 410 {
                break Instant::now();
            }
            assert_eq!(raw.status, 200, "{:?}", raw.body);
            assert!(
                Instant::now() < passed + Duration::from_secs(10),
                "no 410 ten seconds after retention passed"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let late = gone.saturating_duration_since(passed);
        assert!(late < Duration::from_secs(4), "410 came {late:?} after retention passed");
    }
}
