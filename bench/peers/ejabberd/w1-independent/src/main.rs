//! w1-independent: a second, independent XMPP load client for W1 (one-to-one
//! chat) against ejabberd, to cross-check natter-bench's figure.
//!
//! It shares no code with natter-bench. The XMPP stack is the xmpp-rs
//! project's: `tokio-xmpp` opens the stream and does SASL (PLAIN, its own
//! implementation via the `sasl` crate), its XML stream parser/serialiser
//! (rxml + xso) frames every element, and `xmpp-parsers` types build and
//! parse the stanzas (bind iq, presence, chat messages, XEP-0198 nonzas).
//! tokio-xmpp's high-level `Client` is not used: it always negotiates
//! XEP-0198 stream management and queues every stanza through a worker task;
//! this client talks to the `XmppStream` directly so that, by default, no
//! stream management runs at all (the cheapest setting for the server).
//!
//! W1: `--pairs` pairs (user1+user2, user3+user4, ...; odd = sender, even =
//! receiver), each user one stream: SASL PLAIN, resource bind, session iq,
//! initial presence. Each sender keeps `--window` chat messages in flight.
//!   --advance delivery (default, the W1 definition): a message counts as in
//!       flight until its receiver's socket has delivered it; each delivery
//!       lets the sender send one more (closed loop on delivery).
//!   --advance ack: the sender enables XEP-0198 and sends <r/> after each
//!       message; a message leaves the window at the server's <a h=…/>
//!       (closed loop on the server's acknowledgement), deliveries are still
//!       counted at the receivers.
//! Delivered messages are counted at the receivers between --warmup and
//! --warmup + --duration seconds; latency = arrival at the receiver (after
//! parsing) minus the send time carried in the body.
//!
//! Everything runs on one thread (tokio current_thread runtime): pin it with
//! `taskset -c 1`. The process reports its own CPU use over the measured
//! window (utime + stime from /proc/self/stat), as a share of one core.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures::{FutureExt, SinkExt, StreamExt};
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio_xmpp::xmlstream::{
    initiate_stream, ReadError, StreamHeader, Timeouts, XmppStream, XmppStreamElement,
};
use xmpp_parsers::bind::BindQuery;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::{Lang, Message, MessageType};
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::Presence;
use xmpp_parsers::sm;
use xmpp_parsers::stanza::Stanza;

type Stream = XmppStream<BufStream<TcpStream>>;
type BoxError = Box<dyn std::error::Error>;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Advance {
    Delivery,
    Ack,
}

#[derive(Clone, Debug)]
struct Opts {
    addr: String,
    domain: String,
    pairs: usize,
    first_user: usize,
    window: usize,
    warmup: f64,
    duration: f64,
    advance: Advance,
    body_pad: usize,
    nodelay: bool,
    /// ack mode: one <r/> per written batch instead of one per message.
    r_per_batch: bool,
}

fn parse_args() -> Opts {
    let mut o = Opts {
        addr: "127.0.0.1:5222".into(),
        domain: "localhost".into(),
        pairs: 50,
        first_user: 1,
        window: 8,
        warmup: 2.0,
        duration: 10.0,
        advance: Advance::Delivery,
        body_pad: 0,
        nodelay: true,
        r_per_batch: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--addr" => o.addr = v,
            "--domain" => o.domain = v,
            "--pairs" => o.pairs = v.parse().expect("--pairs N"),
            "--first-user" => o.first_user = v.parse().expect("--first-user N"),
            "--window" => o.window = v.parse().expect("--window N"),
            "--warmup" => o.warmup = v.parse().expect("--warmup SECONDS"),
            "--duration" => o.duration = v.parse().expect("--duration SECONDS"),
            "--body-pad" => o.body_pad = v.parse().expect("--body-pad BYTES"),
            "--nodelay" => o.nodelay = v.parse().expect("--nodelay true|false"),
            "--r-per" => {
                o.r_per_batch = match v.as_str() {
                    "message" => false,
                    "batch" => true,
                    _ => panic!("--r-per message|batch"),
                }
            }
            "--advance" => {
                o.advance = match v.as_str() {
                    "delivery" => Advance::Delivery,
                    "ack" => Advance::Ack,
                    _ => panic!("--advance delivery|ack"),
                }
            }
            "-h" | "--help" => {
                println!(
                    "usage: w1-independent [--pairs 50] [--window 8] [--warmup 2] [--duration 10]\n\
                     \x20      [--advance delivery|ack] [--addr 127.0.0.1:5222] [--domain localhost]\n\
                     \x20      [--first-user 1] [--body-pad 0] [--nodelay true|false]\n\
                     \x20      [--r-per message|batch]   (ack mode: <r/> after each message, or once per write)"
                );
                std::process::exit(0);
            }
            other => panic!("unknown argument {other}"),
        }
        i += 2;
    }
    o
}

/// Counters shared by all pairs (single-threaded, so plain cells).
struct Shared {
    t0: Instant,
    run_tag: String,
    /// Deliveries of this run's messages, all the time.
    delivered: Cell<u64>,
    /// Messages sent, all the time.
    sent: Cell<u64>,
    /// Latencies (µs) of messages delivered while `measuring`.
    latencies: RefCell<Vec<u32>>,
    measuring: Cell<bool>,
    /// Senders stop sending new messages once set.
    stopping: Cell<bool>,
    /// Messages from another run (offline leftovers) seen and ignored.
    foreign: Cell<u64>,
}

fn now_us(sh: &Shared) -> u64 {
    sh.t0.elapsed().as_micros() as u64
}

async fn read_elem(s: &mut Stream) -> Result<XmppStreamElement, BoxError> {
    loop {
        match s.next().await {
            None => return Err("stream closed".into()),
            Some(Err(ReadError::SoftTimeout)) => continue,
            Some(Err(e)) => return Err(format!("read: {e:?}").into()),
            Some(Ok(el)) => match el.into_read_error() {
                Ok(el) => return Ok(el),
                Err(e) => return Err(format!("parse: {e:?}").into()),
            },
        }
    }
}

/// SASL PLAIN, resource bind, session, (optionally XEP-0198), initial presence.
async fn login(o: &Opts, user: &str, enable_sm: bool) -> Result<Stream, BoxError> {
    let tcp = TcpStream::connect(&o.addr).await?;
    // tokio-xmpp's own TCP connector does not set TCP_NODELAY; without it a
    // small write can wait for the peer's delayed ACK (Nagle). Give the
    // server's replies and our sends the fastest path.
    tcp.set_nodelay(o.nodelay)?;
    let header = || StreamHeader {
        to: Some(o.domain.clone().into()),
        from: None,
        id: None,
    };
    let pending = initiate_stream(
        BufStream::new(tcp),
        "jabber:client",
        header(),
        Timeouts::tight(),
    )
    .await?;
    let (features, stream) = pending.recv_features().await.map_err(|e| format!("{e:?}"))?;
    if !features.sasl_mechanisms.contains("PLAIN") {
        return Err("server does not offer SASL PLAIN".into());
    }
    let creds = tokio_xmpp::parsers::jid::BareJid::new(&format!("{user}@{}", o.domain))?;
    let creds = sasl::common::Credentials::default()
        .with_username(creds.node().unwrap().as_str())
        .with_password("pass")
        .with_channel_binding(sasl::common::ChannelBinding::None);
    // Offer tokio-xmpp only PLAIN (W1's definition), not the SCRAM it prefers.
    let only_plain: BTreeSet<String> = ["PLAIN".to_string()].into();
    let restarting = tokio_xmpp::client_login(stream, only_plain, creds).await?;
    let (_features, mut s) = restarting
        .send_header(header())
        .await?
        .recv_features::<tokio_xmpp::xmlstream::FallibleStreamElement>()
        .await
        .map_err(|e| format!("{e:?}"))?;

    let bind = Iq::from_set("b1", BindQuery::new(Some("w1ind".into())));
    s.send(&XmppStreamElement::Stanza(Stanza::Iq(bind))).await?;
    wait_iq_result(&mut s, "b1").await?;
    let session = Iq::Set {
        from: None,
        to: None,
        id: "s1".into(),
        payload: Element::builder("session", "urn:ietf:params:xml:ns:xmpp-session").build(),
    };
    s.send(&XmppStreamElement::Stanza(Stanza::Iq(session))).await?;
    wait_iq_result(&mut s, "s1").await?;
    if enable_sm {
        s.send(&XmppStreamElement::SM(sm::Nonza::Enable(sm::Enable::new())))
            .await?;
        loop {
            match read_elem(&mut s).await? {
                XmppStreamElement::SM(sm::Nonza::Enabled(_)) => break,
                XmppStreamElement::SM(sm::Nonza::Failed(f)) => {
                    return Err(format!("sm enable failed: {f:?}").into())
                }
                _ => {}
            }
        }
    }
    s.send(&XmppStreamElement::Stanza(Stanza::Presence(Presence::available())))
        .await?;
    // Wait for the echo of our own presence: from then on messages to our
    // bare JID are routed to this stream.
    loop {
        if let XmppStreamElement::Stanza(Stanza::Presence(_)) = read_elem(&mut s).await? {
            break;
        }
    }
    Ok(s)
}

async fn wait_iq_result(s: &mut Stream, id: &str) -> Result<(), BoxError> {
    loop {
        if let XmppStreamElement::Stanza(Stanza::Iq(iq)) = read_elem(s).await? {
            if iq.id() == id {
                return match iq {
                    Iq::Result { .. } => Ok(()),
                    other => Err(format!("iq {id} failed: {other:?}").into()),
                };
            }
        }
    }
}

struct Pair {
    sender: Stream,
    receiver: Stream,
    to: Jid,
    seq: u64,
    in_flight: usize,
    /// Sent and not yet delivered (both modes; what the stop waits for).
    undelivered: usize,
    /// ack mode: stanzas we sent since <enabled/> (presence, then messages)
    /// and stanzas we received since then (to answer the server's <r/>).
    sm_out_before_msgs: u32,
    sm_acked_msgs: u64,
    sm_received: u32,
}

fn make_message(p: &mut Pair, sh: &Shared, pad: &str) -> XmppStreamElement {
    p.seq += 1;
    let body = format!("{} {} {}{}", sh.run_tag, p.seq, now_us(sh), pad);
    let mut m = Message::new(Some(p.to.clone())).with_body(Lang::new(), body);
    m.type_ = MessageType::Chat;
    m.id = Some(xmpp_parsers::message::Id(p.seq.to_string()));
    XmppStreamElement::Stanza(Stanza::Message(m))
}

/// Feed `n` new messages (and in ack mode an <r/> after each), then flush once.
async fn send_batch(p: &mut Pair, sh: &Shared, o: &Opts, n: usize, pad: &str) -> Result<(), BoxError> {
    if n == 0 || sh.stopping.get() {
        return Ok(());
    }
    for _ in 0..n {
        let m = make_message(p, sh, pad);
        p.sender.feed(&m).await?;
        if o.advance == Advance::Ack && !o.r_per_batch {
            p.sender.feed(&XmppStreamElement::SM(sm::Nonza::Req(sm::R))).await?;
        }
        p.in_flight += 1;
        p.undelivered += 1;
    }
    if o.advance == Advance::Ack && o.r_per_batch {
        p.sender.feed(&XmppStreamElement::SM(sm::Nonza::Req(sm::R))).await?;
    }
    sh.sent.set(sh.sent.get() + n as u64);
    SinkExt::<&XmppStreamElement>::flush(&mut p.sender).await?;
    Ok(())
}

/// A received element at the receiver: returns 1 if it was one of this
/// run's messages (and records it), else 0.
fn on_receiver_elem(el: XmppStreamElement, sh: &Shared) -> u64 {
    let XmppStreamElement::Stanza(Stanza::Message(m)) = el else {
        return 0;
    };
    let Some(body) = m.bodies.values().next() else {
        return 0;
    };
    let mut it = body.split(' ');
    if it.next() != Some(sh.run_tag.as_str()) {
        sh.foreign.set(sh.foreign.get() + 1);
        return 0;
    }
    let _seq = it.next();
    let sent_us: u64 = it.next().and_then(|t| t.parse().ok()).unwrap_or(0);
    sh.delivered.set(sh.delivered.get() + 1);
    if sh.measuring.get() {
        let lat = now_us(sh).saturating_sub(sent_us);
        sh.latencies.borrow_mut().push(lat.min(u32::MAX as u64) as u32);
    }
    1
}

async fn run_pair(mut p: Pair, sh: Rc<Shared>, o: Rc<Opts>, mut start: tokio::sync::watch::Receiver<bool>) -> Result<(), BoxError> {
    let pad = "x".repeat(o.body_pad);
    start.wait_for(|go| *go).await?;
    send_batch(&mut p, &sh, &o, o.window, &pad).await?;
    let mut stop_deadline: Option<Instant> = None;
    loop {
        if sh.stopping.get() {
            // Let what is in flight arrive (so nothing is left to go to
            // offline storage), but not forever.
            let d = *stop_deadline.get_or_insert_with(|| Instant::now() + Duration::from_secs(3));
            if p.undelivered == 0 || Instant::now() > d {
                break;
            }
        }
        tokio::select! {
            el = read_elem(&mut p.receiver) => {
                let mut got = on_receiver_elem(el?, &sh);
                // Drain whatever else is already parsed/readable without
                // waiting, so one flush answers a whole batch.
                while let Some(el) = read_elem(&mut p.receiver).now_or_never() {
                    got += on_receiver_elem(el?, &sh);
                }
                let got = got as usize;
                p.undelivered -= got.min(p.undelivered);
                match o.advance {
                    Advance::Delivery => {
                        p.in_flight -= got.min(p.in_flight);
                        let room = o.window - p.in_flight;
                        send_batch(&mut p, &sh, &o, room, &pad).await?;
                    }
                    Advance::Ack => {
                        // in_flight here counts unacked sends; deliveries do
                        // not move the window. Track them only for draining.
                    }
                }
            }
            el = read_elem(&mut p.sender) => {
                let mut newly_acked = 0usize;
                let mut answer_r = false;
                let mut handle = |el: XmppStreamElement, p: &mut Pair| match el {
                    XmppStreamElement::SM(sm::Nonza::Ack(a)) => {
                        let h_msgs = (a.h.saturating_sub(p.sm_out_before_msgs)) as u64;
                        if h_msgs > p.sm_acked_msgs {
                            newly_acked += (h_msgs - p.sm_acked_msgs) as usize;
                            p.sm_acked_msgs = h_msgs;
                        }
                    }
                    XmppStreamElement::SM(sm::Nonza::Req(_)) => answer_r = true,
                    XmppStreamElement::Stanza(_) => p.sm_received += 1,
                    _ => {}
                };
                handle(el?, &mut p);
                while let Some(el) = read_elem(&mut p.sender).now_or_never() {
                    handle(el?, &mut p);
                }
                if answer_r {
                    let a = XmppStreamElement::SM(sm::Nonza::Ack(sm::A::new(p.sm_received)));
                    p.sender.send(&a).await?;
                }
                if o.advance == Advance::Ack && newly_acked > 0 {
                    p.in_flight -= newly_acked.min(p.in_flight);
                    let room = o.window - p.in_flight;
                    send_batch(&mut p, &sh, &o, room, &pad).await?;
                }
            }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
    let _ = SinkExt::<&XmppStreamElement>::close(&mut p.sender).await;
    let _ = SinkExt::<&XmppStreamElement>::close(&mut p.receiver).await;
    Ok(())
}

/// utime + stime of this process, in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the ")" of the command name; utime and stime are fields 14, 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let hz = 100.0; // USER_HZ on Linux
    ticks / hz
}

fn pct(sorted: &[u32], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i] as f64 / 1000.0
}

async fn run(o: Opts) -> Result<(), BoxError> {
    let o = Rc::new(o);
    let t0 = Instant::now();
    let run_tag = format!(
        "w1i-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis()
    );
    let sh = Rc::new(Shared {
        t0,
        run_tag,
        delivered: Cell::new(0),
        sent: Cell::new(0),
        latencies: RefCell::new(Vec::with_capacity(1 << 20)),
        measuring: Cell::new(false),
        stopping: Cell::new(false),
        foreign: Cell::new(0),
    });

    // Log everyone in, all at once.
    let login_started = Instant::now();
    let mut logins = Vec::new();
    for i in 0..o.pairs {
        let s_user = format!("user{}", o.first_user + 2 * i);
        let r_user = format!("user{}", o.first_user + 2 * i + 1);
        let o2 = o.clone();
        logins.push(async move {
            let enable_sm = o2.advance == Advance::Ack;
            let (s, r) = futures::try_join!(login(&o2, &s_user, enable_sm), login(&o2, &r_user, false))?;
            let to: Jid = format!("{r_user}@{}", o2.domain).parse()?;
            Ok::<_, BoxError>(Pair {
                sender: s,
                receiver: r,
                to,
                seq: 0,
                in_flight: 0,
                undelivered: 0,
                // After <enabled/> the sender sent its initial presence: the
                // first message is the server's handled stanza number 2.
                sm_out_before_msgs: if enable_sm { 1 } else { 0 },
                sm_acked_msgs: 0,
                // ...and it received the presence echo.
                sm_received: if enable_sm { 1 } else { 0 },
            })
        });
    }
    let pairs = futures::future::try_join_all(logins).await?;
    eprintln!(
        "logged in {} users in {:.2} s",
        2 * o.pairs,
        login_started.elapsed().as_secs_f64()
    );

    // A watch, not a Notify: a pair task that the LocalSet has not polled
    // yet when the start is given must still see it.
    let (start, start_rx) = tokio::sync::watch::channel(false);
    let local = tokio::task::LocalSet::new();
    let mut handles = Vec::new();
    for p in pairs {
        handles.push(local.spawn_local(run_pair(p, sh.clone(), o.clone(), start_rx.clone())));
    }
    let sh2 = sh.clone();
    let o2 = o.clone();
    let result = local
        .run_until(async move {
            start.send_replace(true);
            tokio::time::sleep(Duration::from_secs_f64(o2.warmup)).await;
            let d0 = sh2.delivered.get();
            let s0 = sh2.sent.get();
            let c0 = cpu_seconds();
            let w0 = Instant::now();
            sh2.measuring.set(true);
            tokio::time::sleep(Duration::from_secs_f64(o2.duration)).await;
            sh2.measuring.set(false);
            let wall = w0.elapsed().as_secs_f64();
            let c1 = cpu_seconds();
            let d1 = sh2.delivered.get();
            let s1 = sh2.sent.get();
            sh2.stopping.set(true);
            let mut errors = 0;
            for h in handles {
                match h.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => {
                        errors += 1;
                        eprintln!("pair failed: {e}");
                    }
                    Err(e) => {
                        errors += 1;
                        eprintln!("pair panicked: {e}");
                    }
                }
            }
            (d0, d1, s0, s1, c0, c1, wall, errors)
        })
        .await;
    let (d0, d1, s0, s1, c0, c1, wall, errors) = result;
    let mut lat = std::mem::take(&mut *sh.latencies.borrow_mut());
    lat.sort_unstable();
    let delivered_rate = (d1 - d0) as f64 / wall;
    let sent_rate = (s1 - s0) as f64 / wall;
    let cpu_share = (c1 - c0) / wall * 100.0;
    let lost = sh.sent.get().saturating_sub(sh.delivered.get());
    println!(
        "{{\"client\":\"w1-independent\",\"advance\":\"{:?}\",\"nodelay\":{},\"r_per_batch\":{},\"pairs\":{},\"window\":{},\"warmup_s\":{},\"duration_s\":{:.3},\
         \"delivered_per_s\":{:.0},\"sent_per_s\":{:.0},\"latency_ms_p50\":{:.2},\"latency_ms_p90\":{:.2},\"latency_ms_p99\":{:.2},\"latency_ms_max\":{:.2},\
         \"client_cpu_pct_of_one_core\":{:.1},\"undelivered_at_end\":{},\"foreign_ignored\":{},\"pair_errors\":{}}}",
        o.advance,
        o.nodelay,
        o.r_per_batch,
        o.pairs,
        o.window,
        o.warmup,
        wall,
        delivered_rate,
        sent_rate,
        pct(&lat, 0.50),
        pct(&lat, 0.90),
        pct(&lat, 0.99),
        pct(&lat, 1.0),
        cpu_share,
        lost,
        sh.foreign.get(),
        errors
    );
    if errors > 0 {
        std::process::exit(1);
    }
    Ok(())
}

fn main() -> Result<(), BoxError> {
    let o = parse_args();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(run(o))
}
