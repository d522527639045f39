#!/usr/bin/env python3
"""Seeds a fresh natter for the schemathesis run (standard library only).

Usage: seed.py BASE_URL OUTBOX_PATH OUT_ENV_FILE

Signs up users through send-otp / verify-otp (reading each code from the SMS
outbox), makes them contacts, creates a private chat, a group and a few
messages, so that small ids (1..N) exist for chats, messages, contacts and
users. Writes shell assignments (TOKEN_MAIN=..., TOKEN_LOGOUT=..., ...) to
OUT_ENV_FILE for the run script to source.
"""
import json
import sys
import time
import urllib.error
import urllib.request

BASE, OUTBOX, OUT = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3]


def call(method, path, body=None, token=None, expect=(200, 201)):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    if status not in expect:
        raise SystemExit(f"seed: {method} {path} -> {status} {raw[:300]!r}")
    return json.loads(raw) if raw else None


def outbox_codes():
    try:
        with open(OUTBOX, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]
    except FileNotFoundError:
        return []


def sign_up(number, name):
    before = len(outbox_codes())
    call("POST", "/api/auth/send-otp", {"phone_number": number, "country_code": "1"})
    for _ in range(100):
        lines = outbox_codes()
        if len(lines) > before:
            break
        time.sleep(0.05)
    else:
        raise SystemExit(f"seed: no OTP for {number} in {OUTBOX}")
    code = lines[-1]["code"]
    out = call("POST", "/api/auth/verify-otp",
               {"phone_number": number, "country_code": "1", "otp": code, "name": name})
    return out["user"]["id"], out["tokens"]["access_token"], out["tokens"]["refresh_token"]


users = {}
for key, number, name in [
    ("MAIN", "2125550101", "Alice"),
    ("PEER", "2125550102", "Bob"),
    ("THIRD", "2125550103", "Carol"),
    ("LOGOUT", "2125550104", "Dave"),
    ("DELETE", "2125550105", "Erin"),
]:
    users[key] = sign_up(number, name)

main_id, main_tok, main_refresh = users["MAIN"]
peer_id, peer_tok, _ = users["PEER"]
third_id, third_tok, _ = users["THIRD"]

# Contacts both ways (ids 1.. for the Contact rows), so privacy and status paths have data.
call("POST", "/api/contacts", {"phone_number": "2125550102", "country_code": "1", "contact_name": "Bob"}, main_tok)
call("POST", "/api/contacts", {"contact_user_id": third_id, "contact_name": "Carol"}, main_tok)
call("POST", "/api/contacts", {"contact_user_id": main_id}, peer_tok)

private = call("POST", "/api/chats/private", {"contact_id": peer_id}, main_tok)["id"]
group = call("POST", "/api/groups", {"name": "Team", "description": "seeded",
                                    "participants": [peer_id, third_id]}, main_tok)["id"]
# A second group the main user is not in, to exercise the 404 paths.
call("POST", "/api/groups", {"name": "Others", "participants": [third_id]}, peer_tok)

first = None
for i in range(4):
    m = call("POST", f"/api/chats/{private}/messages",
             {"message_type": "text", "content": f"hello {i}", "client_message_id": f"seed-p-{i}"},
             main_tok)["message"]
    first = first or m["id"]
    call("POST", f"/api/chats/{private}/messages",
         {"message_type": "text", "content": f"hi back {i}", "reply_to_message_id": m["id"]}, peer_tok)
for i in range(3):
    call("POST", f"/api/chats/{group}/messages", {"message_type": "text", "content": f"group {i}"}, main_tok)
call("POST", f"/api/chats/{group}/messages",
     {"message_type": "location", "latitude": 40.7, "longitude": -74.0, "location_name": "NYC"}, peer_tok)
call("POST", f"/api/chats/{group}/messages",
     {"message_type": "contact", "contact_data": {"name": "Zed", "phone_numbers": ["+12125550199"]}}, third_tok)
call("POST", f"/api/messages/{first}/reactions", {"emoji": "\U0001F44D"}, peer_tok)
call("PUT", f"/api/chats/{private}/delivered", {"message_id": first}, peer_tok)
call("PUT", f"/api/chats/{private}/read", {"message_id": first}, peer_tok)

with open(OUT, "w", encoding="utf-8") as fh:
    for key, (uid, tok, refresh) in users.items():
        fh.write(f"USER_{key}={uid}\nTOKEN_{key}='{tok}'\nREFRESH_{key}='{refresh}'\n")
    fh.write(f"CHAT_PRIVATE={private}\nCHAT_GROUP={group}\n")
print(f"seed: users {[u[0] for u in users.values()]}, private chat {private}, group {group}")
