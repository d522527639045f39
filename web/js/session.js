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

const SESSION_KEY = 'natter.session';
const SHARED_DB = 'natter';
const SHARED_STORE = 'session';

export class Session {
  constructor() {
    this.data = read(SESSION_KEY);
    window.addEventListener('storage', (event) => {
      if (event.key === SESSION_KEY) this.data = read(SESSION_KEY);
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

  /** Stores the session; resolves once every tab's next reload() sees it. */
  save(data) {
    this.data = { ...this.data, ...data };
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

/** One transaction on the session store; resolves with `read`'s result once it completes, null on failure. */
async function sharedTransaction(mode, act) {
  const db = await openShared();
  if (!db) return null;
  return new Promise((resolve) => {
    try {
      const tx = db.transaction(SHARED_STORE, mode);
      const request = act(tx.objectStore(SHARED_STORE));
      tx.oncomplete = () => resolve(request.result ?? null);
      tx.onerror = () => resolve(null);
      tx.onabort = () => resolve(null);
    } catch {
      resolve(null);
    }
  });
}

function sharedRead() {
  return sharedTransaction('readonly', (store) => store.get(SESSION_KEY));
}

function sharedWrite(session) {
  return sharedTransaction('readwrite', (store) => (session === undefined
    ? store.delete(SESSION_KEY)
    : store.put(session, SESSION_KEY)));
}
