#!/usr/bin/env python3
"""Does ejabberd's stream-management ack wait for mod_mam's archive write?

Run against the archive setup (EJ_SETUP=archive ./start; users user1, user2).
user1 enables XEP-0198, sends user2 a message followed by <r/>, and times the
<a/> and the delivery: once normally, once while another PostgreSQL session
holds the `archive` table locked for LOCK_SECONDS. If the ack waits for the
archive INSERT, it takes about LOCK_SECONDS longer. docs/benchmarks.md ("How
natter and ejabberd are compared") quotes the result.
"""
import subprocess
import time

from smoke import NS_SM, Xmpp, is_message

LOCK_SECONDS = 2


def timed_send(alice, bob):
    """Milliseconds from the send to user1's <a/>, and to user2's socket."""
    started = time.time()
    alice.send(f"<message to='user2@localhost' type='chat' id='ack'><body>ack?</body></message>"
               f"<r xmlns='{NS_SM}'/>")
    alice.recv_until(lambda s: s.tag == f"{{{NS_SM}}}a")
    acked = time.time() - started
    bob.recv_until(is_message)
    return acked * 1000, (time.time() - started) * 1000


def main():
    alice, bob = Xmpp("user1"), Xmpp("user2")
    alice.send(f"<enable xmlns='{NS_SM}'/>")
    assert alice.recv().tag == f"{{{NS_SM}}}enabled"
    alice.send("<presence/>")
    bob.send("<presence/>")
    time.sleep(0.3)
    timed_send(alice, bob)  # warm-up: the first message opens caches
    ack, delivered = timed_send(alice, bob)
    print(f"archive free:   ack {ack:7.1f} ms, delivery {delivered:7.1f} ms")
    lock = subprocess.Popen(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "ejabberd", "-qc",
         f"BEGIN; LOCK TABLE archive IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep({LOCK_SECONDS}); COMMIT;"],
        stdout=subprocess.DEVNULL)
    time.sleep(0.3)  # let the lock be taken
    ack, delivered = timed_send(alice, bob)
    lock.wait()
    print(f"archive locked: ack {ack:7.1f} ms, delivery {delivered:7.1f} ms")
    waits = ack > (LOCK_SECONDS - 0.5) * 1000
    print("the ack waits for the archive write" if waits else "the ack does not wait for the archive write")


if __name__ == "__main__":
    main()
