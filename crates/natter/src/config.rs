//! Every setting natter reads, in one place.
//!
//! Settings come from command-line flags, then the environment, then a `.env`
//! file in the working directory (loaded into the environment before parsing,
//! never overriding a variable that is already set; parent folders are not
//! searched). The clap definitions below are the one list of settings: the
//! checks, `natter config` and docs/configuration.md's test all read it, so a
//! setting added here needs no code elsewhere to be parsed, checked or shown. With nothing set, natter
//! runs in embedded mode: a SQLite file, in-process fan-out, SMS codes in the
//! log, everything kept under `./storage`.
//!
//! Nothing outside this module reads the environment.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::builder::ValueParser;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgAction, ArgMatches, Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::secrets::{random_token, warn_if_loose, write_private};

/// natter: a self-hostable WhatsApp-style messaging backend.
///
/// Speaks the HTTP API of the Laravel WhatsApp-clone guide and the Pusher
/// protocol (for pusher-js, laravel-echo and the Pusher mobile SDKs). Every
/// setting below can be given as a flag, as an environment variable, or in a
/// `.env` file in the working directory.
#[derive(Debug, Parser)]
#[command(name = "natter", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogSettings,

    #[command(subcommand)]
    pub command: Command,
}

/// How every subcommand logs (global: `natter migrate`, `natter jobs`, ... honour them too).
#[derive(Debug, Clone, Args)]
pub struct LogSettings {
    /// Log format: `text` for people (coloured only on a terminal), `json` for log collectors.
    #[arg(long, global = true, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log filter in tracing's syntax: a level (`off`, `error`, `warn`, `info`, `debug`,
    /// `trace`) and/or `target=level` directives (`info,natter=debug,tower_http=warn`).
    #[arg(long, global = true, env = "LOG_LEVEL", default_value = "info", value_parser = parse_log_filter)]
    pub log_level: String,
}

/// LOG_LEVEL must parse as tracing's filter, and every bare word must be a
/// level: tracing reads `verbose` as "everything from the target `verbose`",
/// which turns off every other log line without a word.
fn parse_log_filter(text: &str) -> Result<String, String> {
    let accepted = "expected a level (off, error, warn, info, debug, trace) or target=level directives, comma-separated";
    for directive in text.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        let bare = !directive.contains(['=', '[', ':']);
        if bare
            && directive
                .parse::<tracing_subscriber::filter::LevelFilter>()
                .is_err()
        {
            return Err(format!("unknown level '{directive}'; {accepted}"));
        }
    }
    tracing_subscriber::EnvFilter::builder()
        .parse(text)
        .map_err(|e| format!("{e}; {accepted}"))?;
    Ok(text.to_string())
}

/// The `natter` command line: [`Cli`]'s definition, with every boolean setting
/// taking the words people write in `.env` files, and a variable set to the
/// empty string counting as unset (as `NAME=` does in Laravel's `.env`).
pub fn command() -> clap::Command {
    adjust_args(Cli::command())
}

/// Parses `args` (the program name first) against [`command`]: the settings and
/// the matches `natter config` reads its lines from.
pub fn parse<I, T>(args: I) -> Result<(Cli, ArgMatches), clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut command = command();
    let matches = command.try_get_matches_from_mut(args)?;
    let cli = <Cli as clap::FromArgMatches>::from_arg_matches(&matches)
        .map_err(|err| err.format(&mut command))?;
    Ok((cli, matches))
}

fn adjust_args(command: clap::Command) -> clap::Command {
    let command = command.mut_args(|arg| {
        let arg = match arg.get_env() {
            Some(name) if std::env::var_os(name).is_some_and(|v| v.is_empty()) => {
                arg.env(None::<&str>)
            }
            _ => arg,
        };
        if arg.get_value_parser().type_id() != ValueParser::bool().type_id() {
            return arg;
        }
        // `--flag` alone still means true; `--flag no`, `FLAG=0` mean false.
        let needs_default = arg.get_default_values().is_empty();
        let arg = arg
            .action(ArgAction::Set)
            .value_parser(parse_bool)
            .num_args(0..=1)
            .default_missing_value("true");
        if needs_default {
            arg.default_value("false")
        } else {
            arg
        }
    });
    let names: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_string())
        .collect();
    names.into_iter().fold(command, |command, name| {
        command.mut_subcommand(name, adjust_args)
    })
}

/// What a boolean setting accepts.
const BOOLEAN_WORDS: &str = "expected true/false, 1/0, yes/no or on/off";

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(BOOLEAN_WORDS.to_string()),
    }
}

/// A parse error as one line naming the setting (by its environment name, with
/// its flag), the value and what is accepted; help and version as clap prints them.
pub fn explain(err: &clap::Error) -> String {
    let context = |kind| match err.get(kind) {
        Some(ContextValue::String(text)) => Some(text.clone()),
        Some(ContextValue::Strings(list)) => Some(list.join(", ")),
        _ => None,
    };
    if !matches!(
        err.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return first_line(&err.render().to_string());
    }
    let arg = context(ContextKind::InvalidArg).unwrap_or_default();
    let value = context(ContextKind::InvalidValue).unwrap_or_default();
    let accepted = match (
        context(ContextKind::ValidValue),
        std::error::Error::source(err),
    ) {
        (Some(valid), _) => format!("possible values: {valid}"),
        (None, Some(source)) if source.is::<std::num::ParseIntError>() => {
            format!("expected a whole number ({source})")
        }
        (None, Some(source)) if source.is::<std::net::AddrParseError>() => {
            format!("expected address:port, such as 0.0.0.0:8000 ({source})")
        }
        (None, Some(source)) => source.to_string(),
        (None, None) => first_line(&err.render().to_string()),
    };
    let flag = arg
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    match env_name_of(&flag) {
        Some(name) => format!("invalid {name}={value:?} ({flag}): {accepted}"),
        None => format!("invalid value {value:?} for {arg}: {accepted}"),
    }
}

fn first_line(rendered: &str) -> String {
    rendered
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ")
        .to_string()
}

/// The environment name of the setting whose flag is `--flag`, in any subcommand.
fn env_name_of(flag: &str) -> Option<String> {
    let long = flag.strip_prefix("--")?;
    fn find(command: &clap::Command, long: &str) -> Option<String> {
        let own = command
            .get_arguments()
            .find(|arg| arg.get_long() == Some(long))
            .and_then(|arg| arg.get_env())
            .map(|env| env.to_string_lossy().into_owned());
        own.or_else(|| command.get_subcommands().find_map(|sub| find(sub, long)))
    }
    find(&Cli::command(), long)
}

/// Loads `path` (the working directory's `.env`) into the environment, never
/// overriding a variable already set. A missing file is fine; a line that does not
/// parse stops the start, named by its number and its name (never its value, which
/// may be a secret).
pub fn load_dotenv(path: &Path) -> Result<(), String> {
    match dotenvy::from_path(path) {
        Ok(()) => Ok(()),
        Err(dotenvy::Error::Io(err)) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(dotenvy::Error::LineParse(line, _)) => {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            // The reported text runs on to the end of the file after an
            // unclosed quote: its first line is the one to name.
            let first = line.lines().next().unwrap_or_default().trim();
            let number = text
                .lines()
                .position(|l| l.trim() == first)
                .map(|i| format!(" line {}", i + 1))
                .unwrap_or_default();
            let name = line
                .split_once('=')
                .map(|(name, _)| format!(" ({})", name.trim()))
                .unwrap_or_default();
            Err(format!(
                "{}{number}{name} does not parse: expected NAME=value, the value quoted if it has spaces",
                path.display()
            ))
        }
        Err(err) => Err(format!("{}: {err}", path.display())),
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run pending migrations, then serve HTTP and WebSocket traffic until SIGTERM or Ctrl-C.
    Serve(Box<Settings>),
    /// Run pending database migrations and exit; `status` lists them, `down N`
    /// rolls back the last N.
    Migrate(MigrateArgs),
    /// Print the effective settings (secrets masked) and exit.
    Config(Box<Settings>),
    /// Inspect the job queue: counts by kind and state; `dead` lists dead jobs,
    /// `retry ID` queues one again, `drop ID` deletes one.
    Jobs(JobsArgs),
    /// Copy a SQLite database to FILE while natter runs (PostgreSQL and MySQL:
    /// see docs/operations.md).
    Backup(BackupArgs),
    /// Accounts: `list`, `show ID|PHONE`, `ban ID`, `unban ID`, `delete ID`.
    Users(AdminArgs<UsersAction>),
    /// Login sessions: `revoke USER` signs a user out everywhere.
    Sessions(AdminArgs<SessionsAction>),
    /// Counts of users, chats and messages, and open sockets by node.
    Stats(Box<Settings>),
}

/// `natter migrate [status|down N]`.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(subcommand)]
    pub action: Option<MigrateAction>,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum MigrateAction {
    /// List every migration, applied or pending.
    Status,
    /// Roll back the last N applied migrations.
    Down {
        #[arg(value_parser = clap::value_parser!(u32).range(1..))]
        n: u32,
    },
}

/// `natter backup FILE`.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub database: DatabaseSettings,

    /// Where to write the copy; must not exist.
    pub file: PathBuf,
}

/// An admin command: the server's settings (it reaches the same database and
/// Redis) and what to do.
#[derive(Debug, Clone, Args)]
pub struct AdminArgs<A: Subcommand> {
    #[command(flatten)]
    pub settings: Box<Settings>,

    #[command(subcommand)]
    pub action: A,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum UsersAction {
    /// Newest accounts first: id, phone, name, created, banned.
    List {
        /// Most accounts to list.
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// One account, by id or by phone number (E.164, such as +12125550100).
    Show { user: String },
    /// Bans an account: it cannot sign in, and every login ends now.
    Ban { id: i64 },
    /// Lifts a ban.
    Unban { id: i64 },
    /// Deletes an account as DELETE /api/auth/account does.
    Delete { id: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum SessionsAction {
    /// Ends every login session of a user; their sockets close.
    Revoke { user: i64 },
}

/// `natter jobs [dead|retry ID|drop ID]`.
#[derive(Debug, Clone, Args)]
pub struct JobsArgs {
    #[command(flatten)]
    pub database: DatabaseSettings,

    #[command(subcommand)]
    pub action: Option<JobsAction>,
}

#[derive(Debug, Clone, PartialEq, Eq, Subcommand)]
pub enum JobsAction {
    /// List dead jobs, most recently failed first.
    Dead {
        /// Most jobs to list.
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Queue a dead job again, with a fresh count of attempts.
    Retry { id: i64 },
    /// Delete a queued or dead job.
    Drop { id: i64 },
}

/// Where the data lives.
#[derive(Debug, Clone, Args)]
pub struct DatabaseSettings {
    /// Database to use: `sqlite://path/to/file.db`, `postgres://user:pass@host/db` or
    /// `mysql://user:pass@host/db` (MySQL or MariaDB). Defaults to a SQLite file in STORAGE_DIR.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// Folder for the files natter keeps locally: the default SQLite database,
    /// generated secrets (app.key, reverb.secret) and the SMS outbox. Created if missing.
    #[arg(long, env = "STORAGE_DIR", default_value = "storage")]
    pub storage_dir: PathBuf,

    /// Largest number of pooled database connections (for SQLite: read connections;
    /// writes always go through one connection).
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_max_connections: u32,
}

impl DatabaseSettings {
    /// The database URL, with the embedded default filled in. `mariadb://` is
    /// MySQL's driver (the two speak the same protocol).
    pub fn url(&self) -> String {
        match &self.database_url {
            Some(url) => match url.strip_prefix("mariadb://") {
                Some(rest) => format!("mysql://{rest}"),
                None => url.clone(),
            },
            None => format!(
                "sqlite://{}?mode=rwc",
                self.storage_dir.join("natter.db").display()
            ),
        }
    }
}

/// Which proxies' X-Forwarded-For entries are believed (TRUSTED_PROXIES).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustedProxies {
    /// This many proxies stand in front of natter, one behind the other.
    Hops(u8),
    /// Proxies at these networks: (network address, prefix length).
    Networks(Vec<(IpAddr, u8)>),
}

impl TrustedProxies {
    /// Whether `ip` is a trusted proxy (always false for a hop count).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let TrustedProxies::Networks(networks) = self else {
            return false;
        };
        networks.iter().any(|(net, len)| in_network(ip, *net, *len))
    }
}

fn in_network(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    let (ip, net, bits) = match (ip.to_canonical(), net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u32::from(a) as u128, u32::from(b) as u128, 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    let len = u32::from(len).min(bits);
    if len == 0 {
        return true;
    }
    let shift = bits - len;
    (ip >> shift) == (net >> shift)
}

fn parse_trusted_proxies(text: &str) -> Result<TrustedProxies, String> {
    let text = text.trim();
    if let Ok(hops) = text.parse::<u8>() {
        return Ok(TrustedProxies::Hops(hops));
    }
    let mut networks = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (addr, len) = match part.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (part, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{part} is not an address or CIDR"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(len) => len
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("{part} has a bad prefix length"))?,
            None => max,
        };
        networks.push((addr, len));
    }
    if networks.is_empty() {
        return Err("expected a hop count or a list of CIDRs".into());
    }
    Ok(TrustedProxies::Networks(networks))
}

/// One entry of CORS_ALLOWED_ORIGINS: `*`, or `scheme://host[:port]` as a browser
/// sends it in `Origin` (lower case, no path; a trailing `/` is dropped).
fn parse_origin(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text == "*" {
        return Ok(text.to_string());
    }
    let origin = text.trim_end_matches('/').to_ascii_lowercase();
    let host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    match host {
        Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', '@', ' ']) => Ok(origin),
        _ => Err(format!(
            "{text:?} is not an origin: expected `*` or scheme://host[:port] (http or https, no path)"
        )),
    }
}

/// Everything `natter serve` needs.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    #[command(flatten)]
    pub database: DatabaseSettings,

    /// Address and port to listen on for HTTP and WebSocket traffic.
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8000")]
    pub http_addr: SocketAddr,

    /// PEM file with the TLS certificate chain (leaf first). With TLS_KEY, HTTP_ADDR serves HTTPS
    /// and WSS instead of plain HTTP; both files are read again on SIGHUP. Unset: plain HTTP
    /// (put natter behind a TLS-terminating proxy, docs/deployment.md).
    #[arg(long, env = "TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// PEM file with the private key of TLS_CERT (PKCS#8, PKCS#1 or SEC1). Set both or neither.
    #[arg(long, env = "TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// Public base URL of this server, used in invite links.
    #[arg(long, env = "APP_URL", default_value = "http://localhost:8000")]
    pub app_url: String,

    /// Secret used to hash OTP codes and sign URLs (at least 32 characters). Every node of a
    /// cluster needs the same one. When unset, one is generated into STORAGE_DIR/app.key.
    #[arg(long, env = "APP_KEY", hide_env_values = true)]
    pub app_key: Option<String>,

    /// Redis URL (`redis://127.0.0.1:6379`). When set, events, presence and rate limits are
    /// shared through Redis so several natter nodes can serve the same users. When unset,
    /// everything stays in this process.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Identifier of this node in a cluster (defaults to a random one at start).
    #[arg(long, env = "NODE_ID")]
    pub node_id: Option<String>,

    /// Pusher application id (the guide's REVERB_APP_ID).
    #[arg(long, env = "REVERB_APP_ID", default_value = "natter")]
    pub reverb_app_id: String,

    /// Pusher application key, the public key clients put in their WebSocket URL
    /// (`/app/{key}`) and in `new Pusher(key, ...)`.
    #[arg(long, env = "REVERB_APP_KEY", default_value = "natter-key")]
    pub reverb_app_key: String,

    /// Pusher application secret that signs channel authorisations. Every node of a cluster
    /// needs the same one. When unset, one is generated into STORAGE_DIR/reverb.secret.
    #[arg(long, env = "REVERB_APP_SECRET", hide_env_values = true)]
    pub reverb_app_secret: Option<String>,

    /// How SMS codes are sent: `log` writes the code to the server log, `outbox` appends a
    /// JSON line per SMS to SMS_OUTBOX_PATH, `twilio` sends through Twilio's REST API.
    #[arg(long, env = "SMS_DRIVER", value_enum, default_value_t = SmsDriverKind::Log)]
    pub sms_driver: SmsDriverKind,

    /// File the `outbox` SMS driver appends to (default STORAGE_DIR/sms-outbox.jsonl).
    #[arg(long, env = "SMS_OUTBOX_PATH")]
    pub sms_outbox_path: Option<PathBuf>,

    /// Twilio account SID (required with SMS_DRIVER=twilio).
    #[arg(long, env = "TWILIO_SID")]
    pub twilio_sid: Option<String>,

    /// Twilio auth token (required with SMS_DRIVER=twilio).
    #[arg(long, env = "TWILIO_TOKEN", hide_env_values = true)]
    pub twilio_token: Option<String>,

    /// Twilio sender number in E.164 (required with SMS_DRIVER=twilio).
    #[arg(long, env = "TWILIO_FROM")]
    pub twilio_from: Option<String>,

    /// Base URL of Twilio's API (change only to point at a test double).
    #[arg(long, env = "TWILIO_API_URL", default_value = "https://api.twilio.com")]
    pub twilio_api_url: String,

    /// Seconds an OTP code stays valid.
    #[arg(long, env = "OTP_TTL", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=MAX_SECONDS))]
    pub otp_ttl: u64,

    /// Wrong guesses after which an OTP code dies.
    #[arg(long, env = "OTP_MAX_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub otp_max_attempts: u32,

    /// Seconds before another code may be sent to the same number.
    #[arg(long, env = "OTP_RESEND_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=MAX_SECONDS))]
    pub otp_resend_seconds: u64,

    /// Codes one number may receive per hour.
    #[arg(long, env = "OTP_RATE_PER_NUMBER_PER_HOUR", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub otp_rate_per_number_per_hour: u32,

    /// Codes one client IP address may request per hour.
    #[arg(long, env = "OTP_RATE_PER_IP_PER_HOUR", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub otp_rate_per_ip_per_hour: u32,

    /// Code checks (`verify-otp`, right or wrong) one client IP address may make per hour.
    #[arg(long, env = "OTP_VERIFY_PER_IP_PER_HOUR", default_value_t = 60)]
    pub otp_verify_per_ip_per_hour: u32,

    /// Code checks one phone number may get per hour, from any address.
    #[arg(long, env = "OTP_VERIFY_PER_NUMBER_PER_HOUR", default_value_t = 20)]
    pub otp_verify_per_number_per_hour: u32,

    /// Seconds a link code (linking a new device from a signed-in one) stays valid.
    #[arg(long, env = "LINK_CODE_TTL", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub link_code_ttl: u64,

    /// Messages one user may send per minute (a sliding window, so bursts pass;
    /// 0 turns the limit off).
    #[arg(long, env = "SENDS_PER_MINUTE", default_value_t = 300)]
    pub sends_per_minute: u32,

    /// Typing notices (`POST /api/chats/{chat}/typing`) one user may send per minute (0: off).
    #[arg(long, env = "TYPING_PER_MINUTE", default_value_t = 120)]
    pub typing_per_minute: u32,

    /// Other users' profiles (`GET /api/users/{id}`) one user may look up per hour (0: off).
    #[arg(long, env = "USER_LOOKUPS_PER_HOUR", default_value_t = 600)]
    pub user_lookups_per_hour: u32,

    /// Seconds an access token lives.
    #[arg(long, env = "ACCESS_TOKEN_TTL", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..=MAX_SECONDS))]
    pub access_token_ttl: u64,

    /// Seconds a refresh token lives.
    #[arg(long, env = "REFRESH_TOKEN_TTL", default_value_t = 1_209_600, value_parser = clap::value_parser!(u64).range(1..=MAX_SECONDS))]
    pub refresh_token_ttl: u64,

    /// Contact-sync calls one user may make per hour.
    #[arg(long, env = "CONTACT_SYNC_PER_HOUR", default_value_t = 10)]
    pub contact_sync_per_hour: u32,

    /// Statuses one user may post in 24 hours (WhatsApp's figure; each goes
    /// into every mutual contact's feed and sync log).
    #[arg(long, env = "STATUSES_PER_DAY", default_value_t = 30)]
    pub statuses_per_day: u32,

    /// Seconds after sending during which a text message may be edited.
    #[arg(long, env = "MESSAGE_EDIT_WINDOW", default_value_t = 900, value_parser = clap::value_parser!(u64).range(0..=MAX_SECONDS))]
    pub message_edit_window: u64,

    /// Seconds the sync log keeps events; older `since` values get 410.
    #[arg(long, env = "SYNC_RETENTION", default_value_t = 2_592_000, value_parser = clap::value_parser!(u64).range(1..=MAX_SECONDS))]
    pub sync_retention: u64,

    /// Most members a group may have.
    #[arg(long, env = "GROUP_MAX_MEMBERS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(2..=100_000))]
    pub group_max_members: u32,

    /// Largest JSON request body in bytes; larger ones get 413.
    #[arg(long, env = "MAX_JSON_BODY_BYTES", default_value_t = 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..=64 * 1024 * 1024))]
    pub max_json_body_bytes: u64,

    /// Largest total size of a request's headers in bytes (names, values and
    /// separators); larger ones get 431. At most 256 KiB, below hyper's own
    /// read buffer, so this setting is what decides.
    #[arg(long, env = "MAX_HEADER_BYTES", default_value_t = 16 * 1024, value_parser = clap::value_parser!(u64).range(1024..=256 * 1024))]
    pub max_header_bytes: u64,

    /// The proxies in front of natter whose X-Forwarded-For entries are believed: a
    /// comma-separated list of addresses or CIDRs (`10.0.0.0/8,192.168.1.7`), or a
    /// hop count (`1`: one proxy). The client IP is then the right-most address
    /// not a trusted proxy. Unset: X-Forwarded-For is ignored.
    #[arg(long, env = "TRUSTED_PROXIES", value_parser = parse_trusted_proxies)]
    pub trusted_proxies: Option<TrustedProxies>,

    /// The older switch for one proxy in front of natter: `true` is `TRUSTED_PROXIES=1`
    /// (ignored when TRUSTED_PROXIES is set). Kept so existing `.env` files keep working.
    #[arg(long, env = "TRUST_PROXY_HEADERS", default_value_t = false)]
    pub trust_proxy_headers: bool,
    /// Origins whose web pages may call the API from a browser (CORS), comma-separated
    /// (`https://app.example.com,http://localhost:5173`); `*` allows every origin. Unset:
    /// none. The web client natter serves is same-origin and mobile apps are not browsers,
    /// so neither needs an entry.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = parse_origin)]
    pub cors_allowed_origins: Vec<String>,

    /// Serve `/metrics` on an address of its own (`127.0.0.1:9100`), for a scraper on a
    /// private network; HTTP_ADDR then answers 404 there. Unset: `/metrics` is on HTTP_ADDR.
    #[arg(long, env = "METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Require `Authorization: Bearer <token>` on `/metrics` (at least 16 characters),
    /// wherever it is served. Unset: no token asked.
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Connections the kernel holds for HTTP_ADDR before natter accepts them (the listen
    /// backlog; the kernel caps it at `net.core.somaxconn`). 128 overflowed when 800 clients
    /// connected at once, and each overflowed client waited a second for its SYN retry.
    #[arg(long, env = "LISTEN_BACKLOG", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(16..=65_535))]
    pub listen_backlog: u32,

    /// Most messages written in one group-commit transaction.
    #[arg(long, env = "WRITER_MAX_BATCH", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub writer_max_batch: u32,

    /// Seconds of silence after which a client should ping (sent to clients as
    /// `activity_timeout`); a socket silent for twice as long is closed.
    #[arg(long, env = "WS_ACTIVITY_TIMEOUT", default_value_t = 120, value_parser = clap::value_parser!(u64).range(5..=3600))]
    pub ws_activity_timeout: u64,

    /// Frames queued for one socket before it is considered too slow and closed with 4200.
    #[arg(long, env = "WS_OUTBOUND_QUEUE", default_value_t = 512, value_parser = clap::value_parser!(u32).range(8..=65_536))]
    pub ws_outbound_queue: u32,

    /// Largest frame a client may send, in bytes.
    #[arg(long, env = "WS_MAX_FRAME_BYTES", default_value_t = 10 * 1024, value_parser = clap::value_parser!(u32).range(256..=1024 * 1024))]
    pub ws_max_frame_bytes: u32,

    /// Sockets one user may hold open on one node.
    #[arg(long, env = "WS_MAX_CONNECTIONS_PER_USER", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub ws_max_connections_per_user: u32,

    /// Client events (whispers) one socket may send per second; more are dropped with
    /// `pusher:error` 4301.
    #[arg(long, env = "CLIENT_EVENTS_PER_SECOND", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub client_events_per_second: u32,

    /// Seconds one write to a socket may take; a client that stops reading is
    /// closed (4200) and its connection dropped after this long.
    #[arg(long, env = "WS_WRITE_TIMEOUT", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub ws_write_timeout: u64,

    /// Channels one socket may subscribe to; more are refused with `pusher:error` 4303.
    #[arg(long, env = "WS_MAX_SUBSCRIPTIONS", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub ws_max_subscriptions: u32,

    /// Sockets one IP address may hold open on one node before they belong to a
    /// user; more are closed with 4100.
    #[arg(long, env = "WS_MAX_ANONYMOUS_PER_IP", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub ws_max_anonymous_per_ip: u32,

    /// Seconds a node trusts its cached view of access tokens and user names (0
    /// disables). A logout or profile change made on another node is seen within
    /// this long; on the node that made it, at once.
    #[arg(long, env = "CACHE_TTL", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=300))]
    pub cache_ttl: u64,

    #[command(flatten)]
    pub media: MediaSettings,

    #[command(flatten)]
    pub calls: CallSettings,

    /// Seconds a status stays visible after it is posted; then every read leaves it out and
    /// the `statuses.expire` job removes it and its media.
    #[arg(long, env = "STATUS_TTL", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..=MAX_SECONDS))]
    pub status_ttl: u64,

    /// For tests only: one more value (seconds) the disappearing-messages timer accepts besides
    /// off, 24 h, 7 d and 90 d; unset in production. The expiry sweep runs every quarter of the
    /// shortest allowed timer, between 1 and 30 seconds.
    #[arg(long, env = "DISAPPEARING_TEST_SECONDS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub disappearing_test_seconds: Option<u64>,

    #[command(flatten)]
    pub pusher: PusherSettings,

    /// Jobs (pushes, pruning, retention) one node runs at once.
    #[arg(long, env = "JOB_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub job_concurrency: u32,

    /// Seconds between an idle node's looks for due jobs; a job enqueued on this node wakes it
    /// at once.
    #[arg(long, env = "JOB_POLL_INTERVAL", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub job_poll_interval: u64,

    /// Seconds a node holds a job it runs before renewing its hold (renewed every third of it).
    /// The jobs of a node that died are taken over by other nodes this long after.
    #[arg(long, env = "JOB_LEASE", default_value_t = 60, value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub job_lease: u64,

    /// Registers the `natter.probe` job kind, which records each job's key in
    /// STORAGE_DIR/job-probe.log (for the crash tests; not for production).
    #[arg(long, env = "JOB_PROBE", hide = true, default_value_t = false)]
    pub job_probe: bool,

    /// How pushes are sent, as a comma-separated list: `log` (writes one line per push), `webhook`
    /// (signed JSON POST), `fcm`, `apns`, `webpush`. A device goes to the driver named after its
    /// platform when listed, otherwise to `webhook` or `log` when listed.
    #[arg(
        long,
        env = "PUSH_DRIVER",
        value_enum,
        value_delimiter = ',',
        default_value = "log"
    )]
    pub push_driver: Vec<PushDriverKind>,

    /// URL the `webhook` push driver posts to for devices whose token is not itself an http(s) URL.
    #[arg(long, env = "PUSH_WEBHOOK_URL")]
    pub push_webhook_url: Option<String>,

    /// Secret the `webhook` push driver signs each body with (HMAC-SHA256, see docs/push.md);
    /// at least 16 characters. Required with PUSH_DRIVER=webhook.
    #[arg(long, env = "PUSH_WEBHOOK_SECRET", hide_env_values = true)]
    pub push_webhook_secret: Option<String>,

    /// Let devices name push targets (webhook URLs, Web Push endpoints) on private, loopback or
    /// link-local addresses, and plain `http://`. Off in production: the server would POST
    /// wherever a client asks. Tests turn it on for receivers on 127.0.0.1.
    #[arg(long, env = "PUSH_ALLOW_PRIVATE_TARGETS", default_value_t = false)]
    pub push_allow_private_targets: bool,

    /// Firebase service-account JSON file (the key downloaded from the Firebase console).
    /// Required with PUSH_DRIVER=fcm.
    #[arg(long, env = "FCM_SERVICE_ACCOUNT_FILE")]
    pub fcm_service_account_file: Option<PathBuf>,

    /// Base URL of the FCM HTTP v1 API (change only to point at a test double).
    #[arg(
        long,
        env = "FCM_API_URL",
        default_value = "https://fcm.googleapis.com"
    )]
    pub fcm_api_url: String,

    /// OAuth token URL for FCM (default: the service account's `token_uri`).
    #[arg(long, env = "FCM_TOKEN_URL")]
    pub fcm_token_url: Option<String>,

    /// APNs signing key file (`AuthKey_XXXXXXXXXX.p8`). Required with PUSH_DRIVER=apns.
    #[arg(long, env = "APNS_KEY_FILE")]
    pub apns_key_file: Option<PathBuf>,

    /// Key ID of APNS_KEY_FILE (10 characters). Required with PUSH_DRIVER=apns.
    #[arg(long, env = "APNS_KEY_ID")]
    pub apns_key_id: Option<String>,

    /// Apple developer team ID. Required with PUSH_DRIVER=apns.
    #[arg(long, env = "APNS_TEAM_ID")]
    pub apns_team_id: Option<String>,

    /// The app's bundle ID (VoIP pushes for calls go to `<topic>.voip`). Required with
    /// PUSH_DRIVER=apns.
    #[arg(long, env = "APNS_TOPIC")]
    pub apns_topic: Option<String>,

    /// APNs endpoint: `https://api.push.apple.com` (production) or
    /// `https://api.sandbox.push.apple.com` (development builds of the app).
    #[arg(
        long,
        env = "APNS_API_URL",
        default_value = "https://api.push.apple.com"
    )]
    pub apns_api_url: String,

    /// VAPID private key for Web Push: a file (PEM, or the base64url key) or the base64url-encoded
    /// 32-byte P-256 key itself. Required with PUSH_DRIVER=webpush.
    #[arg(long, env = "VAPID_PRIVATE_KEY", hide_env_values = true)]
    pub vapid_private_key: Option<String>,

    /// Contact for push services, `mailto:` or `https:` URL. Required with PUSH_DRIVER=webpush.
    #[arg(long, env = "VAPID_SUBJECT")]
    pub vapid_subject: Option<String>,
    /// Serve the web client at `/` (its files are built into the binary). `false` leaves every
    /// path outside the API to the JSON 404.
    #[arg(long, env = "WEB_CLIENT", default_value_t = true)]
    pub web_client: bool,

    /// Development only: let the web client show sign-in codes (read from the SMS outbox through
    /// `GET /api/dev/sms-code`). Refused unless SMS_DRIVER=outbox; never on by default.
    #[arg(long, env = "WEB_DEV_SHOW_CODES", default_value_t = false)]
    pub web_dev_show_codes: bool,
}

impl Settings {
    /// SMS_OUTBOX_PATH with its default filled in.
    pub fn sms_outbox_path(&self) -> PathBuf {
        self.sms_outbox_path
            .clone()
            .unwrap_or_else(|| self.database.storage_dir.join("sms-outbox.jsonl"))
    }

    /// MEDIA_ROOT with its default filled in.
    pub fn media_root(&self) -> PathBuf {
        self.media
            .media_root
            .clone()
            .unwrap_or_else(|| self.database.storage_dir.join("media"))
    }

    /// The checks clap cannot do (settings that depend on each other), without
    /// touching any file.
    pub fn check(&self) -> Result<(), SettingError> {
        check_cross_field(self)
    }
}

/// The Pusher HTTP API and webhooks (docs/realtime.md, "Coming from Reverb").
#[derive(Debug, Clone, Args)]
pub struct PusherSettings {
    /// Largest `data` of one event published through the Pusher HTTP API
    /// (`POST /apps/{id}/events`), in bytes; larger ones get 413 (Pusher's limit is 10 KiB).
    #[arg(long, env = "PUSHER_MAX_EVENT_BYTES", default_value_t = 10 * 1024, value_parser = clap::value_parser!(u32).range(256..=1024 * 1024))]
    pub pusher_max_event_bytes: u32,

    /// Where Pusher webhooks go (channel_occupied, channel_vacated, member_added,
    /// member_removed, client_event), as a comma-separated list of http(s) URLs. Unset: none.
    #[arg(long, env = "PUSHER_WEBHOOK_URL", value_delimiter = ',')]
    pub pusher_webhook_url: Vec<String>,

    /// Which webhook events are sent, as a comma-separated list.
    #[arg(
        long,
        env = "PUSHER_WEBHOOK_EVENTS",
        value_enum,
        value_delimiter = ',',
        default_value = "channel_occupied,channel_vacated,member_added,member_removed,client_event"
    )]
    pub pusher_webhook_events: Vec<WebhookEventKind>,
}

/// A kind of Pusher webhook event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
#[value(rename_all = "snake_case")]
pub enum WebhookEventKind {
    ChannelOccupied,
    ChannelVacated,
    MemberAdded,
    MemberRemoved,
    ClientEvent,
}

/// Where uploaded media live and how large they may be (docs/media.md).
#[derive(Debug, Clone, Args)]
pub struct MediaSettings {
    /// Where media files are stored: `local` (a folder, MEDIA_ROOT) or `s3` (any S3-compatible
    /// store, AWS_* settings).
    #[arg(long, env = "MEDIA_DISK", value_enum, default_value_t = MediaDiskKind::Local)]
    pub media_disk: MediaDiskKind,

    /// Folder of the `local` disk, and of upload temp files on every disk (default
    /// STORAGE_DIR/media). Created if missing.
    #[arg(long, env = "MEDIA_ROOT")]
    pub media_root: Option<PathBuf>,

    /// Seconds a signed media or avatar URL stays valid (at least 3600, at most 604800).
    #[arg(long, env = "MEDIA_URL_TTL", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(3600..=604_800))]
    pub media_url_ttl: u64,

    /// Largest image upload in bytes.
    #[arg(long, env = "MEDIA_MAX_BYTES_IMAGE", default_value_t = 16 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..=MAX_UPLOAD_LIMIT))]
    pub media_max_bytes_image: u64,

    /// Largest video upload in bytes.
    #[arg(long, env = "MEDIA_MAX_BYTES_VIDEO", default_value_t = 64 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..=MAX_UPLOAD_LIMIT))]
    pub media_max_bytes_video: u64,

    /// Largest audio upload in bytes.
    #[arg(long, env = "MEDIA_MAX_BYTES_AUDIO", default_value_t = 16 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..=MAX_UPLOAD_LIMIT))]
    pub media_max_bytes_audio: u64,

    /// Largest document upload in bytes.
    #[arg(long, env = "MEDIA_MAX_BYTES_DOCUMENT", default_value_t = 100 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..=MAX_UPLOAD_LIMIT))]
    pub media_max_bytes_document: u64,

    /// Widest or tallest image accepted, in pixels; larger ones get 422 before decoding.
    #[arg(long, env = "MEDIA_IMAGE_MAX_SIDE", default_value_t = 16_384, value_parser = clap::value_parser!(u32).range(320..=65_535))]
    pub media_image_max_side: u32,

    /// Most memory one image decode may allocate, in bytes; larger images get 422.
    #[arg(long, env = "MEDIA_IMAGE_MAX_ALLOC", default_value_t = 256 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024 * 1024..=4 * 1024 * 1024 * 1024))]
    pub media_image_max_alloc: u64,

    /// Seconds an unreferenced file is kept after a request was last handed it
    /// (an upload of the same bytes not yet referenced), before collection may
    /// remove it.
    #[arg(long, env = "MEDIA_COLLECT_GRACE", default_value_t = 600, value_parser = clap::value_parser!(u64).range(0..=MAX_SECONDS))]
    pub media_collect_grace: u64,

    /// S3 access key id (MEDIA_DISK=s3). When unset, object_store's usual credential
    /// sources (web identity, instance metadata) are tried.
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub aws_access_key_id: Option<String>,

    /// S3 secret access key (MEDIA_DISK=s3).
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub aws_secret_access_key: Option<String>,

    /// S3 region (MEDIA_DISK=s3).
    #[arg(long, env = "AWS_DEFAULT_REGION", default_value = "us-east-1")]
    pub aws_default_region: String,

    /// S3 bucket (required with MEDIA_DISK=s3).
    #[arg(long, env = "AWS_BUCKET")]
    pub aws_bucket: Option<String>,

    /// S3 endpoint for S3-compatible stores (MinIO, Ceph, ...); AWS when unset.
    #[arg(long, env = "AWS_ENDPOINT")]
    pub aws_endpoint: Option<String>,

    /// Address buckets as `endpoint/bucket` instead of `bucket.endpoint` (what most
    /// S3-compatible stores need).
    #[arg(long, env = "AWS_USE_PATH_STYLE_ENDPOINT", default_value_t = false)]
    pub aws_use_path_style_endpoint: bool,
}

/// Calls: ringing, signalling and TURN (docs/calls.md).
#[derive(Debug, Clone, Args)]
pub struct CallSettings {
    /// Seconds a call rings before the callees who have not answered count as `missed`.
    #[arg(long, env = "CALL_RING_TIMEOUT", default_value_t = 45, value_parser = clap::value_parser!(u64).range(1..=MAX_SECONDS))]
    pub call_ring_timeout: u64,

    /// Seconds a user joined to a call may be offline (no socket open) before they
    /// are taken out of it: a call whose people vanished without hanging up ends.
    #[arg(long, env = "CALL_OFFLINE_GRACE", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=MAX_SECONDS))]
    pub call_offline_grace: u64,

    /// Calls one user may start per minute (each rings every device of its callees,
    /// by push too); past it `POST /api/calls` answers 429. 0: off.
    #[arg(long, env = "CALLS_PER_MINUTE", default_value_t = 10)]
    pub calls_per_minute: u32,

    /// Signalling messages one user may relay per 10 seconds (`POST /api/calls/{call}/signal`:
    /// an offer or answer, then a few dozen ICE candidates at the start of a call); past it
    /// 429, so nobody floods the other side's sockets. 0: off.
    #[arg(long, env = "CALL_SIGNALS_PER_10_SECONDS", default_value_t = 100)]
    pub call_signals_per_10_seconds: u32,

    /// Largest `payload` of one signalling message (`POST /api/calls/{call}/signal`), in bytes
    /// of JSON. An SDP offer with many candidates is a few KiB.
    #[arg(long, env = "CALL_SIGNAL_MAX_BYTES", default_value_t = 64 * 1024, value_parser = clap::value_parser!(u64).range(256..=1024 * 1024))]
    pub call_signal_max_bytes: u64,

    /// Secret shared with the TURN server (coturn's `static-auth-secret`). Without it
    /// `GET /api/calls/turn-credentials` answers 503.
    #[arg(long, env = "TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,

    /// TURN/STUN URLs handed to clients, comma-separated
    /// (`turn:turn.example.com:3478?transport=udp,turns:turn.example.com:5349`).
    #[arg(long, env = "TURN_URLS", value_delimiter = ',')]
    pub turn_urls: Vec<String>,

    /// Seconds TURN credentials stay valid.
    #[arg(long, env = "TURN_TTL", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..=MAX_SECONDS))]
    pub turn_ttl: u64,
}

/// The longest duration a setting may ask for: 100 years, in seconds. Any positive
/// number of seconds up to it is accepted; it keeps every deadline computed from a
/// setting (in milliseconds since 1970) far from overflowing.
pub const MAX_SECONDS: u64 = 100 * 365 * 24 * 3600;

/// The largest per-type upload limit a setting may ask for (4 GiB).
pub const MAX_UPLOAD_LIMIT: u64 = 4 * 1024 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MediaDiskKind {
    Local,
    S3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SmsDriverKind {
    Log,
    Outbox,
    Twilio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum PushDriverKind {
    Log,
    Webhook,
    Fcm,
    Apns,
    Webpush,
}

impl PushDriverKind {
    pub fn name(self) -> &'static str {
        match self {
            PushDriverKind::Log => "log",
            PushDriverKind::Webhook => "webhook",
            PushDriverKind::Fcm => "fcm",
            PushDriverKind::Apns => "apns",
            PushDriverKind::Webpush => "webpush",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// A setting that cannot work, named the way the user set it.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}: {reason}")]
pub struct SettingError {
    pub name: &'static str,
    pub reason: String,
}

fn setting_error(name: &'static str, reason: impl Into<String>) -> SettingError {
    SettingError {
        name,
        reason: reason.into(),
    }
}

/// Settings after the checks clap cannot do and with generated secrets filled in.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub database_url: String,
    pub app_key: String,
    pub reverb_app_secret: String,
    pub node_id: String,
    pub sms_outbox_path: PathBuf,
    /// MEDIA_ROOT with its default filled in.
    pub media_root: PathBuf,
}

impl Config {
    /// Checks the settings and fills in generated secrets. Creates STORAGE_DIR when it needs it.
    pub fn resolve(settings: Settings) -> Result<Config, SettingError> {
        check_cross_field(&settings)?;
        let storage = settings.database.storage_dir.clone();
        let needs_storage = settings.database.database_url.is_none()
            || settings.app_key.is_none()
            || settings.reverb_app_secret.is_none()
            || settings.sms_driver == SmsDriverKind::Outbox;
        if needs_storage {
            std::fs::create_dir_all(&storage)
                .map_err(|e| setting_error("STORAGE_DIR", format!("{}: {e}", storage.display())))?;
        }
        let app_key = match &settings.app_key {
            Some(key) if key.len() < 32 => {
                return Err(setting_error("APP_KEY", "must be at least 32 characters"));
            }
            Some(key) => key.clone(),
            None => generated_secret(&storage.join("app.key"), "APP_KEY")?,
        };
        let reverb_app_secret = match &settings.reverb_app_secret {
            Some(secret) if secret.is_empty() => {
                return Err(setting_error("REVERB_APP_SECRET", "must not be empty"));
            }
            Some(secret) => secret.clone(),
            None => generated_secret(&storage.join("reverb.secret"), "REVERB_APP_SECRET")?,
        };
        let node_id = settings.node_id.clone().unwrap_or_else(|| random_token(8));
        let sms_outbox_path = settings.sms_outbox_path();
        let media_root = settings.media_root();
        let mut settings = settings;
        if settings.trust_proxy_headers && settings.trusted_proxies.is_none() {
            settings.trusted_proxies = Some(TrustedProxies::Hops(1));
        }
        Ok(Config {
            database_url: settings.database.url(),
            media_root,
            app_key,
            reverb_app_secret,
            node_id,
            sms_outbox_path,
            settings,
        })
    }

    /// Whether browsers reach this server over TLS: natter serves TLS itself
    /// (TLS_CERT), or APP_URL is `https://` (a TLS proxy in front).
    /// Decides the Strict-Transport-Security header; browsers ignore it over
    /// plain HTTP anyway, so a proxy that terminates TLS is covered as well.
    pub fn public_tls(&self) -> bool {
        self.settings.tls_cert.is_some()
            || self
                .settings
                .app_url
                .get(..8)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
    }

    pub fn otp_ttl(&self) -> Duration {
        Duration::from_secs(self.settings.otp_ttl)
    }

    /// Keys and channels natter uses in Redis start with this, so several natter
    /// installations (or test runs) can share one Redis.
    pub fn redis_prefix(&self) -> String {
        format!("natter:{}:", self.settings.reverb_app_id)
    }
}

/// `natter config`: one `NAME=value` line per setting `natter serve` takes
/// (`matches`: those of `natter config`, which takes the same), in the order they are defined, generated from the
/// command's definition. Secrets (the arguments that hide their values in
/// `--help`) are masked, passwords in URLs too; an unset setting whose value is
/// worked out at start shows that value. Nothing is created or written.
pub fn describe(matches: &ArgMatches, settings: &Settings) -> Vec<String> {
    // The definition as written: [`command`] drops the names of variables set
    // empty, which must still be listed.
    let mut root = Cli::command();
    root.build();
    let Some(config) = root.find_subcommand("config") else {
        return Vec::new();
    };
    config
        .get_arguments()
        .filter(|arg| !arg.is_hide_set())
        .filter_map(|arg| {
            let env = arg.get_env()?.to_string_lossy().into_owned();
            let raw: Vec<String> = matches
                .try_get_raw(arg.get_id().as_str())
                .ok()
                .flatten()
                .map(|values| values.map(|v| v.to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            let value = raw.join(",");
            let shown = if value.is_empty() {
                derived_default(&env, settings).unwrap_or_default()
            } else if arg.is_hide_env_values_set() {
                "(set, hidden)".to_string()
            } else if arg.get_value_parser().type_id() == ValueParser::bool().type_id() {
                // `1`, `yes`, `on` all show as what they mean.
                parse_bool(&value).map(|b| b.to_string()).unwrap_or(value)
            } else {
                raw.iter()
                    .map(|v| redact_url(v))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            Some(format!("{env}={shown}"))
        })
        .collect()
}

/// What an unset setting becomes at start, for the settings whose default is
/// worked out rather than written in their definition.
fn derived_default(env: &str, settings: &Settings) -> Option<String> {
    let storage = &settings.database.storage_dir;
    let generated = |file: &str| {
        let path = storage.join(file);
        let saved = std::fs::read_to_string(&path).is_ok_and(|text| !text.trim().is_empty());
        if saved {
            format!("(generated, {})", path.display())
        } else {
            format!("(generated at start into {})", path.display())
        }
    };
    match env {
        "DATABASE_URL" => Some(redact_url(&settings.database.url())),
        "APP_KEY" => Some(generated("app.key")),
        "REVERB_APP_SECRET" => Some(generated("reverb.secret")),
        // Random, not derived from the host: two nodes must never share one,
        // the bus tells its own messages apart by it.
        "NODE_ID" => Some("(random per start)".to_string()),
        "SMS_OUTBOX_PATH" => Some(settings.sms_outbox_path().display().to_string()),
        "MEDIA_ROOT" => Some(settings.media_root().display().to_string()),
        _ => None,
    }
}

fn check_cross_field(settings: &Settings) -> Result<(), SettingError> {
    match (&settings.tls_cert, &settings.tls_key) {
        (Some(_), None) => return Err(setting_error("TLS_KEY", "must be set with TLS_CERT")),
        (None, Some(_)) => return Err(setting_error("TLS_CERT", "must be set with TLS_KEY")),
        _ => {}
    }
    if settings
        .calls
        .turn_secret
        .as_ref()
        .is_some_and(|secret| secret.len() < 16)
    {
        return Err(setting_error(
            "TURN_SECRET",
            "must be at least 16 characters",
        ));
    }
    if settings.calls.turn_secret.is_some() && settings.calls.turn_urls.is_empty() {
        return Err(setting_error("TURN_URLS", "must be set with TURN_SECRET"));
    }
    if let Some(url) = &settings.database.database_url {
        let known = [
            "sqlite:",
            "postgres://",
            "postgresql://",
            "mysql://",
            "mariadb://",
        ];
        if !known.iter().any(|prefix| url.starts_with(prefix)) {
            return Err(setting_error(
                "DATABASE_URL",
                format!(
                    "{:?} must start with sqlite:, postgres://, postgresql://, mysql:// or mariadb://",
                    redact_url(url)
                ),
            ));
        }
    }
    if let Some(url) = &settings.redis_url
        && !(url.starts_with("redis://") || url.starts_with("rediss://"))
    {
        return Err(setting_error(
            "REDIS_URL",
            format!(
                "{:?} must start with redis:// or rediss://",
                redact_url(url)
            ),
        ));
    }
    if settings.sms_driver == SmsDriverKind::Twilio {
        for (name, value) in [
            ("TWILIO_SID", &settings.twilio_sid),
            ("TWILIO_TOKEN", &settings.twilio_token),
            ("TWILIO_FROM", &settings.twilio_from),
        ] {
            if value.as_deref().unwrap_or("").is_empty() {
                return Err(setting_error(name, "is required when SMS_DRIVER=twilio"));
            }
        }
    }
    if settings.media.media_disk == MediaDiskKind::S3
        && settings
            .media
            .aws_bucket
            .as_deref()
            .unwrap_or("")
            .is_empty()
    {
        return Err(setting_error(
            "AWS_BUCKET",
            "is required when MEDIA_DISK=s3",
        ));
    }
    check_push(settings)?;
    if settings.web_dev_show_codes && settings.sms_driver != SmsDriverKind::Outbox {
        // The codes are read from the outbox; with any other driver the flag
        // could only show nothing (log) or expose real SMS codes (twilio).
        return Err(setting_error(
            "WEB_DEV_SHOW_CODES",
            "may be true only with SMS_DRIVER=outbox",
        ));
    }
    if !(settings.app_url.starts_with("http://") || settings.app_url.starts_with("https://")) {
        return Err(setting_error(
            "APP_URL",
            format!("{:?} must start with http:// or https://", settings.app_url),
        ));
    }
    if settings
        .metrics_token
        .as_ref()
        .is_some_and(|token| token.len() < 16)
    {
        return Err(setting_error(
            "METRICS_TOKEN",
            "must be at least 16 characters",
        ));
    }
    Ok(())
}

/// The settings each push driver needs, by name; the files they name are read
/// (and their keys parsed) when the drivers are built, at start too.
fn check_push(settings: &Settings) -> Result<(), SettingError> {
    let drivers = &settings.push_driver;
    let require = |name: &'static str, value: Option<&str>, driver: &str| {
        if value.unwrap_or("").trim().is_empty() {
            return Err(setting_error(
                name,
                format!("is required when PUSH_DRIVER includes {driver}"),
            ));
        }
        Ok(())
    };
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.to_string_lossy().into_owned());
    if drivers.contains(&PushDriverKind::Webhook) {
        require(
            "PUSH_WEBHOOK_SECRET",
            settings.push_webhook_secret.as_deref(),
            "webhook",
        )?;
        if settings.push_webhook_secret.as_deref().unwrap_or("").len() < 16 {
            return Err(setting_error(
                "PUSH_WEBHOOK_SECRET",
                "must be at least 16 characters",
            ));
        }
    }
    if let Some(url) = settings
        .pusher
        .pusher_webhook_url
        .iter()
        .find(|u| !(u.starts_with("http://") || u.starts_with("https://")))
    {
        return Err(setting_error(
            "PUSHER_WEBHOOK_URL",
            format!("{} must start with http:// or https://", redact_url(url)),
        ));
    }
    if let Some(url) = &settings.push_webhook_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(setting_error(
            "PUSH_WEBHOOK_URL",
            "must start with http:// or https://",
        ));
    }
    if drivers.contains(&PushDriverKind::Fcm) {
        require(
            "FCM_SERVICE_ACCOUNT_FILE",
            path(&settings.fcm_service_account_file).as_deref(),
            "fcm",
        )?;
    }
    if drivers.contains(&PushDriverKind::Apns) {
        require(
            "APNS_KEY_FILE",
            path(&settings.apns_key_file).as_deref(),
            "apns",
        )?;
        require("APNS_KEY_ID", settings.apns_key_id.as_deref(), "apns")?;
        require("APNS_TEAM_ID", settings.apns_team_id.as_deref(), "apns")?;
        require("APNS_TOPIC", settings.apns_topic.as_deref(), "apns")?;
    }
    if drivers.contains(&PushDriverKind::Webpush) {
        require(
            "VAPID_PRIVATE_KEY",
            settings.vapid_private_key.as_deref(),
            "webpush",
        )?;
        require(
            "VAPID_SUBJECT",
            settings.vapid_subject.as_deref(),
            "webpush",
        )?;
        let subject = settings.vapid_subject.as_deref().unwrap_or("");
        if !(subject.starts_with("mailto:") || subject.starts_with("https://")) {
            return Err(setting_error(
                "VAPID_SUBJECT",
                "must be a mailto: or https: URL",
            ));
        }
    }
    Ok(())
}

/// Reads a secret from `path`, generating and saving one on first use so that restarts keep
/// the same value (tokens and signed URLs stay valid).
/// The file is the owner's alone (0600); one found readable by others is warned about.
fn generated_secret(path: &Path, name: &'static str) -> Result<String, SettingError> {
    match std::fs::read_to_string(path) {
        Ok(existing) if !existing.trim().is_empty() => {
            warn_if_loose(path, name);
            Ok(existing.trim().to_string())
        }
        _ => {
            let secret = random_token(48);
            write_private(path, &secret).map_err(|e| {
                setting_error(
                    name,
                    format!("cannot save generated value to {}: {e}", path.display()),
                )
            })?;
            Ok(secret)
        }
    }
}

/// Hides the password in a connection URL so it can be logged.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &credentials[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://app:hunter2@db:5432/natter"),
            "postgres://app:***@db:5432/natter"
        );
        assert_eq!(
            redact_url("mysql://root@127.0.0.1/test"),
            "mysql://root@127.0.0.1/test"
        );
        assert_eq!(
            redact_url("sqlite://storage/natter.db"),
            "sqlite://storage/natter.db"
        );
    }

    #[test]
    fn every_setting_is_documented() {
        let docs = include_str!("../../../docs/configuration.md");
        let mut cli = command();
        cli.build();
        let serve = cli.find_subcommand("serve").expect("serve exists");
        for arg in serve.get_arguments().filter(|arg| !arg.is_hide_set()) {
            if let Some(env) = arg.get_env() {
                let name = env.to_string_lossy();
                // Its row: | `NAME` | flag | default | what it does | accepts |
                let row = docs
                    .lines()
                    .find(|line| line.starts_with(&format!("| `{name}` |")))
                    .unwrap_or_else(|| panic!("docs/configuration.md has no row for {name}"));
                let cells: Vec<&str> = row.split(" | ").collect();
                assert!(
                    cells.len() == 5 && cells[4].trim_end_matches(" |").trim().len() > 1,
                    "the row of {name} in docs/configuration.md says what it accepts in a fifth column"
                );
            }
        }
    }

    fn serve_settings(args: &[&str]) -> Settings {
        let cli = parse([&["natter", "serve"], args].concat());
        let Ok((
            Cli {
                command: Command::Serve(settings),
                ..
            },
            _,
        )) = cli
        else {
            panic!("the flags parse");
        };
        *settings
    }

    #[test]
    fn the_web_client_is_on_and_shows_no_codes_by_default() {
        let settings = serve_settings(&[]);
        assert!(settings.web_client);
        assert!(!settings.web_dev_show_codes);
        assert!(!serve_settings(&["--web-client", "no"]).web_client);
    }

    #[test]
    fn dev_codes_need_the_outbox_driver() {
        let err = check_cross_field(&serve_settings(&["--web-dev-show-codes", "true"]))
            .expect_err("must refuse with the log driver");
        assert_eq!(err.name, "WEB_DEV_SHOW_CODES");
        let outbox = serve_settings(&["--web-dev-show-codes", "1", "--sms-driver", "outbox"]);
        assert!(check_cross_field(&outbox).is_ok());
    }

    #[test]
    fn cors_origins_are_checked_and_normalised() {
        assert!(serve_settings(&[]).cors_allowed_origins.is_empty());
        let settings = serve_settings(&[
            "--cors-allowed-origins",
            "https://App.example.com/,http://localhost:5173",
        ]);
        assert_eq!(
            settings.cors_allowed_origins,
            ["https://app.example.com", "http://localhost:5173"]
        );
        assert_eq!(
            serve_settings(&["--cors-allowed-origins", "*"]).cors_allowed_origins,
            ["*"]
        );
        for bad in [
            "example.com",
            "https://example.com/app",
            "ftp://x",
            "https://",
        ] {
            let parsed = Cli::try_parse_from(["natter", "serve", "--cors-allowed-origins", bad]);
            assert!(parsed.is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn a_metrics_token_must_be_long() {
        let short = serve_settings(&["--metrics-token", "short"]);
        let err = check_cross_field(&short).expect_err("must refuse");
        assert_eq!(err.name, "METRICS_TOKEN");
        let long = serve_settings(&["--metrics-token", "a-long-enough-metrics-token"]);
        assert!(check_cross_field(&long).is_ok());
    }

    #[test]
    fn hsts_follows_the_public_scheme() {
        let config = |url: &str| {
            Config::resolve(serve_settings(&[
                "--app-url",
                url,
                "--app-key",
                "a-test-app-key-of-at-least-32-characters",
                "--reverb-app-secret",
                "s",
                "--database-url",
                "sqlite::memory:",
            ]))
            .expect("valid")
        };
        assert!(config("https://chat.example.com").public_tls());
        assert!(!config("http://localhost:8000").public_tls());
    }

    #[test]
    fn twilio_requires_its_credentials() {
        let settings = serve_settings(&["--sms-driver", "twilio"]);
        let err = Config::resolve(settings).expect_err("must refuse");
        assert_eq!(err.name, "TWILIO_SID");
    }

    /// Every boolean setting, including one added later, takes the words people
    /// write, and `--flag` alone still means true.
    #[test]
    fn every_boolean_setting_takes_the_usual_words() {
        let mut cli = command();
        cli.build();
        let serve = cli.find_subcommand("serve").expect("serve exists");
        let booleans: Vec<String> = serve
            .get_arguments()
            .filter(|arg| arg.get_value_parser().type_id() == ValueParser::bool().type_id())
            .map(|arg| arg.get_id().to_string())
            .collect();
        assert!(booleans.len() >= 5, "{booleans:?}");
        for id in &booleans {
            let flag = format!("--{}", id.replace('_', "-"));
            for (word, meaning) in [
                ("1", true),
                ("0", false),
                ("yes", true),
                ("no", false),
                ("ON", true),
                ("off", false),
                ("true", true),
                ("False", false),
            ] {
                let parsed = parse(["natter", "serve", flag.as_str(), word]);
                let (_, matches) = parsed.unwrap_or_else(|e| panic!("{flag} {word}: {e}"));
                let serve = matches.subcommand_matches("serve").expect("serve");
                assert_eq!(
                    serve.get_one::<bool>(id).copied(),
                    Some(meaning),
                    "{flag} {word}"
                );
            }
            let err = parse(["natter", "serve", flag.as_str(), "maybe"]).expect_err("refused");
            assert!(explain(&err).contains("yes/no"), "{}", explain(&err));
            assert!(
                parse(["natter", "serve", flag.as_str()]).is_ok(),
                "{flag} alone"
            );
        }
    }

    #[test]
    fn a_log_level_must_be_a_filter_of_known_levels() {
        for good in [
            "info",
            "WARN",
            "off",
            "info,natter=debug",
            "natter::db=trace",
            "sqlx=warn,debug",
        ] {
            assert!(parse_log_filter(good).is_ok(), "{good}");
        }
        for bad in ["verbose", "info,loud", "natter=loud", "info,["] {
            assert!(parse_log_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn trust_proxy_headers_means_one_trusted_proxy() {
        let config = Config::resolve(serve_settings(&[
            "--trust-proxy-headers",
            "1",
            "--app-key",
            "0123456789abcdef0123456789abcdef",
            "--reverb-app-secret",
            "s",
            "--database-url",
            "postgres://x@127.0.0.1/x",
        ]))
        .expect("resolves");
        assert_eq!(
            config.settings.trusted_proxies,
            Some(TrustedProxies::Hops(1))
        );
    }

    #[test]
    fn mariadb_urls_use_the_mysql_driver() {
        let settings = serve_settings(&["--database-url", "mariadb://u:p@db:3306/natter"]);
        assert_eq!(settings.database.url(), "mysql://u:p@db:3306/natter");
        assert!(settings.check().is_ok());
    }
}
