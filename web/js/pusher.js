// A small client of the Pusher protocol (version 7), written for natter:
// connect to /app/{key}, learn the socket id from
// pusher:connection_established, subscribe to private channels with a
// signature from /broadcasting/auth, answer and send pings, and reconnect
// with jittered, capped backoff. The socket is only a hint: whoever listens
// to 'connected' replays /api/sync after every (re)connect.

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 8_000;
/** Ping after this much silence even if the server allows more. */
const MAX_ACTIVITY_MS = 30_000;
/** How long a ping may wait for any answer before the socket is presumed dead. */
const PONG_TIMEOUT_MS = 10_000;

/** Exponential backoff with "equal jitter": half fixed, half random, capped. */
export function backoff(attempt, base = BACKOFF_BASE_MS, cap = BACKOFF_CAP_MS) {
  const ceiling = Math.min(cap, base * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

class Channel {
  constructor(client, name) {
    this.client = client;
    this.name = name;
    this.subscribed = false;
    this.handlers = new Map();
  }

  /** Listens to `event` ('*' for every event) on this channel. */
  bind(event, fn) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event).add(fn);
    return this;
  }

  emit(event, data) {
    for (const key of [event, '*']) {
      for (const fn of this.handlers.get(key) || []) fn(data, event);
    }
  }

  /** Sends a client event (a whisper); dropped unless subscribed. */
  trigger(event, data) {
    if (!this.subscribed) return false;
    return this.client.send({ event, channel: this.name, data });
  }
}

export class PusherClient {
  /**
   * @param {string} key        the app key (REVERB_APP_KEY)
   * @param {(socketId: string, channel: string) => Promise<{auth: string}>} authorize
   */
  constructor(key, authorize) {
    this.key = key;
    this.authorize = authorize;
    this.channels = new Map();
    this.listeners = new Map();
    this.state = 'initialized';
    this.attempt = 0;
    this.socket = null;
    this.socketId = null;
    this.timers = {};
    this.stopped = true;
    window.addEventListener('online', () => this.retryNow());
    window.addEventListener('offline', () => this.socket?.close());
  }

  on(event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(fn);
  }

  emit(event, data) {
    for (const fn of this.listeners.get(event) || []) fn(data);
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.emit('state', state);
  }

  url() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    return `${scheme}://${location.host}/app/${encodeURIComponent(this.key)}?protocol=7&client=natter-web&version=1`;
  }

  connect() {
    this.stopped = false;
    if (this.socket) return;
    clearTimeout(this.timers.retry);
    this.setState('connecting');
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.onmessage = (event) => this.receive(event.data);
    socket.onclose = (event) => this.closed(socket, event.code);
    socket.onerror = () => { /* onclose follows and decides */ };
  }

  disconnect() {
    this.stopped = true;
    clearTimeout(this.timers.retry);
    this.stopTimers();
    this.socket?.close(1000);
    this.socket = null;
    this.setState('disconnected');
  }

  /** After the network comes back: skip the rest of the backoff. */
  retryNow() {
    if (this.stopped || this.socket) return;
    this.attempt = 0;
    this.connect();
  }

  send(frame) {
    if (this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  receive(text) {
    let frame;
    try { frame = JSON.parse(text); } catch { return; }
    this.alive();
    let { data } = frame;
    if (typeof data === 'string') {
      try { data = JSON.parse(data); } catch { /* leave as text */ }
    }
    switch (frame.event) {
      case 'pusher:connection_established': return this.established(data);
      case 'pusher:ping': return this.send({ event: 'pusher:pong', data: {} });
      case 'pusher:pong': return undefined;
      case 'pusher:error': return this.serverError(data);
      case 'pusher_internal:subscription_succeeded': return this.subscribed(frame.channel);
      case 'pusher:subscription_error': return this.channels.get(frame.channel)?.emit('subscription_error', data);
      default: return this.channels.get(frame.channel)?.emit(frame.event, data);
    }
  }

  established(data) {
    this.socketId = data.socket_id;
    this.attempt = 0;
    const serverMs = (Number(data.activity_timeout) || 120) * 1000;
    this.activityMs = Math.min(serverMs, MAX_ACTIVITY_MS);
    this.setState('connected');
    this.alive();
    for (const channel of this.channels.values()) this.authorizeAndSubscribe(channel);
    this.emit('connected', this.socketId);
  }

  subscribed(name) {
    const channel = this.channels.get(name);
    if (!channel) return;
    channel.subscribed = true;
    channel.emit('subscribed');
  }

  serverError(data) {
    this.emit('error', data);
  }

  /** Any frame proves the socket alive; silence leads to a ping, then a close. */
  alive() {
    this.stopTimers();
    if (!this.activityMs) return;
    this.timers.activity = setTimeout(() => {
      this.send({ event: 'pusher:ping', data: {} });
      this.timers.pong = setTimeout(() => this.socket?.close(4201), PONG_TIMEOUT_MS);
    }, this.activityMs);
  }

  stopTimers() {
    clearTimeout(this.timers.activity);
    clearTimeout(this.timers.pong);
  }

  /**
   * The socket closed. Pusher's close codes say what to do: 4000-4099 never
   * retry (a wrong key), 4200-4299 reconnect at once, anything else after
   * the backoff.
   */
  closed(socket, code) {
    if (socket !== this.socket) return;
    this.socket = null;
    this.socketId = null;
    this.stopTimers();
    for (const channel of this.channels.values()) channel.subscribed = false;
    if (this.stopped) return;
    if (code >= 4000 && code < 4100) {
      this.setState('failed');
      return;
    }
    this.setState('unavailable');
    const delay = code >= 4200 && code < 4300 ? Math.random() * 250 : backoff(this.attempt);
    this.attempt += 1;
    this.timers.retry = setTimeout(() => this.connect(), delay);
  }

  subscribe(name) {
    let channel = this.channels.get(name);
    if (!channel) {
      channel = new Channel(this, name);
      this.channels.set(name, channel);
      if (this.state === 'connected') this.authorizeAndSubscribe(channel);
    }
    return channel;
  }

  unsubscribe(name) {
    const channel = this.channels.get(name);
    if (!channel) return;
    this.channels.delete(name);
    if (channel.subscribed) this.send({ event: 'pusher:unsubscribe', data: { channel: name } });
    channel.subscribed = false;
  }

  async authorizeAndSubscribe(channel) {
    const socketId = this.socketId;
    try {
      const { auth } = await this.authorize(socketId, channel.name);
      // The socket may have changed while we waited for the signature.
      if (socketId !== this.socketId || this.channels.get(channel.name) !== channel) return;
      this.send({ event: 'pusher:subscribe', data: { channel: channel.name, auth } });
    } catch (error) {
      channel.emit('subscription_error', { status: error.status, message: error.message });
    }
  }
}
