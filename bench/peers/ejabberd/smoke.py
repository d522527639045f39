#!/usr/bin/env python3
"""End-to-end smoke check of the benchmark ejabberd node, over raw XMPP.

Standard library only, one plain TCP socket per user, so every byte on the
wire is visible here: it documents the exact steps natter-bench's XMPP adapter
reproduces. Needs a running node (./start, either setup) and user1..user3
(./register-users 3).

  1. W1: user1 and user2 log in; user1 enables stream management (XEP-0198),
         sends a chat message to user2 and asks for an acknowledgement (<r/>);
         the server answers <a h='N'/>, N counting user1's stanzas since
         <enable/>; user2 receives the message.
  2. W2: a MUC room is created over the HTTP API; user1 and user2 join it;
         user1 posts a groupchat message; both occupants receive it.
  3. W4: user1 sends 5 messages to the offline user3; user3 logs in, sends
         initial presence and receives them; then pages them out of MAM
         (archive setup), or finds that no archive answers (memory setup).
"""
import base64
import json
import os
import socket
import time
import urllib.request
import uuid
import xml.etree.ElementTree as ET

HOST, PORT, DOMAIN = "127.0.0.1", 5222, "localhost"
MUC = "conference." + DOMAIN
NS_CLIENT = "{jabber:client}"
NS_SM = "urn:xmpp:sm:3"
# Which setup the running node has: ./start writes it here.
SETUP_FILE = os.path.join(os.environ.get("EJ_WORK", "/tmp/natter-bench/ejabberd"), "setup")
STREAM_OPEN = (
    "<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>" % DOMAIN
)


class Xmpp:
    """One client connection. Stanzas are the children of <stream:stream>."""

    def __init__(self, user, password="pass", resource="bench"):
        self.sock = socket.create_connection((HOST, PORT), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.jid = f"{user}@{DOMAIN}/{resource}"
        self._open_stream()
        features = self.recv()  # <stream:features> with <mechanisms> incl. PLAIN
        assert "PLAIN" in ET.tostring(features, encoding="unicode"), "no SASL PLAIN"
        # SASL PLAIN: base64("\0" authcid "\0" password), no TLS (loopback).
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        self.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
        reply = self.recv()
        assert reply.tag.endswith("}success"), f"auth failed: {ET.tostring(reply)}"
        # After SASL success the stream restarts (new header, new features).
        self._open_stream()
        self.recv()  # <stream:features> with <bind/> and <session/>
        self.iq(f"<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>{resource}</resource></bind>")
        # RFC 3921 session: optional for ejabberd, still sent by most clients.
        self.iq("<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>")

    def _open_stream(self):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth, self.ready = 0, []
        self.send(STREAM_OPEN)
        self._pump(lambda: self.depth >= 1)  # wait for the server's stream header

    def send(self, data):
        self.sock.sendall(data.encode())

    def _pump(self, done):
        while not done():
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("stream closed by server")
            self.parser.feed(chunk)
            for event, elem in self.parser.read_events():
                if event == "start":
                    self.depth += 1
                else:
                    self.depth -= 1
                    if self.depth == 1:  # a complete top-level stanza
                        self.ready.append(elem)

    def recv(self):
        """Next complete stanza (Element), blocking up to the socket timeout."""
        self._pump(lambda: self.ready)
        return self.ready.pop(0)

    def recv_until(self, match):
        while True:
            stanza = self.recv()
            if match(stanza):
                return stanza

    def iq(self, payload, to=None):
        """Send an <iq type='set'> and wait for its result."""
        ident = uuid.uuid4().hex[:8]
        attr = f" to='{to}'" if to else ""
        self.send(f"<iq type='set' id='{ident}'{attr}>{payload}</iq>")
        reply = self.recv_until(lambda s: s.tag == NS_CLIENT + "iq" and s.get("id") == ident)
        assert reply.get("type") == "result", ET.tostring(reply)
        return reply

    def close(self):
        self.send("</stream:stream>")
        self.sock.close()


def body_of(stanza):
    return stanza.findtext(NS_CLIENT + "body")


def is_message(stanza):
    return stanza.tag == NS_CLIENT + "message"


def api(command, **args):
    req = urllib.request.Request(f"http://127.0.0.1:5280/api/{command}", json.dumps(args).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.load(resp)


def one_to_one():
    alice, bob = Xmpp("user1"), Xmpp("user2")
    # Initial presence: without it the receiver is not "available" and a
    # message to its bare JID goes to offline storage instead of the socket.
    # Stream management before any stanza, so that h counts them all.
    alice.send(f"<enable xmlns='{NS_SM}'/>")
    assert alice.recv().tag == f"{{{NS_SM}}}enabled"
    alice.send("<presence/>")
    bob.send("<presence/>")
    sent = time.time()
    body = json.dumps({"seq": 1, "sent_ms": int(sent * 1000)})
    alice.send(f"<message to='user2@{DOMAIN}' type='chat' id='w1-1'><body>{body}</body></message>"
               f"<r xmlns='{NS_SM}'/>")
    # The server asks alice for acks too (<r/>, after its presence echo);
    # left unanswered: this check ends long before the 60 s ack timeout.
    ack = alice.recv_until(lambda s: s.tag == f"{{{NS_SM}}}a")
    assert ack.get("h") == "2", ET.tostring(ack)  # the presence, the message
    print(f"W1 ok: stream management acknowledged the message in {(time.time() - sent) * 1000:.1f} ms")
    got = bob.recv_until(is_message)
    assert json.loads(body_of(got))["seq"] == 1 and got.get("from") == alice.jid, ET.tostring(got)
    print(f"W1 ok: user1 -> user2 chat message delivered in {(time.time() - sent) * 1000:.1f} ms")
    print("   received:", ET.tostring(got, encoding="unicode"))
    return alice, bob


def group(alice, bob):
    room = "smoke" + uuid.uuid4().hex[:6]
    # Room made over the HTTP API (no locked-room/config-form dance), with
    # default_room_options from ejabberd.yml: only moderators' presence is
    # broadcast, so a join costs O(1), not O(members).
    api("create_room", name=room, service=MUC, host=DOMAIN)
    for c, nick in ((alice, "user1"), (bob, "user2")):
        c.send(f"<presence to='{room}@{MUC}/{nick}'><x xmlns='http://jabber.org/protocol/muc'>"
               "<history maxstanzas='0'/></x></presence>")
        # With presence_broadcast=moderator a participant does not even get
        # its own presence back (status 110), so use a barrier: the room
        # handles one sender's stanzas in order, so once this disco#info iq
        # is answered the join before it has been processed.
        c.send(f"<iq type='get' id='join' to='{room}@{MUC}'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        reply = c.recv_until(lambda s: s.tag == NS_CLIENT + "iq" and s.get("id") == "join")
        assert reply.get("type") == "result", ET.tostring(reply)
    occupants = api("get_room_occupants_number", name=room, service=MUC)["occupants"]
    assert occupants == 2, occupants
    alice.send(f"<message to='{room}@{MUC}' type='groupchat' id='w2-1'><body>hello room</body></message>")
    for c in (bob, alice):  # the sender gets its own message echoed, too
        got = c.recv_until(lambda s: is_message(s) and body_of(s) == "hello room")
        assert got.get("type") == "groupchat" and got.get("from") == f"{room}@{MUC}/user1"
    print(f"W2 ok: groupchat message in {room}@{MUC} reached both occupants")
    api("destroy_room", name=room, service=MUC)  # rooms are persistent


def catch_up(alice):
    n = 5
    for i in range(n):
        alice.send(f"<message to='user3@{DOMAIN}' type='chat' id='w4-{i}'><body>offline {i}</body></message>")
    # Wait until all are stored: a message still in flight when user3 comes
    # online is delivered live and may overtake the stored ones.
    while api("get_offline_count", user="user3", host=DOMAIN)["value"] < n:
        time.sleep(0.05)
    carol = Xmpp("user3")
    carol.send("<presence/>")  # initial presence flushes the offline queue
    got = [carol.recv_until(is_message) for _ in range(n)]
    assert [body_of(m) for m in got] == [f"offline {i}" for i in range(n)], [body_of(m) for m in got]
    assert got[0].find("{urn:xmpp:delay}delay") is not None
    print(f"W4 ok: user3 got {n} offline messages on login (with <delay/> stamps)")
    setup = open(SETUP_FILE).read().strip()
    # The same messages from the archive (XEP-0313), paged with RSM; the
    # memory setup has none (mod_mam not loaded), which this checks too.
    qid = "q1"
    carol.send(f"<iq type='set' id='mam1'><query xmlns='urn:xmpp:mam:2' queryid='{qid}'>"
               "<set xmlns='http://jabber.org/protocol/rsm'><max>100</max></set></query></iq>")
    results = []
    while True:
        s = carol.recv()
        if s.tag == NS_CLIENT + "iq" and s.get("id") == "mam1":
            fin = s.find("{urn:xmpp:mam:2}fin")
            break
        if s.tag == f"{{{NS_SM}}}r":
            continue
        r = s.find("{urn:xmpp:mam:2}result")
        if r is not None and r.get("queryid") == qid:
            results.append(r)
    if setup == "memory":
        assert s.get("type") == "error" and not results, ET.tostring(s)
        print("W4 ok: no message archive in the memory setup (the MAM query is refused)")
    else:
        assert len(results) >= n and fin is not None, (len(results), ET.tostring(s))
        print(f"W4 ok: MAM query returned {len(results)} archived messages (complete={fin.get('complete')})")
    carol.close()


if __name__ == "__main__":
    a, b = one_to_one()
    group(a, b)
    catch_up(a)
    a.close()
    b.close()
    print(f"ejabberd smoke ({open(SETUP_FILE).read().strip()} setup): all checks passed")
