// What survives a reload, in localStorage: the signed-in session (tokens and
// user), and per user the last sync position and the offline queue. Another
// tab's changes (a token refresh) are picked up through the `storage` event.
//
// The session is also kept in IndexedDB, for the one read that must see every
// other tab's last write: the refresh, under a Web Lock. Chromium caches
// localStorage in each renderer and brings other tabs' writes in later, so a
// tab granted the lock just after another rotated the tokens read the old
// refresh token from localStorage in 203 of 300 tries (tests/web, session
// test), and presenting a used refresh token revokes the login. An IndexedDB
// transaction started after another's completed sees its write.

import { randomId } from './format.js';

const SESSION_KEY = 'natter.session';
const SHARED_DB = 'natter';
const SHARED_STORE = 'session';

export class Session {
  constructor() {
    this.data = read(SESSION_KEY);
    window.addEventListener('storage', (event) => {
      if (event.key !== SESSION_KEY) return;
      const next = read(SESSION_KEY);
      this.data = next && newestTokens(next, this.data);
    });
  }

  get signedIn() { return Boolean(this.data?.access_token && this.data?.user); }
  get user() { return this.data?.user; }
  get accessToken() { return this.data?.access_token; }
  get refreshToken() { return this.data?.refresh_token; }
  get expiresAt() { return Date.parse(this.data?.expires_at || '') || 0; }
  get issuedAt() { return Date.parse(this.data?.issued_at || '') || 0; }

  /**
   * Re-reads the stored session as every tab last left it (another tab may
   * have refreshed the tokens): the later of IndexedDB's and localStorage's
   * copies, so a session from before IndexedDB was used, or a browser without
   * it, still reads.
   */
  async reload() {
    const shared = await sharedRead();
    const local = read(SESSION_KEY);
    this.data = issued(shared) >= issued(local) && shared ? shared : local;
    return this.data;
  }

  /**
   * Stores the session; resolves once every tab's next reload() sees it.
   * Tokens only move forward: another tab may have rotated them since this
   * one last heard (its storage event comes late), and writing the older
   * ones back (with a new name or photo, say) would put a used refresh token
   * where the next refresh reads it, which would revoke the login.
   */
  save(data) {
    this.data = newestTokens({ ...this.data, ...data }, read(SESSION_KEY));
    write(SESSION_KEY, this.data);
    return sharedWrite(this.data);
  }

  setUser(user) { return this.save({ user }); }

  clear() {
    this.data = null;
    localStorage.removeItem(SESSION_KEY);
    return sharedWrite(undefined);
  }

  /** A key for something stored per user (`seq`, `outbox`). */
  key(name) { return `natter.u${this.user?.id}.${name}`; }
}

export function read(key) {
  try { return JSON.parse(localStorage.getItem(key) || 'null'); } catch { return null; }
}

export function write(key, value) {
  try { localStorage.setItem(key, JSON.stringify(value)); } catch { /* storage full or off: memory only */ }
}

const issued = (session) => Date.parse(session?.issued_at || '') || 0;

const TOKEN_FIELDS = ['access_token', 'refresh_token', 'expires_at', 'issued_at'];

/** `session`, with `other`'s tokens where those are newer tokens of the same login. */
function newestTokens(session, other) {
  if (!other || other.user?.id !== session.user?.id || issued(other) <= issued(session)) return session;
  const merged = { ...session };
  for (const field of TOKEN_FIELDS) merged[field] = other[field];
  return merged;
}

let sharedDb = null;

/** The IndexedDB database, opened once; null where there is none. */
function openShared() {
  if (typeof indexedDB === 'undefined') return Promise.resolve(null);
  sharedDb ??= new Promise((resolve) => {
    const request = indexedDB.open(SHARED_DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(SHARED_STORE);
    request.onsuccess = () => {
      const db = request.result;
      // A newer page that upgrades the database must not wait for this one.
      db.onversionchange = () => { db.close(); sharedDb = null; };
      resolve(db);
    };
    request.onerror = () => { sharedDb = null; resolve(null); };
  });
  return sharedDb;
}

/**
 * One transaction on the session store: `act(store)` makes its requests and
 * may return a function that gives the result once the transaction has
 * completed. Resolves with that result (null without one), or null when
 * there is no IndexedDB or the transaction failed.
 */
async function sharedTransaction(mode, act) {
  const db = await openShared();
  if (!db) return null;
  return new Promise((resolve) => {
    try {
      const tx = db.transaction(SHARED_STORE, mode);
      const result = act(tx.objectStore(SHARED_STORE));
      tx.oncomplete = () => resolve(result ? result() : null);
      tx.onerror = () => resolve(null);
      tx.onabort = () => resolve(null);
    } catch {
      resolve(null);
    }
  });
}

function sharedRead() {
  return sharedTransaction('readonly', (store) => {
    const request = store.get(SESSION_KEY);
    return () => request.result ?? null;
  });
}

/** Writes the session (none: deletes it), keeping newer tokens already stored (`newestTokens`). */
function sharedWrite(session) {
  return sharedTransaction('readwrite', (store) => {
    if (session === undefined) {
      store.delete(SESSION_KEY);
      return undefined;
    }
    const current = store.get(SESSION_KEY);
    current.onsuccess = () => store.put(newestTokens(session, current.result), SESSION_KEY);
    return undefined;
  });
}

/** How long a tab may hold the IndexedDB lease: longer than a request may take (api.js). */
const LEASE_MS = 35_000;
const LEASE_POLL_MS = 50;
const TAB = randomId();

/**
 * Runs `task` while no other tab of this browser runs one under `name`:
 * through a Web Lock, or where there is none (a page served over plain HTTP
 * from another address than localhost is not a secure context, and has no
 * `navigator.locks`), through a lease kept in IndexedDB, whose read-and-write
 * transactions one tab at a time. Without either it just runs.
 */
export async function exclusively(name, task) {
  if (typeof navigator !== 'undefined' && navigator.locks) return navigator.locks.request(name, task);
  const key = `lease:${name}`;
  const deadline = Date.now() + LEASE_MS;
  let held = await takeLease(key);
  while (held === false && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, LEASE_POLL_MS));
    held = await takeLease(key);
  }
  try {
    return await task();
  } finally {
    if (held) await sharedTransaction('readwrite', (store) => { store.delete(key); });
  }
}

/** True if this tab now holds the lease, false if another does, null without IndexedDB. */
function takeLease(key) {
  return sharedTransaction('readwrite', (store) => {
    let taken = false;
    const current = store.get(key);
    current.onsuccess = () => {
      const lease = current.result;
      if (lease && lease.tab !== TAB && lease.until > Date.now()) return;
      store.put({ tab: TAB, until: Date.now() + LEASE_MS }, key);
      taken = true;
    };
    return () => taken;
  });
}
