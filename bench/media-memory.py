#!/usr/bin/env python3
"""Server memory while uploads stream (docs/media.md): starts the release
`media_bench serve` example (natter's streaming reader and media service on a
SQLite database), samples its RSS every 20 ms, and runs
  1. one 200 MB document upload against the 100 MB document limit (refused: 413),
  2. ten 60 MB video uploads at once (accepted, each stored).
Only loopback traffic; bounded in size and time.

    cargo build --release -p natter --example media_bench
    bench/media-memory.py [target/release/examples/media_bench]
"""
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

MB = 1024 * 1024
BOUNDARY = "natter-bench-boundary"


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self):
        while self.running:
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.02)


def body(message_type, size, salt):
    head = (
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"message_type\"\r\n\r\n{message_type}\r\n"
        f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.bin\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    yield head
    first = b"\0\0\0\x18ftypisom\0\0\0\0isomavc1" + salt.to_bytes(8, "big")
    chunk = bytes(range(256)) * 1024  # 256 KiB
    yield first
    sent = len(first)
    while sent < size:
        piece = chunk[: min(len(chunk), size - sent)]
        yield piece
        sent += len(piece)
    yield f"\r\n--{BOUNDARY}--\r\n".encode()


def upload(port, message_type, size, salt, results):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.putrequest("POST", "/upload")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        for part in body(message_type, size, salt):
            conn.send(b"%x\r\n%s\r\n" % (len(part), part))
        conn.send(b"0\r\n\r\n")
        results.append(conn.getresponse().status)
    except (BrokenPipeError, ConnectionResetError):
        # The server answered 413 and closed while we were still sending.
        try:
            results.append(conn.getresponse().status)
        except Exception:
            results.append("closed early")
    finally:
        conn.close()


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/examples/media_bench"
    workdir = tempfile.mkdtemp(prefix="natter-media-mem-")
    port = 18777
    server = subprocess.Popen([binary, "serve", f"127.0.0.1:{port}", workdir],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        server.stdout.readline()
        time.sleep(0.5)
        print(f"idle RSS: {rss_kib(server.pid) / 1024:.1f} MiB")
        for name, message_type, size, count in [
            ("one 200 MB document (limit 100 MB)", "document", 200 * MB, 1),
            ("ten 60 MB videos at once", "video", 60 * MB, 10),
        ]:
            sampler = Sampler(server.pid)
            sampler.start()
            started = time.time()
            results = []
            threads = [threading.Thread(target=upload, args=(port, message_type, size, i, results))
                       for i in range(count)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            sampler.running = False
            sampler.join()
            print(f"{name}: answers {sorted(map(str, results))}, {time.time() - started:.1f} s, "
                  f"peak RSS {sampler.peak / 1024:.1f} MiB")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
