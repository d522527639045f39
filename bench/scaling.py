#!/usr/bin/env python3
"""The metrics side of bench/scaling.

  scaling.py sample FILE URL...      append each node's figures to FILE once a second
  scaling.py attach BENCH FILE ...   print natter-bench's JSON line with a "scaling"
                                     object: each node's writer and log-lock figures
                                     over the measured window
  scaling.py summary OUT...          medians per workload, placement and node count

Every figure is a difference of two scrapes of a node's /metrics (counters and
histogram sums and counts only grow), divided by the seconds between them or
by the difference in counts: so it is an average over the window, whatever
the scrapes' exact times.
"""
import argparse
import json
import statistics
import sys
import threading
import time
import urllib.request
from collections import OrderedDict, defaultdict

# Histograms read as their _sum and _count; counters as they are.
HISTOGRAMS = [
    "natter_writer_batch_size",
    "natter_writer_batch_duration_seconds",
    "natter_writer_batch_statements",
    "natter_log_commit_seconds",
    "natter_log_lock_wait_seconds",
    "natter_log_lock_held_seconds",
    "natter_db_acquire_seconds",
    "natter_fanout_delay_seconds",
]
COUNTERS = [
    "natter_messages_sent_total",
    "natter_fanout_deliveries_total",
    "process_cpu_seconds_total",
]
WANTED = {f"{h}_{part}" for h in HISTOGRAMS for part in ("sum", "count")} | set(COUNTERS)


# A node crowded onto a busy core (W2 with two or three nodes on CPU 0) can
# take seconds to answer /metrics; a 2-second timeout lost every scrape of such
# a run, and its figures read zero.
SCRAPE_TIMEOUT = 15


def scrape(url):
    """The wanted unlabelled samples of one node's /metrics."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=SCRAPE_TIMEOUT) as reply:
        text = reply.read().decode()
    values = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in WANTED:
            values[parts[0]] = float(parts[1])
    return values


def sample(args):
    """One thread per node, so a slow node does not delay the others' scrapes;
    each scrape is stamped with the time its answer arrived."""
    lock = threading.Lock()
    with open(args.file, "a") as out:

        def sample_node(node, url):
            while True:
                started = time.time()
                try:
                    values = scrape(url)
                except OSError:
                    values = {}  # not ready yet, or stopping: the next second will do
                now = time.time()
                with lock:
                    for name, value in values.items():
                        out.write(f"{now:.3f}\t{node}\t{name}\t{value}\n")
                    out.flush()
                time.sleep(max(0.0, 1.0 - (time.time() - started)))

        threads = [
            threading.Thread(target=sample_node, args=(node, url), daemon=True)
            for node, url in enumerate(args.urls, 1)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def scrapes(path):
    """node -> [(time, {name: value})], in time order."""
    by_node = defaultdict(OrderedDict)
    with open(path) as f:
        for line in f:
            t, node, name, value = line.rstrip("\n").split("\t")
            by_node[int(node)].setdefault(float(t), {})[name] = float(value)
    return {node: sorted(samples.items()) for node, samples in by_node.items()}


def window(samples, start, end):
    """The first scrape at or after `start` and the last at or before `end`;
    the whole run when the window holds fewer than two scrapes."""
    inside = [s for s in samples if start <= s[0] <= end]
    if len(inside) >= 2:
        return inside[0], inside[-1], True
    return samples[0], samples[-1], False


def node_figures(first, last):
    (t0, a), (t1, b) = first, last
    seconds = t1 - t0
    delta = lambda name: b.get(name, 0.0) - a.get(name, 0.0)
    per_second = lambda name: delta(name) / seconds if seconds > 0 else None

    def mean(histogram, scale=1.0):
        count = delta(f"{histogram}_count")
        return delta(f"{histogram}_sum") / count * scale if count > 0 else None

    return {
        "seconds": round(seconds, 2),
        "messages_per_sec": per_second("natter_messages_sent_total"),
        "fanout_per_sec": per_second("natter_fanout_deliveries_total"),
        "cpu": per_second("process_cpu_seconds_total"),
        "batches_per_sec": per_second("natter_writer_batch_size_count"),
        "batch_size": mean("natter_writer_batch_size"),
        "batch_ms": mean("natter_writer_batch_duration_seconds", 1000),
        "batch_statements": mean("natter_writer_batch_statements"),
        "log_tx_per_sec": per_second("natter_log_lock_held_seconds_count"),
        "lock_wait_ms": mean("natter_log_lock_wait_seconds", 1000),
        "lock_held_ms": mean("natter_log_lock_held_seconds", 1000),
        "commit_ms": mean("natter_log_commit_seconds", 1000),
        "acquire_ms": mean("natter_db_acquire_seconds", 1000),
        "fanout_delay_ms": mean("natter_fanout_delay_seconds", 1000),
        # Seconds per second this node held the log lock.
        "lock_occupancy": per_second("natter_log_lock_held_seconds_sum"),
    }


def attach(args):
    report = None
    with open(args.bench) as f:
        for line in f:
            if line.startswith("{"):
                report = json.loads(line)
    if report is None:
        sys.exit(f"no JSON line in {args.bench}")
    # The bench measures `duration` seconds, then lets the last sends land
    # (0.3 s) and closes its sockets: keep to the middle of that.
    start, end = args.ended - args.duration, args.ended - 1.0
    nodes, in_window = [], True
    for node, samples in sorted(scrapes(args.metrics).items()):
        first, last, inside = window(samples, start, end)
        in_window &= inside
        nodes.append({"node": node, **node_figures(first, last)})
    total = lambda key: sum(n[key] or 0.0 for n in nodes)
    report["scaling"] = {
        "nodes": args.nodes,
        "placement": args.placement,
        "window": "measured" if in_window else "whole run",
        "lock_occupancy": total("lock_occupancy"),
        "messages_per_sec": total("messages_per_sec"),
        "batches_per_sec": total("batches_per_sec"),
        "per_node": nodes,
    }
    print(json.dumps(report))


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=0):
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def node_mean(run, key):
    """The nodes' mean of a per-node figure, weighted by their batches (so an
    idle node's empty window does not count)."""
    nodes = [n for n in run["scaling"]["per_node"] if n.get(key) is not None]
    weights = [n.get("batches_per_sec") or 0.0 for n in nodes]
    if not nodes or sum(weights) == 0:
        return None
    return sum(n[key] * w for n, w in zip(nodes, weights)) / sum(weights)


COLUMNS = [
    ("nodes", lambda r: r["scaling"]["nodes"], 0),
    ("msgs/s", lambda r: r["sent_per_sec"], 0),
    ("deliveries/s", lambda r: r["delivered_per_sec"], 0),
    ("p50 ms", lambda r: r["p50_ms"], 1),
    ("p99 ms", lambda r: r["p99_ms"], 1),
    ("failed", lambda r: r["failed"], 0),
    ("batches/s", lambda r: r["scaling"]["batches_per_sec"], 0),
    ("batch size", lambda r: node_mean(r, "batch_size"), 1),
    ("batch ms", lambda r: node_mean(r, "batch_ms"), 2),
    ("lock wait ms", lambda r: node_mean(r, "lock_wait_ms"), 2),
    ("lock held ms", lambda r: node_mean(r, "lock_held_ms"), 2),
    ("commit ms", lambda r: node_mean(r, "commit_ms"), 2),
    ("lock held s/s", lambda r: r["scaling"]["lock_occupancy"], 2),
]


def summary(args):
    runs = []
    for path in args.out:
        with open(path) as f:
            runs += [json.loads(l) for l in f if l.startswith("{")]
    groups = OrderedDict()
    for run in sorted(runs, key=lambda r: (r["workload"], r["scaling"]["placement"], r["scaling"]["nodes"])):
        key = (run["workload"], run["scaling"]["placement"])
        groups.setdefault(key, OrderedDict()).setdefault(run["scaling"]["nodes"], []).append(run)
    for (workload, placement), by_nodes in groups.items():
        print(f"\n{workload}, nodes {placement} (medians; runs in brackets)\n")
        print("| " + " | ".join(name for name, _, _ in COLUMNS) + " |")
        print("|" + "---|" * len(COLUMNS))
        for nodes, group in by_nodes.items():
            cells = [f"{nodes} ({len(group)})"]
            cells += [fmt(median(get(r) for r in group), digits) for _, get, digits in COLUMNS[1:]]
            print("| " + " | ".join(cells) + " |")
    partial = sum(1 for r in runs if r["scaling"]["window"] != "measured")
    if partial:
        print(f"\n{partial} run(s) read the nodes' metrics over the whole run, not the measured window")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("sample")
    p.add_argument("file")
    p.add_argument("urls", nargs="+")
    p.set_defaults(run=sample)
    p = commands.add_parser("attach")
    p.add_argument("bench")
    p.add_argument("metrics")
    p.add_argument("--nodes", type=int, required=True)
    p.add_argument("--placement", required=True)
    p.add_argument("--ended", type=float, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.set_defaults(run=attach)
    p = commands.add_parser("summary")
    p.add_argument("out", nargs="+")
    p.set_defaults(run=summary)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
