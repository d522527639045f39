// What a front end does against natter: sign up by SMS code, call the HTTP
// API with fetch, and listen with laravel-echo over pusher-js.

import { readFile } from 'node:fs/promises';
import Echo from 'laravel-echo';
import Pusher from 'pusher-js';
import { APP_KEY } from './server.js';

/** How long any one expected event or response may take. */
export const WAIT_MS = Number(process.env.NATTER_TEST_WAIT_MS || 5000);
/** How long we watch for an event that must not arrive. */
export const QUIET_MS = 600;

// pusher-js logs through Pusher.log; keep it quiet unless debugging.
Pusher.log = (message) => {
  if (process.env.NATTER_TEST_DEBUG) process.stderr.write(`[pusher-js] ${message}\n`);
};

export const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

/** Rejects with a clear message when `promise` takes longer than `ms`. */
export function within(promise, label, ms = WAIT_MS) {
  let timer;
  const timeout = new Promise((_, fail) => {
    timer = setTimeout(() => fail(new Error(`timed out after ${ms} ms waiting for ${label}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Collects what a callback receives, so that a test can await the next item
 * and make its assertions in the test body (never inside the callback).
 */
export class Inbox {
  constructor(name) {
    this.name = name;
    this.items = [];
    this.all = [];
    this.waiters = [];
    this.push = (item) => {
      this.all.push(item);
      const waiter = this.waiters.shift();
      if (waiter) waiter(item);
      else this.items.push(item);
    };
  }

  /** The next item, waiting up to `ms` for it. */
  next(what = 'an event', ms = WAIT_MS) {
    if (this.items.length) return Promise.resolve(this.items.shift());
    let resolveIt;
    const arrived = new Promise((ok) => { resolveIt = ok; this.waiters.push(ok); });
    return within(arrived, `${what} (${this.name})`, ms).catch((err) => {
      this.waiters = this.waiters.filter((w) => w !== resolveIt);
      throw err;
    });
  }

  /** Fails if anything (more) arrives within `ms`. */
  async none(what = 'no event', ms = QUIET_MS) {
    await sleep(ms);
    if (this.items.length) {
      throw new Error(`${this.name}: expected ${what}, but received ${JSON.stringify(this.items)}`);
    }
  }
}

let nextPhone = 1000 + Math.floor(Math.random() * 4000);

/** Everything a test needs against one running server; close() tidies up. */
export class World {
  constructor(server) {
    this.server = server;
    this.echos = [];
  }

  url(path) {
    return `${this.server.base}${path}`;
  }

  /**
   * One HTTP call. Returns the parsed JSON body; throws unless the status is
   * `expect` (a number or a list; default any 2xx).
   */
  async api(user, method, path, body, { expect } = {}) {
    const headers = { Accept: 'application/json' };
    if (user) headers.Authorization = `Bearer ${user.token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await within(
      fetch(this.url(path), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }),
      `${method} ${path}`,
    );
    const text = await response.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = text; }
    const ok = expect === undefined
      ? response.status >= 200 && response.status < 300
      : [].concat(expect).includes(response.status);
    if (!ok) {
      throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
    }
    return json;
  }

  /** The SMS code natter wrote to the outbox for `phone` (the latest one). */
  async otpFor(phone) {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      let text = '';
      try { text = await readFile(this.server.outbox, 'utf8'); } catch { /* not written yet */ }
      const sms = text.split('\n').filter(Boolean).map((line) => JSON.parse(line)).filter((s) => s.to === phone);
      if (sms.length) {
        const { code } = sms[sms.length - 1];
        if (!/^\d{6}$/.test(code)) throw new Error(`outbox code for ${phone} is not 6 digits: ${code}`);
        return code;
      }
      if (Date.now() > deadline) throw new Error(`no SMS to ${phone} in ${this.server.outbox}`);
      await sleep(20);
    }
  }

  /** Signs a new user up the way the app does: send-otp, read SMS, verify-otp. */
  async signUp(name) {
    const local = `212555${String(nextPhone++).padStart(4, '0')}`;
    const phone = `+1${local}`;
    const sent = await this.api(null, 'POST', '/api/auth/send-otp', { phone_number: local, country_code: '1' });
    if (sent?.success !== true) throw new Error(`send-otp: ${JSON.stringify(sent)}`);
    const otp = await this.otpFor(phone);
    const verified = await this.api(null, 'POST', '/api/auth/verify-otp', {
      phone_number: local, country_code: '1', otp, name,
    });
    const token = verified?.tokens?.access_token;
    if (!token || typeof verified.user?.id !== 'number') {
      throw new Error(`verify-otp gave no user or token: ${JSON.stringify(verified)}`);
    }
    return { id: verified.user.id, name: verified.user.name, phone, token, refreshToken: verified.tokens.refresh_token };
  }

  /** A private chat between a and b (created by a); returns its id. */
  async privateChat(a, b) {
    const chat = await this.api(a, 'POST', '/api/chats/private', { contact_id: b.id }, { expect: [200, 201] });
    if (typeof chat?.id !== 'number') throw new Error(`POST /api/chats/private: ${JSON.stringify(chat)}`);
    return chat.id;
  }

  /** Sends a text message over HTTP; returns the Message. */
  async sendText(user, chatId, content) {
    const body = await this.api(user, 'POST', `/api/chats/${chatId}/messages`, { message_type: 'text', content }, { expect: 201 });
    return body.message;
  }

  /**
   * A laravel-echo client for `user`, configured like a Laravel front end
   * (resources/js/echo.js) pointed at natter.
   */
  echo(user, { broadcaster = 'reverb', ...extra } = {}) {
    const { host, port } = this.server;
    const echo = new Echo({
      broadcaster,
      key: APP_KEY,
      wsHost: host,
      wsPort: port,
      wssPort: port,
      forceTLS: false,
      enabledTransports: ['ws'],
      cluster: 'mt1',
      authEndpoint: `http://${host}:${port}/broadcasting/auth`,
      auth: { headers: { Authorization: `Bearer ${user.token}` } },
      Pusher,
      ...extra,
    });
    this.echos.push(echo);
    return echo;
  }

  close() {
    for (const echo of this.echos) {
      try { echo.disconnect(); } catch { /* already gone */ }
    }
    this.echos = [];
  }
}

/** Resolves when the Echo channel is subscribed; rejects on a subscription error. */
export function subscribed(channel, label = channel.name) {
  // Echo's subscribed() hears only a success still to come: one that came
  // while the caller awaited something else would never resolve this.
  if (channel.subscription?.subscribed) return Promise.resolve();
  return within(new Promise((ok, fail) => {
    channel.subscribed(() => ok());
    channel.error((err) => fail(new Error(`subscription to ${label} failed: ${JSON.stringify(err)}`)));
  }), `subscription to ${label}`);
}

/** Resolves when the Echo client's pusher connection reaches `state`. */
export function connectionState(echo, state) {
  const connection = echo.connector.pusher.connection;
  if (connection.state === state) return Promise.resolve();
  return within(new Promise((ok) => {
    const onChange = ({ current }) => {
      if (current === state) {
        connection.unbind('state_change', onChange);
        ok();
      }
    };
    connection.bind('state_change', onChange);
  }), `connection state "${state}"`);
}
