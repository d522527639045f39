"""The share of natter's CPU each part of a W1 send takes, and its cost per
message, from folded stacks (inferno-collapse-perf output of a profile taken by
bench/profile-w1).

    python3 bench/w1-split.py folded.txt [MSGS_PER_SEC SECONDS]

The profile samples the `cpu-clock` event, whose count is nanoseconds of CPU,
and inferno sums those per stack. With the send rate during the profile and
its length, each part is also given in microseconds of the server's CPU per
message, (its nanoseconds / 1000) / (MSGS_PER_SEC * SECONDS), and the server's
busy share of its one core.

A sample counts for the first part whose pattern its stack matches, in the
order below: authentication and JSON run inside the send handler, which runs
inside hyper's connection task, so the narrower parts are matched first."""
import collections
import re
import sys

PARTS = [
    ("SQLite (statements on sqlx's SQLite worker thread, WAL writes, fsync)", r"^sqlx-sqlite"),
    ("writer thread (batch assembly, SQL building, events rendered once)", r"^natter-writer"),
    ("fan-out (bus to hub: who listens, frames queued per socket)", r"realtime::dispatch|realtime::hub|realtime::bus"),
    ("socket write (WebSocket frames to the receiver and sender)", r"on_upgrade|realtime::socket"),
    ("auth (bearer token to user, cached)", r"http::auth|sessions::[a-z_:]*authenticate"),
    ("JSON (request body parsed, response written)", r"serde_json|http::json|IntoResponse for axum::json"),
    ("send handler, the rest (validation, draft, hand-off to the writer, middleware)", r"middleware::observe|natter::messages::routes"),
    ("HTTP around it (hyper read/parse, write/flush, kernel TCP)", r"hyper::proto"),
]
OTHER = "other (runtime scheduling, accept, timers)"


def main(path, rate=None, seconds=None):
    shares = collections.Counter()
    total = 0
    for line in open(path):
        stack, count = line.rsplit(" ", 1)
        count = int(count)
        total += count
        part = next((name for name, pattern in PARTS if re.search(pattern, stack)), OTHER)
        shares[part] += count
    per_message = None
    if rate and seconds:
        # Nanoseconds of CPU to microseconds, over the messages sent meanwhile.
        per_message = 1e-3 / (rate * seconds)
        busy = total / (1e9 * seconds)
        print(f"server CPU busy {100 * busy:.0f} % of one core at {rate:,.0f} msg/s: "
              f"{total * per_message:.1f} µs per message")
    for name, count in shares.most_common():
        cost = f"  {count * per_message:5.1f} µs" if per_message else ""
        print(f"{100 * count / total:5.1f}%{cost}  {name}")


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0], *(float(a) for a in args[1:3]))
