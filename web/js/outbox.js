// Messages on their way out. A text message gets its client_message_id when
// it is composed and keeps it through every retry, so the server stores it
// once however often we send it (a retry of a message that did arrive answers
// 200 with the first copy). The queue is kept in localStorage: a message
// written offline is sent when the server answers again, even after a reload.
// Files cannot be kept there; they wait in memory (same retries, same id).

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
    this.entries = (read(key) || []).filter((e) => e && e.client_message_id);
    this.files = new Map(); // client_message_id -> { file, onProgress }
    this.busy = false;
    this.attempt = 0;
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
    this.entries.push(entry);
    this.save();
    this.changed();
    this.kick();
    return entry;
  }

  save() {
    write(this.key, this.entries.filter((e) => !this.files.has(e.client_message_id)));
  }

  remove(clientId) {
    this.entries = this.entries.filter((e) => e.client_message_id !== clientId);
    this.files.delete(clientId);
    this.save();
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

function formOf(fields, file) {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined && value !== null && value !== '') form.append(key, String(value));
  }
  form.append('file', file, file.name);
  return form;
}
