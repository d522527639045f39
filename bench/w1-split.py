"""The share of natter's CPU each part of a W1 send takes, from folded stacks
(inferno-collapse-perf output of a profile taken by bench/profile-w1).

A sample counts for the first part whose pattern its stack matches, in the
order below: the send handler runs inside hyper's connection task, so it is
matched before the HTTP plumbing around it."""
import collections
import re
import sys

PARTS = [
    ("SQLite (statements on sqlx's SQLite worker thread, WAL writes, fsync)", r"^sqlx-sqlite"),
    ("writer thread (batch assembly, SQL building, events rendered once)", r"^natter-writer"),
    ("socket delivery (WebSocket frames to the receiver)", r"on_upgrade|realtime::socket"),
    ("send handler (auth, JSON in and out, validation, hand-off to the writer)", r"middleware::observe|natter::messages::routes"),
    ("HTTP around it (hyper read/parse, write/flush, kernel TCP)", r"hyper::proto"),
]
OTHER = "other (runtime scheduling, accept, timers)"


def main(path):
    shares = collections.Counter()
    total = 0
    for line in open(path):
        stack, count = line.rsplit(" ", 1)
        count = int(count)
        total += count
        part = next((name for name, pattern in PARTS if re.search(pattern, stack)), OTHER)
        shares[part] += count
    for name, count in shares.most_common():
        print(f"{100 * count / total:5.1f}%  {name}")


if __name__ == "__main__":
    main(sys.argv[1])
