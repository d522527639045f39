#!/usr/bin/env python3
"""Media through the real send route (docs/media.md, docs/benchmarks.md): starts a
release `natter serve` on SQLite (pinned to one core with taskset when CORE is
given), signs two people up through the outbox SMS driver, opens their chat, then

  1. memory: samples the server's RSS every 20 ms while one 200 MB document is
     sent against the 100 MB document limit (413), then while ten 60 MB videos
     are sent at once (ten 201s);
  2. an image message with a phone photo (PHOTO, about 3 MB, EXIF with GPS and
     the given orientation): ROUNDS sends, each of different bytes (a salt after
     the JPEG's end, so nothing is deduplicated), timed at the client, and the
     server's own split per step from its debug log line "image message"
     (receive, decode, orient, strip/encode, thumbnail, store, commit).

Only loopback traffic; bounded in size and time. A photo is made with ffmpeg
when PHOTO is not given (4032x3024 noise, about 3 MB, EXIF with GPS added here).

    cargo build --release -p natter --bin natter
    bench/media-route.py [--core 1] [--rounds 21] [--orientation 6] [--photo FILE] [--skip-memory]
"""
import argparse
import http.client
import json
import os
import shutil
import statistics
import struct
import subprocess
import tempfile
import threading
import time

MB = 1024 * 1024


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


def exif_app1(orientation):
    """An EXIF APP1 segment with Orientation and a GPS latitude, big-endian."""
    ifd = b""
    # IFD0: Orientation (SHORT), GPS IFD pointer (LONG).
    count = 2
    gps_offset = 8 + 2 + count * 12 + 4
    ifd += struct.pack(">H", count)
    ifd += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    ifd += struct.pack(">HHII", 0x8825, 4, 1, gps_offset)
    ifd += struct.pack(">I", 0)
    # GPS IFD: latitude ref "N", latitude 51/1 30/1 0/1.
    lat_offset = gps_offset + 2 + 2 * 12 + 4
    gps = struct.pack(">H", 2)
    gps += struct.pack(">HHI", 0x0001, 2, 2) + b"N\0\0\0"
    gps += struct.pack(">HHII", 0x0002, 5, 3, lat_offset)
    gps += struct.pack(">I", 0)
    gps += struct.pack(">IIIIII", 51, 1, 30, 1, 0, 1)
    tiff = b"MM\0\x2a" + struct.pack(">I", 8) + ifd + gps
    payload = b"Exif\0\0" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def make_photo(path, orientation):
    raw = path + ".raw.jpg"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         "testsrc2=size=4032x3024:rate=1,noise=alls=12:allf=t",
         "-frames:v", "1", "-q:v", "3", raw],
        check=True)
    data = open(raw, "rb").read()
    os.remove(raw)
    with open(path, "wb") as f:
        f.write(data[:2] + exif_app1(orientation) + data[2:])


class Api:
    def __init__(self, port, token=None):
        self.port, self.token = port, token

    def call(self, method, path, body=None, headers=None, raw=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        h = {"Accept": "application/json"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            raw = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        conn.request(method, path, body=raw, headers=h)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, (json.loads(data) if data else None)


def sign_up(api, outbox, phone, name):
    status, _ = api.call("POST", "/api/auth/send-otp", {"phone_number": phone, "country_code": "1"})
    assert status == 200, status
    code = None
    for line in open(outbox):
        sms = json.loads(line)
        if sms["to"] == phone:
            code = sms["code"]
    status, body = api.call("POST", "/api/auth/verify-otp",
                            {"phone_number": phone, "country_code": "1", "otp": code, "name": name})
    assert status == 200, body
    return body["user"]["id"], Api(api.port, body["tokens"]["access_token"])


BOUNDARY = "natter-bench-boundary-7d1f"


def stream_upload(port, token, chat, message_type, size, salt, results):
    """Sends a file part of `size` bytes, chunked, never held whole."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.putrequest("POST", f"/api/chats/{chat}/messages")
        conn.putheader("Authorization", f"Bearer {token}")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"message_type\"\r\n\r\n"
                f"{message_type}\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
                "filename=\"f.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
        first = (b"%PDF-1.7\n" if message_type == "document"
                 else b"\0\0\0\x18ftypisom\0\0\0\0isomavc1") + salt.to_bytes(8, "big")
        chunk = bytes(range(256)) * 1024
        parts = [head, first]
        for part in parts:
            conn.send(b"%x\r\n%s\r\n" % (len(part), part))
        sent = len(first)
        while sent < size:
            piece = chunk[: min(len(chunk), size - sent)]
            conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
            sent += len(piece)
        tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        conn.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail))
        results.append(conn.getresponse().status)
    except (BrokenPipeError, ConnectionResetError):
        try:
            results.append(conn.getresponse().status)
        except Exception:
            results.append("closed early")
    finally:
        conn.close()


def photo_form(photo, salt):
    body = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"message_type\"\r\n\r\nimage\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"IMG.jpg\"\r\n"
            "Content-Type: image/jpeg\r\n\r\n").encode()
    return body + photo + salt.to_bytes(8, "big") + f"\r\n--{BOUNDARY}--\r\n".encode()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default="target/release/natter")
    parser.add_argument("--core", help="pin the server to this core (taskset -c)")
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--orientation", type=int, default=6)
    parser.add_argument("--photo")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="natter-media-route-")
    port = 18779
    outbox = os.path.join(workdir, "outbox.jsonl")
    env = dict(os.environ, STORAGE_DIR=workdir, HTTP_ADDR=f"127.0.0.1:{port}",
               APP_KEY="bench-app-key-that-is-at-least-32-characters",
               REVERB_APP_SECRET="bench-secret", SMS_DRIVER="outbox", SMS_OUTBOX_PATH=outbox,
               OTP_RATE_PER_NUMBER_PER_HOUR="1000", OTP_RATE_PER_IP_PER_HOUR="100000",
               LOG_FORMAT="json", LOG_LEVEL="warn,natter::messages::service=debug")
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    command = [args.binary, "serve"]
    if args.core is not None:
        command = ["taskset", "-c", args.core] + command
    log_path = os.path.join(workdir, "server.log")
    log = open(log_path, "w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    try:
        api = Api(port)
        for _ in range(100):
            try:
                if api.call("GET", "/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        _, ann = sign_up(api, outbox, "+12125550101", "Ann")
        bob_id, _ = sign_up(api, outbox, "+12125550102", "Bob")
        status, chat = ann.call("POST", "/api/chats/private", {"contact_id": bob_id})
        chat = chat["id"]
        print(f"idle RSS: {rss_kib(server.pid) / 1024:.1f} MiB")

        if not args.skip_memory:
            for name, message_type, size, count in [
                ("one 200 MB document (limit 100 MB)", "document", 200 * MB, 1),
                ("ten 60 MB videos at once", "video", 60 * MB, 10),
            ]:
                sampler = Sampler(server.pid)
                sampler.start()
                started = time.time()
                results = []
                threads = [threading.Thread(target=stream_upload,
                                            args=(port, ann.token, chat, message_type, size, i, results))
                           for i in range(count)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                sampler.running = False
                sampler.join()
                print(f"{name}: answers {sorted(map(str, results))}, {time.time() - started:.1f} s, "
                      f"peak RSS {sampler.peak / 1024:.1f} MiB")

        photo_path = args.photo or os.path.join(workdir, "photo.jpg")
        if not args.photo:
            make_photo(photo_path, args.orientation)
        photo = open(photo_path, "rb").read()
        print(f"photo: {len(photo)} bytes, orientation {args.orientation}")
        times = []
        for i in range(args.rounds + 1):
            body = photo_form(photo, 1000 + i)
            started = time.perf_counter()
            status, answer = ann.call("POST", f"/api/chats/{chat}/messages", raw=body,
                                      headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
            elapsed = (time.perf_counter() - started) * 1000
            assert status == 201, answer
            assert answer["message"]["media"]["thumbnail_url"]
            if i > 0:  # the first warms the server up
                times.append(elapsed)
        print(f"image message, client-side: median {statistics.median(times):.1f} ms "
              f"(min {min(times):.1f}, max {max(times):.1f}) over {len(times)} sends")
        log.flush()
        steps = {}
        for line in open(log_path):
            if "image message" not in line:
                continue
            entry = json.loads(line)
            for key, value in entry.items():
                if key.endswith("_ms"):
                    steps.setdefault(key, []).append(float(value))
        for key, values in steps.items():
            values = values[1:]
            print(f"  {key[:-3]:20} median {statistics.median(values):7.1f} ms")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
