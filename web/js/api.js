// The HTTP side of the API: JSON in and out, the Bearer token, one refresh
// when the access token is refused, errors as ApiError with the status and
// Laravel-shaped body. Uploads go through XMLHttpRequest for their progress.

import { exclusively } from './session.js';

export class ApiError extends Error {
  constructor(status, body, fallback = 'Request failed') {
    super(body?.message || fallback);
    this.status = status;
    this.body = body;
  }

  /** No answer at all: the network or the server is down. */
  get offline() { return this.status === 0; }

  /** Worth sending again later (nothing was refused for good). */
  get retryable() { return this.status === 0 || this.status === 408 || this.status === 429 || this.status >= 500; }

  /** The first message for `field` of a 422, if any. */
  field(field) { return this.body?.errors?.[field]?.[0]; }
}

const REQUEST_TIMEOUT_MS = 30_000;
/** An upload that has sent nothing for this long is given up (and retried). */
const UPLOAD_STALL_MS = 60_000;
/** Refresh this long before the access token expires rather than wait for a 401. */
const REFRESH_EARLY_MS = 60_000;

export class Api {
  constructor(session, { onSignedOut } = {}) {
    this.session = session;
    this.onSignedOut = onSignedOut || (() => {});
    this.refreshing = null;
  }

  get(path) { return this.request('GET', path); }
  post(path, body) { return this.request('POST', path, { body }); }
  put(path, body) { return this.request('PUT', path, { body }); }
  del(path) { return this.request('DELETE', path); }

  async request(method, path, { body, auth = true } = {}) {
    if (auth) await this.freshToken();
    let response = await this.send(method, path, body, auth);
    if (response.status === 401 && auth && path !== '/api/auth/refresh') {
      const renewal = await this.refresh(this.session.accessToken);
      response = await this.send(method, path, body, auth);
      if (response.status === 401) {
        // Only a refused refresh token ends the login; a refresh that could
        // not reach the server (offline, 5xx, timeout) is tried again later.
        if (renewal === RENEWAL.failed) throw new ApiError(503, null, 'Your session could not be renewed just now.');
        this.signedOut();
      }
    }
    return this.parse(response);
  }

  async send(method, path, body, auth) {
    const headers = { Accept: 'application/json' };
    if (auth && this.session.accessToken) headers.Authorization = `Bearer ${this.session.accessToken}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await timedFetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response) throw new ApiError(0, null, 'You are offline, or the server is not answering.');
    return response;
  }

  async parse(response) {
    const text = await response.text().catch(() => '');
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch { body = null; }
    if (response.ok) return body;
    const error = new ApiError(response.status, body, `The server answered ${response.status}.`);
    error.retryAfter = Number(response.headers.get('Retry-After')) || 0;
    throw error;
  }

  /** Refreshes ahead of expiry, so long-lived pages rarely see a 401. */
  async freshToken() {
    const { expiresAt, issuedAt } = this.session;
    if (!expiresAt) return;
    // A minute early, or a quarter of the token's life when it lives less than four minutes.
    const early = Math.min(REFRESH_EARLY_MS, Math.max(0, (expiresAt - (issuedAt || expiresAt)) / 4));
    if (expiresAt - Date.now() < early) await this.refresh(this.session.accessToken);
  }

  /**
   * One refresh at a time, across tabs too: refresh tokens are single-use and
   * a reused one revokes the login, so a tab that waited for the lock first
   * checks whether another tab already replaced the token it saw refused.
   * Resolves with a RENEWAL.
   */
  refresh(refusedToken) {
    if (!this.refreshing) {
      const run = async () => {
        const stored = await this.session.reload();
        if (stored?.access_token && stored.access_token !== refusedToken) return RENEWAL.renewed;
        return this.rotate();
      };
      const locked = exclusively(`natter.refresh.${this.session.user?.id}`, run);
      this.refreshing = locked.finally(() => { this.refreshing = null; });
    }
    return this.refreshing;
  }

  async rotate() {
    const refreshToken = this.session.refreshToken;
    if (!refreshToken) { this.signedOut(); return RENEWAL.refused; }
    const response = await timedFetch('/api/auth/refresh', {
      method: 'POST', headers: { Accept: 'application/json', Authorization: `Bearer ${refreshToken}` },
    });
    if (response?.status === 401) { this.signedOut(); return RENEWAL.refused; }
    const tokens = response?.ok ? await response.json().catch(() => null) : null;
    // Offline, 5xx, timeout: the refresh token is still good; try again later.
    if (!tokens) return RENEWAL.failed;
    // Awaited inside the lock: the next tab to take it must read these tokens.
    await this.session.save({ ...tokens, issued_at: new Date().toISOString() });
    return RENEWAL.renewed;
  }

  signedOut() {
    this.session.clear();
    this.onSignedOut();
  }

  /**
   * A multipart upload with progress: resolves with the JSON body, rejects
   * with ApiError like request(); one refresh and retry on 401.
   */
  async upload(path, form, onProgress) {
    await this.freshToken();
    let result = await this.xhr(path, form, onProgress);
    if (result.status === 401) {
      await this.refresh(this.session.accessToken);
      result = await this.xhr(path, form, onProgress);
    }
    if (result.status >= 200 && result.status < 300) return result.body;
    throw new ApiError(result.status, result.body, `The server answered ${result.status}.`);
  }

  xhr(path, form, onProgress) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', path);
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.setRequestHeader('Authorization', `Bearer ${this.session.accessToken}`);
      xhr.upload.onprogress = (e) => { if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total); };
      xhr.onload = () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch { body = null; }
        resolve({ status: xhr.status, body });
      };
      // A connection that stops moving is given up, so the queue behind it
      // goes on; the outbox sends the file again (same client id).
      let stalled;
      const watch = () => { clearTimeout(stalled); stalled = setTimeout(() => xhr.abort(), UPLOAD_STALL_MS); };
      xhr.upload.addEventListener('progress', watch);
      xhr.onloadend = () => clearTimeout(stalled);
      xhr.onerror = () => resolve({ status: 0, body: null });
      xhr.onabort = () => resolve({ status: 0, body: null });
      xhr.ontimeout = () => resolve({ status: 0, body: null });
      watch();
      xhr.send(form);
    });
  }
}

/** How a refresh ended: new tokens (here or in another tab), refused (signed out), or not reached. */
const RENEWAL = Object.freeze({ renewed: 'renewed', refused: 'refused', failed: 'failed' });

/** fetch() that gives up after REQUEST_TIMEOUT_MS; null when offline or given up. */
async function timedFetch(path, init) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
  try {
    return await fetch(path, { ...init, signal: abort.signal });
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}
