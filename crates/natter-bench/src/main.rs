//! natter-bench: throughput, latency and memory of natter (and its peers) under
//! four workloads. See docs/benchmarks.md.

mod matrix;
mod natter;
mod publish;
mod raw_socket;
mod recorder;
mod report;
mod server;
mod workloads;
mod xmpp;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::server::Server;
use crate::workloads::{Listening, Load};

/// Load generator for natter and its peers.
#[derive(Debug, Parser)]
#[command(name = "natter-bench", version)]
struct Cli {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    workload: Workload,
}

/// The server a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Kind {
    /// natter, started by the bench (or reached with --url).
    Natter,
    /// The ejabberd node that bench/peers/ejabberd/start runs (XMPP on 127.0.0.1:5222).
    Ejabberd,
    /// The Synapse that bench/peers/synapse/start runs (Matrix on 127.0.0.1:8008).
    Synapse,
}

#[derive(Debug, Args)]
struct Target {
    /// Which server to benchmark; the peers must be started beforehand.
    #[arg(long = "target", global = true, value_enum, default_value_t = Kind::Natter)]
    kind: Kind,
    /// Benchmark a natter already running at this URL instead of starting one.
    /// Several (repeated, or separated by commas): nodes of one cluster; users
    /// send through one node and listen on another (bench/scaling).
    #[arg(long, global = true, value_delimiter = ',')]
    url: Vec<String>,
    /// With --url: the file that natter's outbox SMS driver writes (to sign users
    /// up; with several URLs, the first node's: users sign up through it).
    #[arg(long, global = true)]
    outbox: Option<PathBuf>,
    /// With --url: the server's process id, to read its memory.
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// The natter binary to start (default: next to this one).
    #[arg(long, global = true)]
    natter_bin: Option<PathBuf>,
    /// DATABASE_URL for the natter the bench starts (default: SQLite in a temp folder).
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Pin the natter the bench starts to this CPU (taskset).
    #[arg(long, global = true)]
    server_cpu: Option<usize>,
    /// Talk to natter over HTTP/2 (cleartext) instead of HTTP/1.1.
    #[arg(long, global = true)]
    http2: bool,
    /// With --url: which block of 100,000 phone numbers this run signs up (0-49).
    /// Runs sharing one database need different blocks (bench/w3-cluster).
    #[arg(long, global = true, value_parser = clap::value_parser!(u64).range(0..50))]
    phone_block: Option<u64>,
}

#[derive(Debug, Subcommand)]
enum Workload {
    /// W1: pairs of online users sending one-to-one.
    W1 {
        #[arg(long, default_value_t = 100)]
        pairs: usize,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// W2: one group, all members online, some of them sending.
    W2 {
        #[arg(long, default_value_t = 1024)]
        members: usize,
        #[arg(long, default_value_t = 1)]
        senders: usize,
        /// Where members listen: their own user channels or the group's channel.
        #[arg(long, value_enum, default_value_t = workloads::Listening::User)]
        channel: workloads::Listening,
        #[command(flatten)]
        load: LoadArgs,
    },
    /// W3: idle authenticated sockets; memory per socket.
    W3 {
        #[arg(long, default_value_t = 1000)]
        sockets: usize,
        /// Connect from 127.0.0.1 .. 127.0.0.N, to pass the per-address port limit.
        #[arg(long, default_value_t = 1)]
        sources: u8,
        /// Seconds to keep the sockets open after measuring (so that runs
        /// against several nodes overlap: bench/w3-cluster).
        #[arg(long, default_value_t = 0)]
        hold: u64,
    },
    /// W4: catching up on messages that arrived while offline.
    W4 {
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
        #[arg(long, default_value_t = 64)]
        window: usize,
    },
    /// W5: the Pusher HTTP API publishing to one channel with many subscribers.
    W5 {
        #[arg(long, default_value_t = 10_000)]
        subscribers: usize,
        /// Connect from 127.0.0.1 .. 127.0.0.N, to pass the per-address port limit.
        #[arg(long, default_value_t = 1)]
        sources: u8,
        /// Events published, one at a time.
        #[arg(long, default_value_t = 20)]
        rounds: usize,
        /// With --url: the natter's REVERB_APP_SECRET (REVERB_APP_ID must be `natter`).
        #[arg(long, default_value = publish::APP_SECRET)]
        app_secret: String,
        /// The subscribers' client: `library` (natter-client) or `raw` (bare
        /// TCP, hand-written framing: the independent, lighter check).
        #[arg(long, value_enum, default_value_t = publish::Client::Library)]
        client: publish::Client,
    },
    /// A few seconds of each workload, small: proves the bench still works.
    Smoke,
}

#[derive(Debug, Args, Clone)]
struct LoadArgs {
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds run before measuring.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Sends in flight per sender.
    #[arg(long, default_value_t = 8)]
    window: usize,
    /// Total sends per second (default: as fast as acknowledged).
    #[arg(long)]
    rate: Option<f64>,
}

impl LoadArgs {
    fn load(&self) -> Load {
        Load {
            duration: Duration::from_secs_f64(self.duration),
            warmup: Duration::from_secs_f64(self.warmup),
            window: self.window,
            rate: self.rate,
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let server = connect(&cli.target).await?;
    let reports = match cli.workload {
        Workload::W1 { pairs, load } => {
            vec![workloads::one_to_one(server, pairs, &load.load()).await?]
        }
        Workload::W2 {
            members,
            senders,
            channel,
            load,
        } => {
            let load = load.load();
            vec![workloads::group_fanout(server, members, senders, channel, &load).await?]
        }
        Workload::W3 {
            sockets,
            sources,
            hold,
        } => {
            let addrs: Vec<IpAddr> = (1..=sources.max(1))
                .map(|i| IpAddr::from([127, 0, 0, i]))
                .collect();
            let hold = Duration::from_secs(hold);
            vec![workloads::idle_sockets(server, sockets, &addrs, hold).await?]
        }
        Workload::W4 { messages, window } => {
            vec![workloads::catch_up(server, messages, window).await?]
        }
        Workload::W5 {
            subscribers,
            sources,
            rounds,
            app_secret,
            client,
        } => {
            let addrs: Vec<IpAddr> = (1..=sources.max(1))
                .map(|i| IpAddr::from([127, 0, 0, i]))
                .collect();
            vec![
                publish::http_publish(server, subscribers, &addrs, rounds, &app_secret, client)
                    .await?,
            ]
        }
        Workload::Smoke => smoke(server).await?,
    };
    for report in reports {
        eprintln!("{}", report.human());
        #[allow(clippy::print_stdout)]
        {
            println!("{}", serde_json::to_string(&report)?);
        }
    }
    Ok(())
}

async fn smoke(server: Arc<dyn Server>) -> Result<Vec<report::Report>> {
    let quick = Load {
        duration: Duration::from_secs(1),
        warmup: Duration::from_millis(300),
        window: 4,
        rate: None,
    };
    let w1 = workloads::one_to_one(server.clone(), 4, &quick).await?;
    let w2 = workloads::group_fanout(server.clone(), 16, 1, Listening::User, &quick).await?;
    let w2_chat = workloads::group_fanout(server.clone(), 16, 1, Listening::Chat, &quick).await?;
    let w3 = workloads::idle_sockets(server.clone(), 20, &[], Duration::ZERO).await?;
    let w4 = workloads::catch_up(server.clone(), 200, 16).await?;
    // Both W5 clients: each fails the smoke if any socket misses an event.
    let secret = publish::APP_SECRET;
    let w5 = publish::http_publish(server.clone(), 20, &[], 2, secret, publish::Client::Library);
    let w5 = w5.await?;
    let w5_raw = publish::http_publish(server, 20, &[], 2, secret, publish::Client::Raw).await?;
    anyhow::ensure!(
        w1.delivered_per_sec.unwrap_or(0.0) > 0.0,
        "W1 delivered nothing"
    );
    anyhow::ensure!(
        w2.delivered_per_sec.unwrap_or(0.0) > 0.0,
        "W2 delivered nothing"
    );
    anyhow::ensure!(
        w2_chat.delivered_per_sec.unwrap_or(0.0) > 0.0,
        "W2 on the chat channel delivered nothing"
    );
    anyhow::ensure!(
        w4.fetched == Some(200),
        "W4 fetched {:?} of 200",
        w4.fetched
    );
    Ok(vec![w1, w2, w2_chat, w3, w4, w5, w5_raw])
}

async fn connect(target: &Target) -> Result<Arc<dyn Server>> {
    match target.kind {
        Kind::Ejabberd => return Ok(Arc::new(xmpp::Xmpp::new()?)),
        Kind::Synapse => return Ok(Arc::new(matrix::Matrix::new()?)),
        Kind::Natter => {}
    }
    if !target.url.is_empty() {
        let outbox = target
            .outbox
            .clone()
            .context("--url needs --outbox (the natter's SMS_OUTBOX_PATH)")?;
        return Ok(Arc::new(natter::Natter::remote(
            &target.url,
            &outbox,
            target.server_pid,
            target.http2,
            target.phone_block,
        )));
    }
    let binary = match &target.natter_bin {
        Some(path) => path.clone(),
        None => std::env::current_exe()?.with_file_name("natter"),
    };
    let spawned = natter::Natter::spawn(natter::Spawn {
        binary,
        database_url: target.database_url.clone(),
        cpu: target.server_cpu,
        // W5 signs Pusher HTTP API requests with this app's secret.
        extra_env: vec![
            ("REVERB_APP_ID".into(), publish::APP_ID.into()),
            ("REVERB_APP_SECRET".into(), publish::APP_SECRET.into()),
        ],
        http2: target.http2,
    })
    .await?;
    Ok(Arc::new(spawned))
}
