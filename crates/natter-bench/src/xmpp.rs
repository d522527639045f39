//! ejabberd under test: raw XMPP over plain TCP to the node that
//! `bench/peers/ejabberd/start` runs, plus its HTTP API for rooms, accounts
//! and offline-queue counts. bench/peers/README.md has the wire steps.
//!
//! Each user in play has one logged-in stream (SASL PLAIN, bind, session,
//! initial presence), shared for sending and receiving. A stream first used
//! to send also enables XEP-0198 stream management: a one-to-one message to
//! an online user completes at the server's first `<a h='N'/>` covering it,
//! the acknowledgement natter's 201 is compared with (delivery is recorded
//! separately, on the receiver's stream). The stream asks for one with a
//! single `<r/>` per socket write, behind all the messages written together:
//! an `<r/>` after every message costs a saturated ejabberd about a third of
//! its W1 throughput (bench/peers/ejabberd/w1-independent/README.md). A room
//! message completes when the room echoes it back to the sender, and one to
//! a user who is offline when ejabberd's offline queue has stored it.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures::StreamExt;
use quick_xml::escape::{escape, resolve_predefined_entity};
use quick_xml::events::{BytesStart, Event};
use rustls::crypto::ring;
use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpSocket;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{OnceCell, mpsc, oneshot, watch};

use crate::recorder::Recorder;
use crate::server::{Conversation, Cursor, Listener, Server, User};

const C2S: &str = "127.0.0.1:5222";
const API: &str = "http://127.0.0.1:5280/api";
const DOMAIN: &str = "localhost";
const MUC: &str = "conference.localhost";
/// Every bench account has this password (register-users).
const PASSWORD: &str = "pass";
const PID_FILE: &str = "/tmp/natter-bench/ejabberd/ejabberd.pid";
/// Which setup the node runs (memory or archive), written by its ./start.
const SETUP_FILE: &str = "/tmp/natter-bench/ejabberd/setup";
/// XEP-0198 stream management, version 3.
const NS_SM: &str = "urn:xmpp:sm:3";
/// XEP-0198's request for an acknowledgement (in the NS_SM namespace).
const ACK_REQUEST: &str = "<r xmlns='urn:xmpp:sm:3'/>";
const STREAM_OPEN: &str = "<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' \
                           xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
/// A login step, an iq or an API call taking longer than this is an error.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// A message not delivered (or stored offline) within this counts as failed.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);
/// Waiting for a batch of messages gives up when none arrived for this long.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the offline-queue size is read while sends to an offline user wait.
const SPOOL_POLL: Duration = Duration::from_millis(25);
/// Logins, joins and registrations in flight during setup.
const SETUP_CONCURRENCY: usize = 64;
/// Flush the socket once this much is queued, even if more is waiting.
const WRITE_BATCH: usize = 64 * 1024;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn local_part(user: &User) -> &str {
    user.id.split('@').next().unwrap_or(&user.id)
}

fn bare_jid(local: &str) -> String {
    format!("{local}@{DOMAIN}")
}

// ---------------------------------------------------------------- XML ----

/// A stanza (a child of `<stream:stream>`), as a small tree.
#[derive(Debug, Default)]
struct Element {
    /// Local name: `features` for `<stream:features>`.
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
    children: Vec<Element>,
}

impl Element {
    fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    fn from_start(start: &BytesStart<'_>) -> Result<Element> {
        let mut element = Element {
            name: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
            ..Element::default()
        };
        for attr in start.attributes() {
            let attr = attr?;
            let value = attr.normalized_value(quick_xml::XmlVersion::Implicit1_0)?;
            element.attrs.push((
                String::from_utf8_lossy(attr.key.as_ref()).into_owned(),
                value.into_owned(),
            ));
        }
        Ok(element)
    }
}

/// Reads one stream's stanzas. The stream's own element stays open for the
/// whole connection, so stanzas are assembled from pull events by depth.
struct StanzaReader<R = BufReader<OwnedReadHalf>> {
    xml: quick_xml::Reader<R>,
    buf: Vec<u8>,
    /// Elements of the current stanza not closed yet, outermost first.
    open: Vec<Element>,
    in_stream: bool,
}

impl<R: tokio::io::AsyncBufRead + Unpin> StanzaReader<R> {
    fn new(inner: R) -> StanzaReader<R> {
        StanzaReader {
            xml: quick_xml::Reader::from_reader(inner),
            buf: Vec::new(),
            open: Vec::new(),
            in_stream: false,
        }
    }

    /// After SASL the server starts a new XML document on the same socket;
    /// a fresh parser over the same buffered reader keeps the unread bytes.
    fn restart(self) -> StanzaReader<R> {
        StanzaReader::new(self.xml.into_inner())
    }

    async fn next(&mut self) -> Result<Element> {
        loop {
            self.buf.clear();
            let event = self
                .xml
                .read_event_into_async(&mut self.buf)
                .await?
                .into_owned();
            if let Some(stanza) = self.feed(event)? {
                return Ok(stanza);
            }
        }
    }

    fn feed(&mut self, event: Event<'static>) -> Result<Option<Element>> {
        match event {
            Event::Start(_) if !self.in_stream => self.in_stream = true,
            Event::Start(start) => self.open.push(Element::from_start(&start)?),
            Event::Empty(start) => return Ok(self.close(Element::from_start(&start)?)),
            Event::End(_) => match self.open.pop() {
                Some(element) => return Ok(self.close(element)),
                None => bail!("the server closed the stream"),
            },
            Event::Text(text) => self.push_text(&text.xml10_content()?),
            Event::CData(data) => self.push_text(&data.decode()?),
            Event::GeneralRef(reference) => {
                let resolved = match reference.resolve_char_ref()? {
                    Some(c) => c.to_string(),
                    None => resolve_predefined_entity(&reference.decode()?)
                        .unwrap_or_default()
                        .to_string(),
                };
                self.push_text(&resolved);
            }
            Event::Eof => bail!("the server closed the connection"),
            _ => {}
        }
        Ok(None)
    }

    /// A finished element: a child of the one still open, or a whole stanza.
    fn close(&mut self, element: Element) -> Option<Element> {
        match self.open.last_mut() {
            Some(parent) => {
                parent.children.push(element);
                None
            }
            None => Some(element),
        }
    }

    /// Text between stanzas (whitespace keep-alives) belongs to nothing.
    fn push_text(&mut self, text: &str) {
        if let Some(element) = self.open.last_mut() {
            element.text.push_str(text);
        }
    }

    /// During login, before the reader task runs: the next iq with this id.
    async fn iq_result(&mut self, id: &str) -> Result<Element> {
        loop {
            let stanza = self.next().await?;
            if stanza.name == "iq" && stanza.attr("id") == Some(id) {
                ensure!(
                    stanza.attr("type") == Some("result"),
                    "iq {id} failed: {stanza:?}"
                );
                return Ok(stanza);
            }
        }
    }
}

// ------------------------------------------------------------ streams ----

/// A send waiting for its message to reach `receiver`'s stream.
struct Waiter {
    receiver: String,
    done: oneshot::Sender<Result<()>>,
}

/// Sends waiting for their message, by stanza id.
#[derive(Default)]
struct Deliveries {
    waiting: Mutex<HashMap<String, Waiter>>,
}

impl Deliveries {
    fn expect(&self, id: &str, receiver: &str) -> oneshot::Receiver<Result<()>> {
        let (tx, rx) = oneshot::channel();
        lock(&self.waiting).insert(
            id.to_string(),
            Waiter {
                receiver: receiver.to_string(),
                done: tx,
            },
        );
        rx
    }

    fn forget(&self, id: &str) {
        lock(&self.waiting).remove(id);
    }

    /// A room copies a message to every occupant; only the copy to the
    /// expected receiver completes the send.
    fn arrived(&self, id: &str, receiver: &str) {
        let mut waiting = lock(&self.waiting);
        if waiting.get(id).is_some_and(|w| w.receiver == receiver)
            && let Some(waiter) = waiting.remove(id)
        {
            let _ = waiter.done.send(Ok(()));
        }
    }

    fn bounced(&self, id: &str, error: &Element) {
        if let Some(waiter) = lock(&self.waiting).remove(id) {
            let _ = waiter
                .done
                .send(Err(anyhow!("message {id} bounced: {error:?}")));
        }
    }
}

/// What a stream's writer task is given to write.
struct Outbound {
    xml: String,
    /// A send waits for the server to acknowledge this stanza: the write
    /// carrying it must end with an `<r/>`.
    wants_ack: bool,
}

/// Stanzas written on a stream since `<enable/>`, and the sends waiting for
/// the server to acknowledge theirs, oldest first.
#[derive(Default)]
struct Outgoing {
    count: u64,
    waiting: VecDeque<(u64, oneshot::Sender<()>)>,
}

/// What a stream's reader task shares with the rest.
struct Shared {
    jid: String,
    /// To the stream's writer task, in the order stanzas go on the wire.
    out: mpsc::UnboundedSender<Outbound>,
    /// Whether stream management is on (the sender's side of W1).
    managed: bool,
    outgoing: Mutex<Outgoing>,
    /// Stanzas received since `<enable/>`: the h the bench acknowledges.
    handled: AtomicU64,
    deliveries: Arc<Deliveries>,
    recorder: Mutex<Option<Arc<Recorder>>>,
    iqs: Mutex<HashMap<String, oneshot::Sender<Element>>>,
    next_iq: AtomicU64,
    /// Messages with a body received so far (W4 counts its catch-up with it).
    received: watch::Sender<u64>,
    /// Set when the bench closes the stream: its end is no news then.
    closing: AtomicBool,
}

impl Shared {
    fn new(
        user: &str,
        out: mpsc::UnboundedSender<Outbound>,
        managed: bool,
        deliveries: Arc<Deliveries>,
    ) -> Shared {
        Shared {
            jid: bare_jid(user),
            out,
            managed,
            outgoing: Mutex::default(),
            handled: AtomicU64::new(0),
            deliveries,
            recorder: Mutex::new(None),
            iqs: Mutex::new(HashMap::new()),
            next_iq: AtomicU64::new(0),
            received: watch::Sender::new(0),
            closing: AtomicBool::new(false),
        }
    }

    /// Queues a stanza; with `ack`, has the server acknowledge it (the
    /// writer requests that once per write) and completes `ack` when it has.
    fn write(&self, stanza: String, ack: Option<oneshot::Sender<()>>) -> Result<()> {
        // Counting and queueing under one lock keeps ordinals in wire order.
        let mut outgoing = lock(&self.outgoing);
        outgoing.count += 1;
        let wants_ack = ack.is_some();
        if let Some(done) = ack {
            let ordinal = outgoing.count;
            outgoing.waiting.push_back((ordinal, done));
        }
        self.queue(stanza, wants_ack)
    }

    /// Hands XML to the writer task; not counted (a stanza goes via `write`).
    fn queue(&self, xml: String, wants_ack: bool) -> Result<()> {
        self.out
            .send(Outbound { xml, wants_ack })
            .map_err(|_| anyhow!("stream of {} is closed", self.jid))
    }

    /// `<a h='N'/>`: the server has handled our first N stanzas.
    fn acknowledged(&self, h: u64) {
        let mut outgoing = lock(&self.outgoing);
        while outgoing.waiting.front().is_some_and(|(n, _)| *n <= h) {
            if let Some((_, done)) = outgoing.waiting.pop_front() {
                let _ = done.send(());
            }
        }
    }

    fn dispatch(&self, stanza: Element) {
        let id = stanza.attr("id").unwrap_or_default();
        if matches!(stanza.name.as_str(), "message" | "presence" | "iq") {
            self.handled.fetch_add(1, Ordering::Relaxed);
        }
        match stanza.name.as_str() {
            // The server asks what we have handled; unanswered, it would
            // end the stream after its ack timeout.
            "r" => {
                let h = self.handled.load(Ordering::Relaxed);
                let _ = self.queue(format!("<a xmlns='{NS_SM}' h='{h}'/>"), false);
            }
            "a" => match stanza.attr("h").map(str::parse) {
                Some(Ok(h)) => self.acknowledged(h),
                _ => eprintln!("xmpp: bad ack for {}: {stanza:?}", self.jid),
            },
            "iq" => {
                if let Some(tx) = lock(&self.iqs).remove(id) {
                    let _ = tx.send(stanza);
                }
            }
            "message" if stanza.attr("type") == Some("error") => {
                self.deliveries.bounced(id, &stanza)
            }
            "message" => {
                let Some(body) = stanza.child("body") else {
                    return;
                };
                if let Some(recorder) = lock(&self.recorder).as_ref() {
                    recorder.record_text(&body.text);
                }
                self.received.send_modify(|n| *n += 1);
                self.deliveries.arrived(id, &self.jid);
            }
            "error" => eprintln!("xmpp: stream error for {}: {stanza:?}", self.jid),
            _ => {}
        }
    }
}

/// One logged-in, available resource. Dropping it closes the stream.
struct Stream {
    shared: Arc<Shared>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Stream {
    fn drop(&mut self) {
        // The writer task ends (sending </stream:stream>) when `out` drops,
        // with the aborted reader's copy of `shared`.
        self.shared.closing.store(true, Ordering::Relaxed);
        self.reader.abort();
    }
}

async fn connect(local: Option<IpAddr>) -> Result<tokio::net::TcpStream> {
    let server: SocketAddr = C2S.parse()?;
    let socket = TcpSocket::new_v4()?;
    if let Some(ip) = local {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let tcp = socket
        .connect(server)
        .await
        .with_context(|| format!("cannot connect to ejabberd at {C2S}"))?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// SASL PLAIN, stream restart, resource bind, session, and stream management
/// if `managed`: a bound stream, not yet available (no presence).
async fn login(
    user: &str,
    local: Option<IpAddr>,
    managed: bool,
) -> Result<(StanzaReader, OwnedWriteHalf)> {
    let (read, mut write) = connect(local).await?.into_split();
    write.write_all(STREAM_OPEN.as_bytes()).await?;
    let mut reader = StanzaReader::new(BufReader::new(read));
    let features = reader.next().await?;
    ensure!(
        features.name == "features",
        "expected stream features, got {features:?}"
    );
    let token = STANDARD.encode(format!("\0{user}\0{PASSWORD}"));
    write
        .write_all(
            format!(
                "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>"
            )
            .as_bytes(),
        )
        .await?;
    let reply = reader.next().await?;
    ensure!(
        reply.name == "success",
        "SASL PLAIN refused for {user}: {reply:?}"
    );
    let mut reader = reader.restart();
    write.write_all(STREAM_OPEN.as_bytes()).await?;
    reader.next().await?; // features: bind, session
    write
        .write_all(b"<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>bench</resource></bind></iq>")
        .await?;
    reader.iq_result("bind").await?;
    write.write_all(b"<iq type='set' id='session'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>").await?;
    reader.iq_result("session").await?;
    if managed {
        // Before any counted stanza: both sides count from here.
        write
            .write_all(format!("<enable xmlns='{NS_SM}'/>").as_bytes())
            .await?;
        let reply = reader.next().await?;
        ensure!(
            reply.name == "enabled",
            "stream management refused for {user}: {reply:?} (is mod_stream_mgmt loaded?)"
        );
    }
    Ok((reader, write))
}

/// Writes what is queued, several stanzas per syscall when they pile up.
async fn write_loop(mut write: OwnedWriteHalf, mut queue: mpsc::UnboundedReceiver<Outbound>) {
    let mut batch = String::new();
    while let Some(first) = queue.recv().await {
        fill_batch(&mut batch, first, &mut queue);
        if write.write_all(batch.as_bytes()).await.is_err() {
            return;
        }
    }
    let _ = write.write_all(b"</stream:stream>").await;
    let _ = write.shutdown().await;
}

/// One write: `first` and whatever else is queued, up to WRITE_BATCH. If a
/// stanza in it awaits an acknowledgement, a single `<r/>` ends it: the
/// server's `<a h='N'/>` to that covers every stanza before it.
fn fill_batch(batch: &mut String, first: Outbound, queue: &mut mpsc::UnboundedReceiver<Outbound>) {
    batch.clear();
    let mut wants_ack = false;
    let mut next = Some(first);
    while let Some(item) = next {
        batch.push_str(&item.xml);
        wants_ack |= item.wants_ack;
        next = if batch.len() < WRITE_BATCH {
            queue.try_recv().ok()
        } else {
            None
        };
    }
    if wants_ack {
        batch.push_str(ACK_REQUEST);
    }
}

async fn read_loop(mut reader: StanzaReader, shared: Arc<Shared>) {
    loop {
        match reader.next().await {
            Ok(stanza) => shared.dispatch(stanza),
            Err(error) => {
                if !shared.closing.load(Ordering::Relaxed) {
                    eprintln!("xmpp: {} disconnected: {error:#}", shared.jid);
                }
                return;
            }
        }
    }
}

impl Stream {
    /// Logs `user` in and makes it available. Offline messages ejabberd
    /// pushes on the initial presence are already counted by the reader.
    async fn open(
        user: &str,
        local: Option<IpAddr>,
        deliveries: Arc<Deliveries>,
        managed: bool,
    ) -> Result<Stream> {
        let (reader, write) = tokio::time::timeout(STEP_TIMEOUT, login(user, local, managed))
            .await
            .with_context(|| format!("login of {user} timed out"))??;
        let (out, queue) = mpsc::unbounded_channel();
        tokio::spawn(write_loop(write, queue));
        let shared = Arc::new(Shared::new(user, out, managed, deliveries));
        let stream = Stream {
            reader: tokio::spawn(read_loop(reader, shared.clone())),
            shared,
        };
        // Until the initial presence is processed, messages to the user go to
        // offline storage; the c2s handles stanzas in order, so the answer to
        // an iq sent after it means the user is available.
        stream.write("<presence/>".to_string())?;
        stream
            .iq(
                "get",
                DOMAIN,
                "<query xmlns='http://jabber.org/protocol/disco#info'/>",
            )
            .await?;
        Ok(stream)
    }

    fn write(&self, xml: String) -> Result<()> {
        self.shared.write(xml, None)
    }

    async fn iq(&self, kind: &str, to: &str, payload: &str) -> Result<Element> {
        let id = format!("q{}", self.shared.next_iq.fetch_add(1, Ordering::Relaxed));
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.iqs).insert(id.clone(), tx);
        self.write(format!(
            "<iq type='{kind}' id='{id}' to='{}'>{payload}</iq>",
            escape(to)
        ))?;
        let reply = tokio::time::timeout(STEP_TIMEOUT, rx)
            .await
            .with_context(|| format!("iq to {to} unanswered"))?
            .map_err(|_| anyhow!("stream of {} closed", self.shared.jid))?;
        ensure!(
            reply.attr("type") == Some("result"),
            "iq to {to} failed: {reply:?}"
        );
        Ok(reply)
    }

    fn received(&self) -> watch::Receiver<u64> {
        self.shared.received.subscribe()
    }
}

/// Waits until `count` reaches `target`, or nothing moved for STALL_TIMEOUT;
/// returns where it stopped.
async fn wait_count(count: &mut watch::Receiver<u64>, target: u64) -> u64 {
    loop {
        let now = *count.borrow_and_update();
        if now >= target {
            return now;
        }
        match tokio::time::timeout(STALL_TIMEOUT, count.changed()).await {
            Ok(Ok(())) => {}
            _ => return now,
        }
    }
}

/// The streams of users in play, one per user, opened on first use.
#[derive(Default)]
struct Sessions {
    streams: Mutex<HashMap<String, Arc<OnceCell<Arc<Stream>>>>>,
}

impl Sessions {
    fn cell(&self, user: &str) -> Arc<OnceCell<Arc<Stream>>> {
        lock(&self.streams)
            .entry(user.to_string())
            .or_default()
            .clone()
    }

    fn online(&self, user: &str) -> bool {
        lock(&self.streams)
            .get(user)
            .is_some_and(|cell| cell.initialized())
    }

    fn close(&self, user: &str) {
        lock(&self.streams).remove(user);
    }
}

/// Ends a listener: stops recording and closes the user's stream.
struct ListenGuard {
    sessions: Arc<Sessions>,
    stream: Arc<Stream>,
    user: String,
}

impl Drop for ListenGuard {
    fn drop(&mut self) {
        lock(&self.stream.shared.recorder).take();
        self.sessions.close(&self.user);
    }
}

// ---------------------------------------------------------------- API ----

/// ejabberd's HTTP API (mod_http_api) on the loopback listener.
#[derive(Clone)]
struct Api {
    http: reqwest::Client,
}

impl Api {
    async fn call(&self, command: &str, args: Value) -> Result<(u16, Value)> {
        let response = self
            .http
            .post(format!("{API}/{command}"))
            .json(&args)
            .send()
            .await
            .with_context(|| format!("ejabberd API {command}"))?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    async fn offline_count(&self, user: &str) -> Result<u64> {
        let (status, body) = self
            .call("get_offline_count", json!({ "user": user, "host": DOMAIN }))
            .await?;
        ensure!(status == 200, "get_offline_count answered {status}: {body}");
        body["value"]
            .as_u64()
            .ok_or_else(|| anyhow!("get_offline_count answered {body}"))
    }

    async fn exists(&self, user: &str) -> Result<bool> {
        let (status, body) = self
            .call("check_account", json!({ "user": user, "host": DOMAIN }))
            .await?;
        ensure!(status == 200, "check_account answered {status}: {body}");
        Ok(body == json!(0))
    }

    async fn register(&self, user: String) -> Result<()> {
        let (status, body) = self
            .call(
                "register",
                json!({ "user": user, "host": DOMAIN, "password": PASSWORD }),
            )
            .await?;
        // 409: registered already, which is all we need.
        ensure!(
            status == 200 || status == 409,
            "register {user} answered {status}: {body}"
        );
        Ok(())
    }

    /// Rooms persist; creating one that exists is fine.
    async fn create_room(&self, name: &str) -> Result<()> {
        let (status, body) = self
            .call(
                "create_room",
                json!({ "name": name, "service": MUC, "host": DOMAIN }),
            )
            .await?;
        ensure!(
            status == 200 || body == json!("Room already exists"),
            "create_room {name} answered {status}: {body}"
        );
        Ok(())
    }

    async fn occupants(&self, room: &str) -> Result<u64> {
        let (_, body) = self
            .call(
                "get_room_occupants_number",
                json!({ "name": room, "service": MUC }),
            )
            .await?;
        body["occupants"]
            .as_u64()
            .ok_or_else(|| anyhow!("get_room_occupants_number answered {body}"))
    }

    async fn has_session(&self, user: &str) -> Result<bool> {
        let (_, body) = self
            .call("user_resources", json!({ "user": user, "host": DOMAIN }))
            .await?;
        Ok(body
            .as_array()
            .is_some_and(|resources| !resources.is_empty()))
    }
}

/// Messages sent to one offline user since its queue was last emptied.
struct Spool {
    sent: AtomicU64,
    /// The queue's size as last read from the API.
    stored: watch::Sender<u64>,
    polling: AtomicBool,
}

impl Spool {
    fn new(count: u64) -> Arc<Spool> {
        Arc::new(Spool {
            sent: AtomicU64::new(count),
            stored: watch::Sender::new(count),
            polling: AtomicBool::new(false),
        })
    }
}

/// Reads the queue's size until every send counted in it is stored, or it
/// stops growing.
async fn poll_spool(api: Api, user: String, spool: Arc<Spool>) {
    let mut progressed = Instant::now();
    loop {
        tokio::time::sleep(SPOOL_POLL).await;
        if let Ok(count) = api.offline_count(&user).await {
            if count > *spool.stored.borrow() {
                progressed = Instant::now();
            }
            spool.stored.send_replace(count);
        }
        if progressed.elapsed() > STALL_TIMEOUT {
            spool.polling.store(false, Ordering::SeqCst);
            return;
        }
        if *spool.stored.borrow() >= spool.sent.load(Ordering::SeqCst) {
            spool.polling.store(false, Ordering::SeqCst);
            // A send counted after the check above needs the poller still.
            if *spool.stored.borrow() >= spool.sent.load(Ordering::SeqCst)
                || spool.polling.swap(true, Ordering::SeqCst)
            {
                return;
            }
        }
    }
}

// ------------------------------------------------------------- server ----

pub struct Xmpp {
    api: Api,
    sessions: Arc<Sessions>,
    deliveries: Arc<Deliveries>,
    spools: Mutex<HashMap<String, Arc<Spool>>>,
    next_user: AtomicUsize,
    next_message: AtomicU64,
    /// Tells this run's stanza ids from a previous run's still queued.
    run: u64,
}

/// `Conversation::id` of a one-to-one chat; a room's is its JID.
const DIRECT: &str = "direct";

impl Xmpp {
    pub fn new() -> Result<Xmpp> {
        // reqwest is built without a default TLS provider; the API is plain
        // HTTP, but building a client still needs one installed.
        let _ = ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(STEP_TIMEOUT)
            .no_proxy()
            .build()?;
        Ok(Xmpp {
            api: Api { http },
            sessions: Arc::default(),
            deliveries: Arc::default(),
            spools: Mutex::default(),
            next_user: AtomicUsize::new(1),
            next_message: AtomicU64::new(0),
            run: crate::recorder::now_nanos() / 1_000_000 % 1_000_000_000,
        })
    }

    /// `user`'s stream, logging in on first use (with stream management if
    /// `managed`; a stream already open stays as it is).
    async fn stream(
        &self,
        user: &str,
        local: Option<IpAddr>,
        managed: bool,
    ) -> Result<Arc<Stream>> {
        let cell = self.sessions.cell(user);
        let stream = cell
            .get_or_try_init(|| async {
                Stream::open(user, local, self.deliveries.clone(), managed)
                    .await
                    .map(Arc::new)
            })
            .await?;
        Ok(stream.clone())
    }

    /// Accounts user`from`..user`to` exist; register-users made them in
    /// order, so the last one existing means all do.
    async fn ensure_registered(&self, from: usize, to: usize) -> Result<()> {
        if self.api.exists(&format!("user{to}")).await? {
            return Ok(());
        }
        let results: Vec<Result<()>> = futures::stream::iter(from..=to)
            .map(|i| self.api.register(format!("user{i}")))
            .buffer_unordered(SETUP_CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect()
    }

    async fn join(&self, user: &User, room: &str) -> Result<()> {
        let nick = local_part(user);
        let stream = self.stream(nick, None, false).await?;
        stream.write(format!(
            "<presence to='{room}@{MUC}/{nick}'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>"
        ))?;
        // With presence_broadcast=[moderator] a participant gets no presence
        // back, not even its own; the room handles one sender's stanzas in
        // order, so this answer means the join went through.
        stream
            .iq(
                "get",
                &format!("{room}@{MUC}"),
                "<query xmlns='http://jabber.org/protocol/disco#info'/>",
            )
            .await?;
        Ok(())
    }

    /// Sends and waits until the message reaches `receiver`'s stream.
    async fn deliver(
        &self,
        stream: &Stream,
        stanza: String,
        id: &str,
        receiver: &str,
    ) -> Result<()> {
        let arrived = self.deliveries.expect(id, receiver);
        if let Err(error) = stream.write(stanza) {
            self.deliveries.forget(id);
            return Err(error);
        }
        match tokio::time::timeout(DELIVERY_TIMEOUT, arrived).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => bail!("message {id} lost its waiter"),
            Err(_) => {
                self.deliveries.forget(id);
                bail!("message {id} did not reach {receiver} within {DELIVERY_TIMEOUT:?}")
            }
        }
    }

    /// Sends and waits for the server's stream-management acknowledgement.
    async fn acknowledge(&self, stream: &Stream, stanza: String, id: &str) -> Result<()> {
        let (done, acked) = oneshot::channel();
        stream.shared.write(stanza, Some(done))?;
        match tokio::time::timeout(DELIVERY_TIMEOUT, acked).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => bail!("stream closed before message {id} was acknowledged"),
            Err(_) => bail!("message {id} not acknowledged within {DELIVERY_TIMEOUT:?}"),
        }
    }

    /// The spool of `user`, starting from its current queue size.
    async fn spool(&self, user: &str) -> Result<Arc<Spool>> {
        if let Some(spool) = lock(&self.spools).get(user) {
            return Ok(spool.clone());
        }
        let count = self.api.offline_count(user).await?;
        Ok(lock(&self.spools)
            .entry(user.to_string())
            .or_insert_with(|| Spool::new(count))
            .clone())
    }

    /// Sends to a user with no stream and waits until ejabberd stored it:
    /// the queue holding at least as many messages as were sent to it.
    async fn store(&self, stream: &Stream, stanza: String, receiver: &str) -> Result<()> {
        let spool = self.spool(receiver).await?;
        let ordinal = spool.sent.fetch_add(1, Ordering::SeqCst) + 1;
        stream.write(stanza)?;
        if !spool.polling.swap(true, Ordering::SeqCst) {
            tokio::spawn(poll_spool(
                self.api.clone(),
                receiver.to_string(),
                spool.clone(),
            ));
        }
        let mut stored = spool.stored.subscribe();
        tokio::time::timeout(DELIVERY_TIMEOUT, stored.wait_for(|count| *count >= ordinal))
            .await
            .with_context(|| {
                format!(
                    "offline message {ordinal} to {receiver} not stored within {DELIVERY_TIMEOUT:?}"
                )
            })?
            .map_err(|_| anyhow!("spool watch closed"))?;
        Ok(())
    }

    /// Logs `user` in, takes the `expected` offline messages ejabberd pushes
    /// and logs out; returns how many came.
    async fn drain(&self, user: &str, expected: u64) -> Result<u64> {
        let stream = Stream::open(user, None, self.deliveries.clone(), false).await?;
        let received = wait_count(&mut stream.received(), expected).await;
        drop(stream);
        lock(&self.spools).insert(user.to_string(), Spool::new(0));
        Ok(received)
    }

    /// Until ejabberd has dropped the session, messages would still go to it.
    async fn wait_offline(&self, user: &str) -> Result<()> {
        let deadline = Instant::now() + STEP_TIMEOUT;
        while self.api.has_session(user).await? {
            ensure!(
                Instant::now() < deadline,
                "{user} still has a session after {STEP_TIMEOUT:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Server for Xmpp {
    /// `ejabberd (memory)` or `ejabberd (archive)`: the setup its ./start ran.
    fn name(&self) -> String {
        match std::fs::read_to_string(SETUP_FILE) {
            Ok(setup) => format!("ejabberd ({})", setup.trim()),
            Err(_) => "ejabberd".into(),
        }
    }

    fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(PID_FILE).ok()?.trim().parse().ok()
    }

    /// The next `n` of the pre-registered user1..userN (registering more if
    /// needed). Logging in happens on first use.
    async fn users(&self, n: usize) -> Result<Vec<User>> {
        let first = self.next_user.fetch_add(n, Ordering::Relaxed);
        if n > 0 {
            self.ensure_registered(first, first + n - 1).await?;
        }
        Ok((0..n)
            .map(|index| User {
                id: bare_jid(&format!("user{}", first + index)),
                secret: PASSWORD.into(),
                index,
            })
            .collect())
    }

    async fn direct(&self, a: &User, b: &User) -> Result<Conversation> {
        Ok(Conversation {
            id: DIRECT.into(),
            members: vec![a.clone(), b.clone()],
        })
    }

    /// A persistent MUC room named after its members, so runs reuse it;
    /// every member logs in and joins (occupancy does not persist).
    async fn group(&self, members: &[User]) -> Result<Conversation> {
        let first = members
            .first()
            .ok_or_else(|| anyhow!("a group needs members"))?;
        let room = format!("w2-{}-{}", local_part(first), members.len());
        self.api.create_room(&room).await?;
        // Owned users: a closure over borrowed ones is not Send enough for async_trait.
        let joins = members.iter().cloned().map(|member| {
            let room = room.clone();
            async move { self.join(&member, &room).await }
        });
        let joined: Vec<Result<()>> = futures::stream::iter(joins)
            .buffer_unordered(SETUP_CONCURRENCY)
            .collect()
            .await;
        joined.into_iter().collect::<Result<Vec<()>>>()?;
        let occupants = self.api.occupants(&room).await?;
        ensure!(
            occupants as usize >= members.len(),
            "room {room} has {occupants} occupants, expected {}",
            members.len()
        );
        Ok(Conversation {
            id: format!("{room}@{MUC}"),
            members: members.to_vec(),
        })
    }

    async fn listen(
        &self,
        user: &User,
        recorder: Arc<Recorder>,
        local: Option<IpAddr>,
    ) -> Result<Listener> {
        let name = local_part(user).to_string();
        let stream = self.stream(&name, local, false).await?;
        *lock(&stream.shared.recorder) = Some(recorder);
        let guard = ListenGuard {
            sessions: self.sessions.clone(),
            stream,
            user: name,
        };
        let task = tokio::spawn(async move {
            let _guard = guard;
            futures::future::pending::<()>().await;
        });
        Ok(Listener { task })
    }

    async fn send(&self, from: &User, to: &Conversation, body: &str) -> Result<()> {
        let sender = local_part(from);
        let stream = self.stream(sender, None, true).await?;
        let id = format!(
            "b{}-{}",
            self.run,
            self.next_message.fetch_add(1, Ordering::Relaxed)
        );
        let body = escape(body);
        if to.id != DIRECT {
            // The room echoes the message to its sender too: that copy is
            // the room's acknowledgement.
            let stanza = format!(
                "<message to='{}' type='groupchat' id='{id}'><body>{body}</body></message>",
                escape(&to.id)
            );
            return self.deliver(&stream, stanza, &id, &bare_jid(sender)).await;
        }
        let receiver = to
            .members
            .iter()
            .find(|m| m.id != from.id)
            .ok_or_else(|| anyhow!("no one to send to"))?;
        let stanza = format!(
            "<message to='{}' type='chat' id='{id}'><body>{body}</body></message>",
            escape(&receiver.id)
        );
        let receiver = local_part(receiver);
        if !self.sessions.online(receiver) {
            self.store(&stream, stanza, receiver).await
        } else if stream.shared.managed {
            self.acknowledge(&stream, stanza, &id).await
        } else {
            self.deliver(&stream, stanza, &id, &bare_jid(receiver))
                .await
        }
    }

    /// The user goes offline with an empty offline queue: what is queued
    /// from now on is what it catches up on.
    async fn cursor(&self, user: &User) -> Result<Cursor> {
        let name = local_part(user);
        self.sessions.close(name);
        self.wait_offline(name).await?;
        let queued = self.api.offline_count(name).await?;
        if queued > 0 {
            self.drain(name, queued).await?;
            self.wait_offline(name).await?;
        }
        lock(&self.spools).insert(name.to_string(), Spool::new(0));
        Ok(Cursor::default())
    }

    /// Logs in with initial presence, which makes ejabberd push the whole
    /// offline queue; done when every message stored since `cursor` arrived.
    async fn catch_up(&self, user: &User, _cursor: &Cursor) -> Result<usize> {
        let name = local_part(user);
        let expected = self.spool(name).await?.sent.load(Ordering::SeqCst);
        let received = self.drain(name, expected).await?;
        Ok(received as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn assembles_stanzas_across_a_stream_restart() -> Result<()> {
        let wire = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>\
                    <stream:features><mechanisms/></stream:features><success/>\
                    <?xml version='1.0'?><stream:stream xmlns='jabber:client'> \
                    <message id='m1' type='chat'><archived/><body>bench 1 &amp; &#x32;</body></message>";
        let mut reader = StanzaReader::new(wire.as_bytes());
        assert_eq!(reader.next().await?.name, "features");
        assert_eq!(reader.next().await?.name, "success");
        let mut reader = reader.restart();
        let message = reader.next().await?;
        assert_eq!(
            (message.name.as_str(), message.attr("id")),
            ("message", Some("m1"))
        );
        assert_eq!(
            message.child("body").map(|b| b.text.as_str()),
            Some("bench 1 & 2")
        );
        assert!(
            reader.next().await.is_err(),
            "end of input is a closed connection"
        );
        Ok(())
    }

    /// What the writer task would put on the wire next: one write's worth.
    fn next_write(wire: &mut mpsc::UnboundedReceiver<Outbound>) -> Option<String> {
        let first = wire.try_recv().ok()?;
        let mut batch = String::new();
        fill_batch(&mut batch, first, wire);
        Some(batch)
    }

    #[test]
    fn an_ack_completes_the_sends_it_covers_and_no_later_one() -> Result<()> {
        let (out, mut wire) = mpsc::unbounded_channel();
        let shared = Shared::new("user1", out, true, Arc::default());
        let mut acks = Vec::new();
        shared.write("<presence/>".into(), None)?;
        for n in 0..3 {
            let (done, acked) = oneshot::channel();
            let stanza = format!("<message id='m{n}'/>");
            shared.write(stanza, Some(done))?;
            acks.push(acked);
        }
        // Queued together, written together, with one <r/> for them all.
        assert_eq!(
            next_write(&mut wire),
            Some(format!(
                "<presence/><message id='m0'/><message id='m1'/><message id='m2'/>{ACK_REQUEST}"
            ))
        );
        // h counts the presence too: h=3 covers the first two messages.
        shared.dispatch(Element {
            name: "a".into(),
            attrs: vec![("h".into(), "3".into())],
            ..Element::default()
        });
        let states: Vec<bool> = acks.iter_mut().map(|a| a.try_recv().is_ok()).collect();
        assert_eq!(states, [true, true, false]);
        // The server's own <r/> is answered with the stanzas received so
        // far, and that write asks for no acknowledgement.
        shared.dispatch(Element {
            name: "message".into(),
            ..Element::default()
        });
        shared.dispatch(Element {
            name: "r".into(),
            ..Element::default()
        });
        assert_eq!(
            next_write(&mut wire),
            Some(format!("<a xmlns='{NS_SM}' h='1'/>"))
        );
        Ok(())
    }

    #[test]
    fn a_room_copy_to_another_occupant_does_not_complete_the_send() {
        let deliveries = Deliveries::default();
        let mut waiting = deliveries.expect("m1", "user1@localhost");
        deliveries.arrived("m1", "user2@localhost");
        assert!(waiting.try_recv().is_err());
        deliveries.arrived("m1", "user1@localhost");
        assert!(matches!(waiting.try_recv(), Ok(Ok(()))));
    }
}
