//! The four workloads, written once against [`Server`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use futures::StreamExt;
use futures::stream::FuturesUnordered;

use crate::recorder::{Recorder, stamped_body};
use crate::report::{Report, rss_kib};
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

/// Counts of a measured run.
struct Driven {
    sent: u64,
    seconds: f64,
    failed: u64,
}

/// A paced sender's schedule: one send `every`, the first after `phase`.
/// Senders get evenly spread phases so that, together, they send at an even
/// rate instead of all at once at every tick.
#[derive(Clone, Copy)]
struct Pace {
    every: Duration,
    phase: Duration,
}

/// One sender: keeps up to `window` sends in flight, paced if `pace` is given.
#[allow(clippy::too_many_arguments)] // one spawned task's whole state, passed once
async fn sender(
    server: Arc<dyn Server>,
    user: User,
    conversation: Conversation,
    window: usize,
    pace: Option<Pace>,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
) {
    let mut in_flight = FuturesUnordered::new();
    let mut ticker = pace.map(|pace| {
        let first = tokio::time::Instant::now() + pace.phase;
        let mut t = tokio::time::interval_at(first, pace.every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let send = || {
        let (server, user, conversation) = (server.clone(), user.clone(), conversation.clone());
        Box::pin(async move { server.send(&user, &conversation, &stamped_body()).await })
    };
    let count = |result: Result<()>| match result {
        Ok(()) => sent.fetch_add(1, Ordering::Relaxed),
        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
    };
    while !stop.load(Ordering::Relaxed) {
        match ticker.as_mut() {
            Some(ticker) => {
                tokio::select! {
                    _ = ticker.tick(), if in_flight.len() < window => in_flight.push(send()),
                    Some(result) = in_flight.next(), if !in_flight.is_empty() => { count(result); }
                }
            }
            None => {
                while in_flight.len() < window {
                    in_flight.push(send());
                }
                if let Some(result) = in_flight.next().await {
                    count(result);
                }
            }
        }
    }
    while let Some(result) = in_flight.next().await {
        count(result);
    }
}

/// Runs the senders, discards the warm-up, measures `load.duration`.
async fn drive(
    server: Arc<dyn Server>,
    senders: Vec<(User, Conversation)>,
    load: &Load,
    recorder: &Recorder,
) -> Result<Driven> {
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let count = senders.len();
    let every = load
        .rate
        .map(|rate| Duration::from_secs_f64(count as f64 / rate.max(0.001)));
    let tasks: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(index, (user, conversation))| {
            let pace = every.map(|every| Pace {
                every,
                phase: every.mul_f64(index as f64 / count as f64),
            });
            tokio::spawn(sender(
                server.clone(),
                user,
                conversation,
                load.window.max(1),
                pace,
                stop.clone(),
                sent.clone(),
                failed.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(load.warmup).await;
    recorder.reset();
    let before = sent.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(load.duration).await;
    let seconds = started.elapsed().as_secs_f64();
    let sent_during = sent.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    // Let the last in-flight messages arrive so they are not counted as lost.
    tokio::time::sleep(Duration::from_millis(300)).await;
    recorder.set_measuring(false);
    for task in tasks {
        let _ = task.await;
    }
    Ok(Driven {
        sent: sent_during,
        seconds,
        failed: failed.load(Ordering::Relaxed),
    })
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
    let driven = drive(server.clone(), senders, load, &recorder).await?;
    Ok(Report::throughput(
        "W1 one-to-one",
        server.as_ref(),
        format!("pairs={pairs} window={} rate={:?}", load.window, load.rate),
        &recorder,
        driven.sent,
        driven.failed,
        driven.seconds,
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
    let driven = drive(server.clone(), sending, load, &recorder).await?;
    Ok(Report::throughput(
        "W2 group fan-out",
        server.as_ref(),
        format!(
            "members={members} senders={senders} channel={listening} window={} rate={:?}",
            load.window, load.rate
        ),
        &recorder,
        driven.sent,
        driven.failed,
        driven.seconds,
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
