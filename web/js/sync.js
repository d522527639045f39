// The record: GET /api/sync from the last position applied. Socket events are
// applied at once for speed, but only sync moves the position, because the
// socket carries a subset of the log (this page listens to its user channel
// and the open chat's channel, not to every chat). So every socket event, and
// every (re)connect, asks for a catch-up; the catch-up applies what it finds in
// order, and the store makes applying an event twice harmless.

import { ApiError } from './api.js';
import { read, write } from './session.js';

const PAGE = 500;
/** Socket events within this window share one catch-up. */
const HINT_DELAY_MS = 150;
/** While the socket is down but HTTP works, poll this often. */
const POLL_MS = 15_000;

export class SyncEngine {
  /**
   * @param api      the Api
   * @param key      localStorage key of the last position
   * @param apply    (events) => void: a page of {seq, event, data}, in order
   * @param resync   async () => void: reload chats and history after a 410
   */
  constructor(api, key, { apply, resync }) {
    this.api = api;
    this.key = key;
    this.apply = apply;
    this.resync = resync;
    this.lastSeq = Number(read(key)) || 0;
    this.running = null;
    this.again = false;
    this.failures = 0;
    this.listeners = new Set();
  }

  /** Called after each catch-up that reached the end of the log. */
  onCaughtUp(fn) { this.listeners.add(fn); }

  /** Something happened: catch up soon (coalescing bursts). */
  hint() {
    if (this.hintTimer) return;
    this.hintTimer = setTimeout(() => { this.hintTimer = null; this.catchUp(); }, HINT_DELAY_MS);
  }

  /** Reads the log to its end; one run at a time, another after it if asked meanwhile. */
  catchUp() {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.run().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.catchUp();
      }
    });
    return this.running;
  }

  async run() {
    for (;;) {
      let page;
      try {
        page = await this.api.get(`/api/sync?since=${this.lastSeq}&limit=${PAGE}`);
      } catch (error) {
        if (error instanceof ApiError && error.status === 410) {
          await this.restart(error.body?.latest_seq);
          continue;
        }
        this.retryLater();
        return;
      }
      this.failures = 0;
      const events = page.events.filter((e) => e.seq > this.lastSeq);
      if (events.length) this.apply(events);
      this.advance(Math.max(this.lastSeq, page.next_since || 0));
      if (!page.has_more) break;
    }
    for (const fn of this.listeners) fn();
  }

  /** 410: our position is older than the log keeps. Reload over REST, go on from now. */
  async restart(latestSeq) {
    await this.resync();
    this.advance(Number(latestSeq) || 0, { force: true });
  }

  advance(seq, { force = false } = {}) {
    if (seq === this.lastSeq || (!force && seq < this.lastSeq)) return;
    this.lastSeq = seq;
    write(this.key, seq);
  }

  retryLater() {
    this.failures += 1;
    clearTimeout(this.retryTimer);
    const delay = Math.min(POLL_MS, 1000 * 2 ** this.failures);
    this.retryTimer = setTimeout(() => this.catchUp(), delay);
  }

  /** Polls while the socket cannot connect, so a page behind a socket-hostile proxy still updates. */
  poll(enabled) {
    clearInterval(this.pollTimer);
    if (enabled) this.pollTimer = setInterval(() => this.catchUp(), POLL_MS);
  }
}
