//! Every setting natter reads, in one place.
//!
//! Settings come from command-line flags, then the environment, then a `.env`
//! file in the working directory (loaded into the environment before parsing,
//! never overriding a variable that is already set). With nothing set, natter
//! runs in embedded mode: a SQLite file, in-process fan-out, SMS codes in the
//! log, everything kept under `./storage`.
//!
//! Nothing outside this module reads the environment.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::secrets::random_token;

/// natter: a self-hostable WhatsApp-style messaging backend.
///
/// Speaks the HTTP API of the Laravel WhatsApp-clone guide and the Pusher
/// protocol (for pusher-js, laravel-echo and the Pusher mobile SDKs). Every
/// setting below can be given as a flag, as an environment variable, or in a
/// `.env` file in the working directory.
#[derive(Debug, Parser)]
#[command(name = "natter", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run pending migrations, then serve HTTP and WebSocket traffic until SIGTERM or Ctrl-C.
    Serve(Box<Settings>),
    /// Run pending database migrations and exit.
    Migrate(DatabaseSettings),
    /// Print the effective settings (secrets masked) and exit.
    Config(Box<Settings>),
    /// Inspect the job queue: counts by kind and state; `dead` lists dead jobs,
    /// `retry ID` queues one again, `drop ID` deletes one.
    Jobs(JobsArgs),
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
    /// The database URL, with the embedded default filled in.
    pub fn url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
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
    #[arg(long, env = "OTP_TTL", default_value_t = 300, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    pub otp_ttl: u64,

    /// Wrong guesses after which an OTP code dies.
    #[arg(long, env = "OTP_MAX_ATTEMPTS", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub otp_max_attempts: u32,

    /// Seconds before another code may be sent to the same number.
    #[arg(long, env = "OTP_RESEND_SECONDS", default_value_t = 60)]
    pub otp_resend_seconds: u64,

    /// Codes one number may receive per hour.
    #[arg(long, env = "OTP_RATE_PER_NUMBER_PER_HOUR", default_value_t = 5)]
    pub otp_rate_per_number_per_hour: u32,

    /// Codes one client IP address may request per hour.
    #[arg(long, env = "OTP_RATE_PER_IP_PER_HOUR", default_value_t = 20)]
    pub otp_rate_per_ip_per_hour: u32,

    /// Code checks (`verify-otp`, right or wrong) one client IP address may make per hour.
    #[arg(long, env = "OTP_VERIFY_PER_IP_PER_HOUR", default_value_t = 60)]
    pub otp_verify_per_ip_per_hour: u32,

    /// Code checks one phone number may get per hour, from any address.
    #[arg(long, env = "OTP_VERIFY_PER_NUMBER_PER_HOUR", default_value_t = 20)]
    pub otp_verify_per_number_per_hour: u32,

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
    #[arg(long, env = "ACCESS_TOKEN_TTL", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub access_token_ttl: u64,

    /// Seconds a refresh token lives.
    #[arg(long, env = "REFRESH_TOKEN_TTL", default_value_t = 1_209_600, value_parser = clap::value_parser!(u64).range(1..))]
    pub refresh_token_ttl: u64,

    /// Contact-sync calls one user may make per hour.
    #[arg(long, env = "CONTACT_SYNC_PER_HOUR", default_value_t = 10)]
    pub contact_sync_per_hour: u32,

    /// Seconds after sending during which a text message may be edited.
    #[arg(long, env = "MESSAGE_EDIT_WINDOW", default_value_t = 900)]
    pub message_edit_window: u64,

    /// Seconds the sync log keeps events; older `since` values get 410.
    #[arg(long, env = "SYNC_RETENTION", default_value_t = 2_592_000, value_parser = clap::value_parser!(u64).range(60..))]
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
    #[arg(long, env = "STATUS_TTL", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..=2_592_000))]
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
    #[arg(long, env = "PUSH_ALLOW_PRIVATE_TARGETS", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
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
    #[arg(long, env = "WEB_CLIENT", default_value_t = true, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub web_client: bool,

    /// Development only: let the web client show sign-in codes (read from the SMS outbox through
    /// `GET /api/dev/sms-code`). Refused unless SMS_DRIVER=outbox; never on by default.
    #[arg(long, env = "WEB_DEV_SHOW_CODES", default_value_t = false, action = ArgAction::Set, value_parser = BoolishValueParser::new())]
    pub web_dev_show_codes: bool,

    /// Log format: `text` for people, `json` for log collectors.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log filter in tracing's syntax (`info`, `natter=debug,tower_http=warn`, ...).
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,
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
    #[arg(long, env = "MEDIA_COLLECT_GRACE", default_value_t = 600, value_parser = clap::value_parser!(u64).range(0..=86_400))]
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
    #[arg(long, env = "CALL_RING_TIMEOUT", default_value_t = 45, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub call_ring_timeout: u64,

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
    #[arg(long, env = "TURN_TTL", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(60..=2_592_000))]
    pub turn_ttl: u64,
}

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
        let sms_outbox_path = settings
            .sms_outbox_path
            .clone()
            .unwrap_or_else(|| storage.join("sms-outbox.jsonl"));
        let media_root = settings
            .media
            .media_root
            .clone()
            .unwrap_or_else(|| storage.join("media"));
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

    pub fn otp_ttl(&self) -> Duration {
        Duration::from_secs(self.settings.otp_ttl)
    }

    /// Keys and channels natter uses in Redis start with this, so several natter
    /// installations (or test runs) can share one Redis.
    pub fn redis_prefix(&self) -> String {
        format!("natter:{}:", self.settings.reverb_app_id)
    }

    /// The settings as `NAME=value` lines, secrets masked, for `natter config`.
    pub fn describe(&self) -> Vec<String> {
        let s = &self.settings;
        let mask = |v: &Option<String>| if v.is_some() { "(set)" } else { "(unset)" };
        vec![
            format!("DATABASE_URL={}", redact_url(&self.database_url)),
            format!("STORAGE_DIR={}", s.database.storage_dir.display()),
            format!("DB_MAX_CONNECTIONS={}", s.database.db_max_connections),
            format!("HTTP_ADDR={}", s.http_addr),
            format!("APP_URL={}", s.app_url),
            format!("APP_KEY={}", mask(&s.app_key)),
            format!(
                "REDIS_URL={}",
                s.redis_url.as_deref().map(redact_url).unwrap_or_default()
            ),
            format!("NODE_ID={}", self.node_id),
            format!("REVERB_APP_ID={}", s.reverb_app_id),
            format!("REVERB_APP_KEY={}", s.reverb_app_key),
            format!("REVERB_APP_SECRET={}", mask(&s.reverb_app_secret)),
            format!("SMS_DRIVER={:?}", s.sms_driver).to_lowercase(),
            format!("SMS_OUTBOX_PATH={}", self.sms_outbox_path.display()),
            format!("OTP_TTL={}", s.otp_ttl),
            format!("ACCESS_TOKEN_TTL={}", s.access_token_ttl),
            format!("REFRESH_TOKEN_TTL={}", s.refresh_token_ttl),
            format!("SYNC_RETENTION={}", s.sync_retention),
            format!("GROUP_MAX_MEMBERS={}", s.group_max_members),
            format!("MEDIA_DISK={:?}", s.media.media_disk).to_lowercase(),
            format!("MEDIA_ROOT={}", self.media_root.display()),
            format!("MEDIA_URL_TTL={}", s.media.media_url_ttl),
            format!(
                "AWS_SECRET_ACCESS_KEY={}",
                mask(&s.media.aws_secret_access_key)
            ),
            format!("MEDIA_COLLECT_GRACE={}", s.media.media_collect_grace),
            format!("STATUS_TTL={}", s.status_ttl),
            format!(
                "DISAPPEARING_TEST_SECONDS={}",
                s.disappearing_test_seconds
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            ),
            format!("CALL_RING_TIMEOUT={}", s.calls.call_ring_timeout),
            format!("CALL_SIGNAL_MAX_BYTES={}", s.calls.call_signal_max_bytes),
            format!("TURN_SECRET={}", mask(&s.calls.turn_secret)),
            format!("TURN_URLS={}", s.calls.turn_urls.join(",")),
            format!("TURN_TTL={}", s.calls.turn_ttl),
            format!("JOB_CONCURRENCY={}", s.job_concurrency),
            format!("JOB_LEASE={}", s.job_lease),
            format!(
                "PUSH_DRIVER={}",
                s.push_driver
                    .iter()
                    .map(|d| d.name())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            format!("PUSH_WEBHOOK_SECRET={}", mask(&s.push_webhook_secret)),
            format!(
                "PUSH_ALLOW_PRIVATE_TARGETS={}",
                s.push_allow_private_targets
            ),
            format!("VAPID_PRIVATE_KEY={}", mask(&s.vapid_private_key)),
            format!("PUSHER_MAX_EVENT_BYTES={}", s.pusher.pusher_max_event_bytes),
            format!(
                "PUSHER_WEBHOOK_URL={}",
                s.pusher
                    .pusher_webhook_url
                    .iter()
                    .map(|u| redact_url(u))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            format!("WEB_CLIENT={}", s.web_client),
            format!("WEB_DEV_SHOW_CODES={}", s.web_dev_show_codes),
        ]
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
                "must start with sqlite:, postgres://, postgresql:// or mysql://",
            ));
        }
    }
    if let Some(url) = &settings.redis_url
        && !(url.starts_with("redis://") || url.starts_with("rediss://"))
    {
        return Err(setting_error(
            "REDIS_URL",
            "must start with redis:// or rediss://",
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
            "must start with http:// or https://",
        ));
    }
    if settings.otp_rate_per_number_per_hour == 0 || settings.otp_rate_per_ip_per_hour == 0 {
        return Err(setting_error(
            "OTP_RATE_PER_NUMBER_PER_HOUR / OTP_RATE_PER_IP_PER_HOUR",
            "must be at least 1",
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
fn generated_secret(path: &Path, name: &'static str) -> Result<String, SettingError> {
    match std::fs::read_to_string(path) {
        Ok(existing) if !existing.trim().is_empty() => Ok(existing.trim().to_string()),
        _ => {
            let secret = random_token(48);
            std::fs::write(path, &secret).map_err(|e| {
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
        use clap::CommandFactory;
        let docs = include_str!("../../../docs/configuration.md");
        let cli = Cli::command();
        let serve = cli.find_subcommand("serve").expect("serve exists");
        for arg in serve.get_arguments().filter(|arg| !arg.is_hide_set()) {
            if let Some(env) = arg.get_env() {
                let name = env.to_string_lossy();
                assert!(
                    docs.contains(&format!("`{name}`")),
                    "docs/configuration.md does not mention {name}"
                );
            }
        }
    }

    fn serve_settings(args: &[&str]) -> Settings {
        let cli = Cli::try_parse_from([&["natter", "serve"], args].concat());
        let Ok(Cli {
            command: Command::Serve(settings),
        }) = cli
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
    fn twilio_requires_its_credentials() {
        let cli = Cli::try_parse_from(["natter", "serve", "--sms-driver", "twilio"]);
        let Ok(Cli {
            command: Command::Serve(settings),
        }) = cli
        else {
            panic!("the flags parse");
        };
        let err = Config::resolve(*settings).expect_err("must refuse");
        assert_eq!(err.name, "TWILIO_SID");
    }
}
