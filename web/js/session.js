// What survives a reload, in localStorage: the signed-in session (tokens and
// user), and per user the last sync position and the offline queue. Another
// tab's changes (a token refresh) are picked up through the `storage` event.

const SESSION_KEY = 'natter.session';

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

  /** Re-reads the stored session (another tab may have refreshed the tokens). */
  reload() { this.data = read(SESSION_KEY); return this.data; }

  save(data) {
    this.data = { ...this.data, ...data };
    write(SESSION_KEY, this.data);
  }

  setUser(user) { this.save({ user }); }

  clear() {
    this.data = null;
    localStorage.removeItem(SESSION_KEY);
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
