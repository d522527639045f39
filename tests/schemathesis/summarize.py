#!/usr/bin/env python3
"""Summarises schemathesis NDJSON reports for natter (standard library only).

Usage: summarize.py [--shape-check] [--slow SECONDS] REPORT.ndjson...

Prints one line per distinct failure (operation, check, status, message), with
how often it happened and a curl command that reproduces the smallest example,
and, with --shape-check, every response whose error body is not in the shape
docs/api-contract.md ("Errors (Laravel's shapes)") gives its status, or whose
Content-Type is not JSON. Exits 1 if it printed any failure, else 0.

The curl lines carry `-H "Authorization: Bearer $TOKEN"` where schemathesis
sent the token (the report itself only keeps "[Filtered]").
"""
import base64
import json
import shlex
import sys
from collections import OrderedDict

args = sys.argv[1:]
shape_check = "--shape-check" in args
args = [a for a in args if a != "--shape-check"]
slow = None
if "--slow" in args:
    i = args.index("--slow")
    slow = float(args[i + 1])
    del args[i : i + 2]
if not args:
    sys.exit(__doc__)


def body_bytes(container):
    body = container.get("body") if "body" in container else container.get("content")
    if body is None:
        return None
    if isinstance(body, dict) and "$base64" in body:
        return base64.b64decode(body["$base64"])
    if isinstance(body, dict) and "string" in body:
        return body["string"].encode()
    return str(body).encode()


def curl(request):
    parts = ["curl", "-sS", "-i", "-X", request["method"]]
    for name, values in (request.get("headers") or {}).items():
        if name.lower() in ("user-agent", "x-schemathesis-testcaseid", "accept-encoding", "accept",
                            "connection", "content-length"):
            continue
        for value in values:
            if name.lower() == "authorization" and value == "[Filtered]":
                parts += ["-H", '"Authorization: Bearer $TOKEN"']
            else:
                parts += ["-H", shlex.quote(f"{name}: {value}")]
    raw = body_bytes(request)
    if raw is not None:
        try:
            parts += ["--data-binary", shlex.quote(raw.decode("utf-8"))]
        except UnicodeDecodeError:
            parts += ["--data-binary", "@<binary body: see report>"]
    parts.append(shlex.quote(request["uri"]))
    return " ".join(parts)


def shape_problem(status, ctype, raw):
    """What is wrong with an error response per docs/api-contract.md, or None."""
    if status < 400:
        return None
    if not ctype.startswith("application/json"):
        return f"error body is not JSON (Content-Type {ctype or 'missing'})"
    try:
        body = json.loads(raw or b"")
    except ValueError:
        return "error body does not parse as JSON"
    if not isinstance(body, dict):
        return "error body is not a JSON object"
    if status == 401:
        return None if body == {"message": "Unauthenticated."} else "401 body is not {\"message\": \"Unauthenticated.\"}"
    if status == 422:
        errors = body.get("errors")
        ok = (isinstance(body.get("message"), str) and isinstance(errors, dict) and errors
              and all(isinstance(v, list) and v and all(isinstance(s, str) for s in v) for v in errors.values()))
        return None if ok else "422 body is not {\"message\", \"errors\": {field: [..]}}"
    if status >= 500:
        if body != {"success": False, "message": "Server error."}:
            return "5xx body is not {\"success\": false, \"message\": \"Server error.\"}"
        return None
    ok = body.get("success") is False and isinstance(body.get("message"), str) and body["message"]
    return None if ok else f"{status} body is not {{\"success\": false, \"message\": ...}}"


failures = OrderedDict()
shapes = OrderedDict()
slow_ones = OrderedDict()
counted = 0
for path in args:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            event = json.loads(line)
            finished = event.get("ScenarioFinished")
            if not finished:
                continue
            recorder = finished["recorder"]
            label = recorder["label"]
            for case_id, interaction in (recorder.get("interactions") or {}).items():
                response = interaction.get("response")
                if not response:
                    continue
                counted += 1
                status = response["status_code"]
                headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
                ctype = (headers.get("content-type") or [""])[0]
                raw = body_bytes(response) or b""
                request = interaction["request"]
                if shape_check:
                    problem = shape_problem(status, ctype, raw)
                    if problem:
                        key = (label, status, problem)
                        entry = shapes.setdefault(key, {"count": 0, "example": None})
                        entry["count"] += 1
                        if entry["example"] is None or len(curl(request)) < len(curl(entry["example"][0])):
                            entry["example"] = (request, raw[:300])
                if slow is not None and response.get("elapsed", 0) > slow:
                    key = (label, status)
                    entry = slow_ones.setdefault(key, {"count": 0, "max": 0, "example": None})
                    entry["count"] += 1
                    if response["elapsed"] > entry["max"]:
                        entry["max"] = response["elapsed"]
                        entry["example"] = request
            for case_id, checks in (recorder.get("checks") or {}).items():
                for check in checks:
                    if check.get("status") != "failure":
                        continue
                    info = (check.get("failure_info") or {}).get("failure") or {}
                    interaction = (recorder.get("interactions") or {}).get(case_id)
                    if not interaction or not interaction.get("response"):
                        continue
                    status = interaction["response"]["status_code"]
                    message = info.get("message", "").split("\n")[0][:160]
                    key = (label, info.get("code", check["name"]), info.get("title", ""), status, message)
                    entry = failures.setdefault(key, {"count": 0, "example": None})
                    entry["count"] += 1
                    request = interaction["request"]
                    raw = body_bytes(interaction["response"]) or b""
                    if entry["example"] is None or len(curl(request)) < len(curl(entry["example"][0])):
                        entry["example"] = (request, raw[:300])

print(f"{counted} responses read from {len(args)} report(s)")
if failures:
    print(f"\n== {len(failures)} distinct schemathesis failures (operation | check | status | detail | count) ==")
    for (label, code, title, status, message), entry in failures.items():
        print(f"- {label} | {code} {title} | {status} | {message} | x{entry['count']}")
        print(f"    body: {entry['example'][1].decode('utf-8', 'replace')}")
        print(f"    repro: {curl(entry['example'][0])}")
if shapes:
    print(f"\n== {len(shapes)} error responses not in the contract's shapes ==")
    for (label, status, problem), entry in shapes.items():
        print(f"- {label} | {status} | {problem} | x{entry['count']}")
        print(f"    body: {entry['example'][1].decode('utf-8', 'replace')}")
        print(f"    repro: {curl(entry['example'][0])}")
if slow_ones:
    print(f"\n== {len(slow_ones)} operations answered slower than {slow}s ==")
    for (label, status), entry in slow_ones.items():
        print(f"- {label} | {status} | x{entry['count']} | max {entry['max']:.2f}s")
        print(f"    repro: {curl(entry['example'])}")
sys.exit(1 if failures or shapes else 0)
