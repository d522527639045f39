#!/usr/bin/env python3
"""End-to-end smoke check of the benchmark Synapse, over the Matrix client API.

Standard library only (urllib, json), so every request is visible here: it
documents the exact calls natter-bench's Matrix adapter reproduces. Needs a
running server (./start) and tokens for user1..user3 (./register-users 3).

  1. W1: user1 creates a direct room with user2, user2 joins; user2 syncs to
         get a `since` token, user1 sends an m.room.message, user2's long-poll
         /sync returns it.
  2. W2: user1 creates a public room, user2 joins it with no invite; a message
         from user1 shows up in user2's /sync.
  3. W4: user3 joins, takes a since token and stops syncing ("offline");
         user1 sends 5 messages; user3's /sync?since=... returns all 5.
"""
import json
import sys
import time
import urllib.parse
import urllib.request
import uuid

BASE = "http://127.0.0.1:8008/_matrix/client/v3"
TOKENS = sys.argv[1] if len(sys.argv) > 1 else "/tmp/natter-bench/synapse-tokens.txt"

# Sync filter: only room timelines, no presence/account data, members loaded
# lazily. Passed inline (URL-encoded JSON); POST /user/{id}/filter would
# return a filter_id to pass instead.
FILTER = json.dumps({
    "presence": {"types": []},
    "account_data": {"types": []},
    "room": {"timeline": {"limit": 100}, "state": {"lazy_load_members": True},
             "ephemeral": {"types": []}, "account_data": {"types": []}},
}, separators=(",", ":"))


def request(token, method, path, body=None, timeout=60):
    req = urllib.request.Request(BASE + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.load(resp)


def sync(token, since=None, timeout_ms=0):
    q = {"filter": FILTER, "timeout": str(timeout_ms)}
    if since:
        q["since"] = since
    return request(token, "GET", "/sync?" + urllib.parse.urlencode(q), timeout=timeout_ms / 1000 + 30)


def send(token, room, body):
    # The txn id makes the PUT idempotent: a retried request is not re-sent.
    path = f"/rooms/{urllib.parse.quote(room)}/send/m.room.message/{uuid.uuid4().hex}"
    return request(token, "PUT", path, {"msgtype": "m.text", "body": body})["event_id"]


def join(token, room):
    request(token, "POST", f"/join/{urllib.parse.quote(room)}", {})


def wait_for(token, since, room, want_ids, deadline_s=30):
    """Long-poll /sync from `since` until every event id in want_ids arrived."""
    want, got, end = set(want_ids), [], time.time() + deadline_s
    while want and time.time() < end:
        resp = sync(token, since, timeout_ms=10000)
        since = resp["next_batch"]
        for ev in resp.get("rooms", {}).get("join", {}).get(room, {}).get("timeline", {}).get("events", []):
            if ev["type"] == "m.room.message":
                got.append(ev)
                want.discard(ev["event_id"])
    assert not want, f"missing events: {want}"
    return got, since


def main():
    users = [line.split() for line in open(TOKENS)][:3]
    (u1, t1), (u2, t2), (u3, t3) = users

    # W1: a direct (private, invite-only) room between two users.
    room = request(t1, "POST", "/createRoom", {"preset": "trusted_private_chat", "is_direct": True,
                                                "invite": [u2]})["room_id"]
    join(t2, room)  # accept the invite
    since2 = sync(t2)["next_batch"]  # "now" for user2: only newer events from here
    sent = time.time()
    body = json.dumps({"seq": 1, "sent_ms": int(sent * 1000)})
    eid = send(t1, room, body)
    got, since2 = wait_for(t2, since2, room, [eid])
    assert json.loads(got[0]["content"]["body"])["seq"] == 1 and got[0]["sender"] == u1
    print(f"W1 ok: {u1} -> {u2} m.room.message delivered via /sync in {(time.time() - sent) * 1000:.1f} ms")
    print("   received:", json.dumps(got[0]))

    # W2: a public room anyone on the server can join without an invite.
    group = request(t1, "POST", "/createRoom", {"preset": "public_chat", "name": "smoke"})["room_id"]
    join(t2, group)
    since2 = sync(t2, since2)["next_batch"]
    eid = send(t1, group, "hello room")
    wait_for(t2, since2, group, [eid])
    print(f"W2 ok: message in public room {group} reached the joined member")

    # W4: user3 is a member but does not sync while messages arrive.
    join(t3, group)
    since3 = sync(t3)["next_batch"]
    ids = [send(t1, group, f"offline {i}") for i in range(5)]
    resp = sync(t3, since3)  # one catch-up sync, no waiting
    timeline = resp["rooms"]["join"][group]["timeline"]
    bodies = [e["content"]["body"] for e in timeline["events"] if e["type"] == "m.room.message"]
    assert bodies == [f"offline {i}" for i in range(5)] and not timeline["limited"], timeline
    print(f"W4 ok: {u3} caught up on {len(ids)} messages with one /sync?since= (limited=false)")
    for token, r in ((t1, room), (t2, room), (t1, group), (t2, group), (t3, group)):
        request(token, "POST", f"/rooms/{urllib.parse.quote(r)}/leave", {})
    print("synapse smoke: all checks passed")


if __name__ == "__main__":
    main()
