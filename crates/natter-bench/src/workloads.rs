//! The four workloads, written once against [`Server`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::recorder::{Recorder, stamped_body};
use crate::report::{Report, Sends, rss_kib};
use crate::server::{Conversation, Listener, Server, User};

pub struct Load {
    /// How long to measure, after warm-up.
    pub duration: Duration,
    pub warmup: Duration,
    /// Sends in flight per sender.
    pub window: usize,
    /// Total sends per second across senders; None = as fast as acknowledged.
    pub rate: Option<f64>,
}

/// What the senders share: counts, and how long each acknowledgement took.
#[derive(Default)]
struct Tally {
    /// Sends the server acknowledged, warm-up included.
    acked: AtomicU64,
    failed: AtomicU64,
    /// Time from starting a send to its acknowledgement (natter: the 201;
    /// ejabberd: the stream-management `<a/>`), one "copy" per send.
    acks: Recorder,
}

impl Tally {
    fn count(&self, result: Result<()>, took: Duration) {
        match result {
            Ok(()) => {
                self.acked.fetch_add(1, Ordering::Relaxed);
                self.acks.record(0, took.as_micros() as u64);
            }
            Err(_) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// How long the end of a run waits for deliveries still on their way, once
/// none has arrived for this long (what is still missing then is lost).
const DRAIN_STALL: Duration = Duration::from_secs(10);

/// A paced sender's schedule: one send `every`, the first after `phase`.
/// Senders get evenly spread phases so that, together, they send at an even
/// rate instead of all at once at every tick.
#[derive(Clone, Copy)]
struct Pace {
    every: Duration,
    phase: Duration,
}

/// One sender: keeps up to `window` sends in flight, paced if `pace` is
/// given. A send leaves the window at its acknowledgement, not its delivery.
async fn sender(
    server: Arc<dyn Server>,
    (user, conversation): (User, Conversation),
    window: usize,
    pace: Option<Pace>,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) {
    let mut in_flight = FuturesUnordered::new();
    let mut ticker = pace.map(|pace| {
        let first = tokio::time::Instant::now() + pace.phase;
        let mut t = tokio::time::interval_at(first, pace.every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    // The body's stamp and the ack clock start together, when the send is
    // issued: delivery and ack latency are measured from the same moment.
    let send = || {
        let (server, user, conversation) = (server.clone(), user.clone(), conversation.clone());
        let (body, started) = (stamped_body(), Instant::now());
        Box::pin(async move {
            let result = server.send(&user, &conversation, &body).await;
            (result, started.elapsed())
        })
    };
    while !stop.load(Ordering::Relaxed) {
        match ticker.as_mut() {
            Some(ticker) => {
                tokio::select! {
                    _ = ticker.tick(), if in_flight.len() < window => in_flight.push(send()),
                    Some((result, took)) = in_flight.next(), if !in_flight.is_empty() => {
                        tally.count(result, took);
                    }
                }
            }
            None => {
                while in_flight.len() < window {
                    in_flight.push(send());
                }
                if let Some((result, took)) = in_flight.next().await {
                    tally.count(result, took);
                }
            }
        }
    }
    while let Some((result, took)) = in_flight.next().await {
        tally.count(result, took);
    }
}

/// Runs the senders, discards the warm-up, measures `load.duration`, then
/// waits for what was acknowledged to be delivered.
async fn drive(
    server: Arc<dyn Server>,
    senders: Vec<(User, Conversation)>,
    load: &Load,
    recorder: &Recorder,
) -> Result<Sends> {
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let count = senders.len();
    let every = load
        .rate
        .map(|rate| Duration::from_secs_f64(count as f64 / rate.max(0.001)));
    let tasks: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(index, pair)| {
            let pace = every.map(|every| Pace {
                every,
                phase: every.mul_f64(index as f64 / count as f64),
            });
            let window = load.window.max(1);
            tokio::spawn(sender(
                server.clone(),
                pair,
                window,
                pace,
                stop.clone(),
                tally.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(load.warmup).await;
    recorder.reset();
    tally.acks.reset();
    let before = tally.acked.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(load.duration).await;
    let seconds = started.elapsed().as_secs_f64();
    let acked_during = tally.acked.load(Ordering::Relaxed) - before;
    tally.acks.set_measuring(false);
    stop.store(true, Ordering::Relaxed);
    // Let the last in-flight messages arrive so they are not counted as lost.
    tokio::time::sleep(Duration::from_millis(300)).await;
    recorder.set_measuring(false);
    for task in tasks {
        let _ = task.await;
    }
    let expected = tally.acked.load(Ordering::Relaxed) * recorder.copies() as u64;
    let arrived = drain(recorder, expected).await;
    Ok(Sends {
        acked: acked_during,
        seconds,
        failed: tally.failed.load(Ordering::Relaxed),
        lost: expected.saturating_sub(arrived),
        ack: tally.acks.each(),
    })
}

/// Waits until `expected` deliveries arrived, or none did for DRAIN_STALL;
/// returns how many arrived.
async fn drain(recorder: &Recorder, expected: u64) -> u64 {
    let mut seen = recorder.arrivals();
    let mut progressed = Instant::now();
    while seen < expected && progressed.elapsed() < DRAIN_STALL {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = recorder.arrivals();
        if now > seen {
            (seen, progressed) = (now, Instant::now());
        }
    }
    seen
}

async fn listen_all(
    server: &Arc<dyn Server>,
    users: &[User],
    recorder: &Arc<Recorder>,
    sources: &[std::net::IpAddr],
) -> Result<Vec<Listener>> {
    let listeners: Vec<Result<Listener>> = futures::stream::iter(users.iter().enumerate())
        .map(|(i, user)| {
            let local = if sources.is_empty() {
                None
            } else {
                Some(sources[i % sources.len()])
            };
            server.listen(user, recorder.clone(), local)
        })
        .buffer_unordered(64)
        .collect()
        .await;
    listeners.into_iter().collect()
}

/// Like [`listen_all`], each user on `conversation`'s own channel.
async fn listen_all_in(
    server: &Arc<dyn Server>,
    users: &[User],
    conversation: &Conversation,
    recorder: &Arc<Recorder>,
) -> Result<Vec<Listener>> {
    let listeners: Vec<Result<Listener>> = futures::stream::iter(users)
        .map(|user| server.listen_in(user, conversation, recorder.clone(), None))
        .buffer_unordered(64)
        .collect()
        .await;
    listeners.into_iter().collect()
}

/// W1: `pairs` pairs of online users; each sender keeps a window of sends in
/// flight; messages delivered per second and latency to the receiver's socket.
pub async fn one_to_one(server: Arc<dyn Server>, pairs: usize, load: &Load) -> Result<Report> {
    let users = server.users(pairs * 2).await?;
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for pair in users.chunks(2) {
        let conversation = server.direct(&pair[0], &pair[1]).await?;
        senders.push((pair[0].clone(), conversation));
        receivers.push(pair[1].clone());
    }
    let recorder = Arc::new(Recorder::default());
    let _listeners = listen_all(&server, &receivers, &recorder, &[]).await?;
    let sends = drive(server.clone(), senders, load, &recorder).await?;
    Ok(Report::throughput(
        "W1 one-to-one",
        server.as_ref(),
        format!("pairs={pairs} window={} rate={:?}", load.window, load.rate),
        &recorder,
        &sends,
    ))
}

/// Where W2's members listen for the group's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Listening {
    /// Each member on their own user channel (natter's `private-user.{id}`),
    /// as a client that does not subscribe to every chat does.
    User,
    /// Every member on the group's channel (natter's `private-chat.{id}`).
    Chat,
}

impl std::fmt::Display for Listening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Listening::User => "user",
            Listening::Chat => "chat",
        })
    }
}

/// W2: one group of `members`, all online; `senders` of them send.
/// Deliveries per second and latency until each member has it.
pub async fn group_fanout(
    server: Arc<dyn Server>,
    members: usize,
    senders: usize,
    listening: Listening,
    load: &Load,
) -> Result<Report> {
    if senders == 0 || senders > members {
        bail!("need 1..=members senders");
    }
    let users = server.users(members).await?;
    let group = server.group(&users).await?;
    // Every member gets each message, its sender too (natter's user channel,
    // the MUC echo, the sender's own /sync).
    let recorder = Arc::new(Recorder::expecting(members));
    let _listeners = match listening {
        Listening::User => listen_all(&server, &users, &recorder, &[]).await?,
        Listening::Chat => listen_all_in(&server, &users, &group, &recorder).await?,
    };
    let sending: Vec<(User, Conversation)> = users[..senders]
        .iter()
        .map(|u| (u.clone(), group.clone()))
        .collect();
    let sends = drive(server.clone(), sending, load, &recorder).await?;
    Ok(Report::throughput(
        "W2 group fan-out",
        server.as_ref(),
        format!(
            "members={members} senders={senders} channel={listening} window={} rate={:?}",
            load.window, load.rate
        ),
        &recorder,
        &sends,
    ))
}

/// W3: `sockets` authenticated connections held idle; server memory per socket.
/// The sockets stay open `hold` longer after the measurement.
pub async fn idle_sockets(
    server: Arc<dyn Server>,
    sockets: usize,
    sources: &[std::net::IpAddr],
    hold: Duration,
) -> Result<Report> {
    let users = server.users(sockets).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = server.pid().and_then(rss_kib);
    let recorder = Arc::new(Recorder::default());
    let started = Instant::now();
    let listeners = listen_all(&server, &users, &recorder, sources).await?;
    let connect_seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = server.pid().and_then(rss_kib);
    let report = Report::memory(
        server.as_ref(),
        listeners.len(),
        before,
        after,
        connect_seconds,
    );
    tokio::time::sleep(hold).await;
    drop(listeners);
    Ok(report)
}

/// W4: a user offline while `messages` arrive, then catching up to the end.
pub async fn catch_up(server: Arc<dyn Server>, messages: usize, window: usize) -> Result<Report> {
    let users = server.users(2).await?;
    let conversation = server.direct(&users[0], &users[1]).await?;
    let cursor = server.cursor(&users[1]).await?;
    let sends = futures::stream::iter(0..messages)
        .map(|_| {
            let (server, from, to) = (server.clone(), users[0].clone(), conversation.clone());
            async move { server.send(&from, &to, &stamped_body()).await }
        })
        .buffer_unordered(window.max(1));
    let results: Vec<Result<()>> = sends.collect().await;
    results.into_iter().collect::<Result<Vec<()>>>()?;
    let started = Instant::now();
    let fetched = server.catch_up(&users[1], &cursor).await?;
    let seconds = started.elapsed().as_secs_f64();
    Ok(Report::catch_up(
        server.as_ref(),
        messages,
        fetched,
        seconds,
    ))
}
