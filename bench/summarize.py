#!/usr/bin/env python3
"""Medians of repeated natter-bench runs, as the Markdown tables of docs/benchmarks.md.

Reads the JSON lines natter-bench prints (one per workload run) from the files
given, or from standard input; groups runs by workload, server and parameters;
prints one table per workload with the median of each figure and how many runs
it is the median of.
"""
import json
import statistics
import sys
from collections import OrderedDict

COLUMNS = {
    # Sends counted twice: at the server's acknowledgement (natter: the 201;
    # ejabberd: the stream-management <a/>) and at the receiver's socket.
    "W1 one-to-one": [
        ("acked/s", "sent_per_sec", 0),
        ("ack p50 ms", "ack_p50_ms", 2),
        ("ack p99 ms", "ack_p99_ms", 2),
        ("delivered/s", "delivered_per_sec", 0),
        ("delivery p50 ms", "p50_ms", 2),
        ("delivery p90 ms", "p90_ms", 2),
        ("delivery p99 ms", "p99_ms", 2),
        ("delivery max ms", "max_ms", 1),
        ("failed", "failed", 0),
        ("lost", "lost", 0),
        ("RSS MiB", "server_rss_kib", -1),
    ],
    "W2 group fan-out": [
        ("messages/s", "sent_per_sec", 1),
        ("deliveries/s", "delivered_per_sec", 0),
        ("p50 ms", "p50_ms", 1),
        ("p99 ms", "p99_ms", 1),
        ("last p50 ms", "last_p50_ms", 1),
        ("last p99 ms", "last_p99_ms", 1),
        ("last max ms", "last_max_ms", 1),
        ("RSS MiB", "server_rss_kib", -1),
    ],
    "W3 idle sockets": [
        ("sockets", "sockets", 0),
        ("KiB/socket", "kib_per_socket", 1),
        ("connect s", "connect_seconds", 1),
        ("RSS MiB", "server_rss_kib", -1),
    ],
    "W4 catch-up": [
        ("fetched", "fetched", 0),
        ("catch-up ms", "catch_up_ms", 0),
        ("RSS MiB", "server_rss_kib", -1),
    ],
}


def fmt(value, digits):
    if value is None:
        return "-"
    if digits == -1:  # KiB shown as MiB
        return f"{value / 1024:.1f}"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def main():
    lines = []
    sources = [open(p) for p in sys.argv[1:]] or [sys.stdin]
    for source in sources:
        for line in source:
            line = line.strip()
            if line.startswith("{"):
                lines.append(json.loads(line))
    groups = OrderedDict()
    for run in lines:
        key = (run["workload"], run["server"], run["params"])
        groups.setdefault(key, []).append(run)
    for workload, columns in COLUMNS.items():
        rows = [(k, runs) for k, runs in groups.items() if k[0] == workload]
        if not rows:
            continue
        print(f"### {workload}\n")
        print("| server | parameters | runs | " + " | ".join(c[0] for c in columns) + " |")
        print("|---|---|---|" + "---|" * len(columns))
        for (_, server, params), runs in rows:
            cells = []
            for _, field, digits in columns:
                values = [r[field] for r in runs if r.get(field) is not None]
                cells.append(fmt(statistics.median(values) if values else None, digits))
            print(f"| {server} | {params} | {len(runs)} | " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
