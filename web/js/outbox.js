// Messages on their way out. A text message gets its client_message_id when
// it is composed and keeps it through every retry, so the server stores it
// once however often we send it (a retry of a message that did arrive answers
// 200 with the first copy). The queue is kept in localStorage: a message
// written offline is sent when the server answers again, even after a reload.
// Files cannot be kept there; they wait in memory (same retries, same id).
//
// Each queued message is a localStorage key of its own (`<key>.<client id>`),
// written when it is queued and removed when it is sent, never a list that a
// tab rewrites whole: two tabs of one login each kept the list they knew, so a
// message queued in one tab was overwritten by the other's next write and lost
// if its tab closed before it went out. Other tabs learn of each key through
// the `storage` event and keep it too; whichever tab sends it first removes
// it, and a second send of the same client id is answered with the first copy.

import { randomId } from './format.js';
import { read, write } from './session.js';

const RETRY_CAP_MS = 15_000;

export class Outbox {
  constructor(api, key, { sent, failed, changed }) {
    this.api = api;
    this.key = key;
    this.sent = sent;       // (entry, message) => void
    this.failed = failed;   // (entry, error) => void
    this.changed = changed; // () => void
    this.entries = stored(key);
    this.files = new Map(); // client_message_id -> { file, onProgress }
    this.busy = false;
    this.attempt = 0;
    window.addEventListener('storage', (event) => this.otherTab(event));
  }

  /**
   * Another tab queued (a new value), sent (none) or was refused (a value
   * with `refused`, just before none) a message of this queue.
   */
  otherTab({ key, newValue }) {
    const prefix = entryKey(this.key, '');
    if (!key?.startsWith(prefix)) return;
    const known = this.entries.find((e) => e.client_message_id === key.slice(prefix.length));
    const entry = newValue === null ? null : parsed(newValue);
    if (known && (newValue === null || entry?.refused)) {
      this.entries = this.entries.filter((e) => e !== known);
      // The user may have written it here: say so here too.
      if (entry?.refused) this.failed(known, { message: entry.refused });
      this.changed();
    } else if (!known && entry && !entry.refused) {
      this.entries = inOrder([...this.entries, entry]);
      this.changed();
    }
  }

  /** Entries of one chat, oldest first. */
  forChat(chatId) {
    return this.entries.filter((e) => e.chat_id === chatId);
  }

  /** Queues a message: `fields` as POST /api/chats/{chat}/messages takes them. */
  add(chatId, fields, file) {
    const entry = {
      chat_id: chatId,
      client_message_id: randomId(),
      created_at: new Date().toISOString(),
      fields,
      file_name: file?.name,
      file_size: file?.size,
    };
    if (file) this.files.set(entry.client_message_id, { file, progress: 0 });
    else write(entryKey(this.key, entry.client_message_id), entry);
    this.entries.push(entry);
    this.changed();
    this.kick();
    return entry;
  }

  remove(clientId) {
    this.entries = this.entries.filter((e) => e.client_message_id !== clientId);
    this.files.delete(clientId);
    localStorage.removeItem(entryKey(this.key, clientId));
    this.changed();
  }

  /** Someone else (a socket event) already saw the message arrive. */
  arrived(clientId) {
    if (this.entries.some((e) => e.client_message_id === clientId)) this.remove(clientId);
  }

  /** Sends now, if not already sending: after a reconnect, on `online`, on a new entry. */
  kick() {
    clearTimeout(this.timer);
    this.attempt = 0;
    this.drain();
  }

  async drain() {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.entries.length) {
        const entry = this.entries[0];
        const ok = await this.sendOne(entry);
        if (!ok) return;
      }
    } finally {
      this.busy = false;
    }
  }

  /** False when the queue must wait (offline, server down, rate limited). */
  async sendOne(entry) {
    const path = `/api/chats/${entry.chat_id}/messages`;
    const body = { ...entry.fields, client_message_id: entry.client_message_id };
    try {
      const upload = this.files.get(entry.client_message_id);
      const answer = upload
        ? await this.api.upload(path, formOf(body, upload.file), (p) => { upload.progress = p; this.changed(); })
        : await this.api.post(path, body);
      this.remove(entry.client_message_id);
      this.attempt = 0;
      this.sent(entry, answer.message);
      return true;
    } catch (error) {
      // Signed out: the queue stays (kept per user) and goes out after signing in again.
      if (error.status === 401) return false;
      if (error.retryable) {
        this.retry(error.retryAfter);
        return false;
      }
      // Other tabs learn that it was refused, and why, before it goes.
      write(entryKey(this.key, entry.client_message_id), { ...entry, refused: error.message });
      this.remove(entry.client_message_id);
      this.failed(entry, error);
      return true;
    }
  }

  retry(retryAfterSeconds) {
    const backoff = Math.min(RETRY_CAP_MS, 500 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt += 1;
    this.timer = setTimeout(() => this.drain(), Math.max(backoff, (retryAfterSeconds || 0) * 1000));
  }

  progress(clientId) {
    return this.files.get(clientId)?.progress;
  }
}

/**
 * The queue as stored, oldest first: a key per message, and the single list
 * an earlier version kept under `key` itself, moved to keys of their own.
 */
function stored(key) {
  const legacy = read(key);
  if (Array.isArray(legacy)) {
    for (const entry of legacy) {
      if (entry?.client_message_id) write(entryKey(key, entry.client_message_id), entry);
    }
    localStorage.removeItem(key);
  }
  const entries = [];
  for (let i = 0; i < localStorage.length; i += 1) {
    const name = localStorage.key(i);
    if (name?.startsWith(entryKey(key, ''))) {
      const entry = parsed(localStorage.getItem(name));
      if (entry?.refused) localStorage.removeItem(name);
      else if (entry) entries.push(entry);
    }
  }
  return inOrder(entries);
}

/** Where one queued message is kept: `<queue key>.<client id>`. */
const entryKey = (key, clientId) => `${key}.${clientId}`;

function parsed(text) {
  try {
    const entry = JSON.parse(text);
    return entry?.client_message_id && entry.chat_id ? entry : null;
  } catch {
    return null;
  }
}

const inOrder = (entries) => entries.sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0));

function formOf(fields, file) {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined && value !== null && value !== '') form.append(key, String(value));
  }
  form.append('file', file, file.name);
  return form;
}
