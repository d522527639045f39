// Starts natter (the debug binary the test build made) on a free loopback
// port with a scratch storage folder and the outbox SMS driver, and can kill
// it with SIGKILL and start it again on the same port and storage.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const START_TIMEOUT_MS = 30_000;

function natterBinary() {
  if (process.env.NATTER_BIN) return process.env.NATTER_BIN;
  const built = spawnSync('cargo', ['build', '-q', '-p', 'natter'], { cwd: REPO_ROOT, stdio: 'inherit' });
  if (built.status !== 0) throw new Error(`cargo build -q -p natter failed (status ${built.status})`);
  const target = process.env.CARGO_TARGET_DIR ? resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR) : join(REPO_ROOT, 'target');
  const bin = join(target, 'debug', 'natter');
  if (!existsSync(bin)) throw new Error(`no natter binary at ${bin}`);
  process.env.NATTER_BIN = bin;
  return bin;
}

function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

export const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

export class Natter {
  static async start(settings = {}) {
    const server = new Natter();
    server.dir = await mkdtemp(join(tmpdir(), 'natter-web-'));
    server.port = await freePort();
    server.outbox = join(server.dir, 'outbox.jsonl');
    server.settings = settings;
    server.logs = [];
    await server.spawn();
    return server;
  }

  get base() { return `http://127.0.0.1:${this.port}`; }

  /** Only what natter needs: nothing from the developer's shell leaks in. */
  environment() {
    return {
      PATH: process.env.PATH,
      HOME: process.env.HOME || this.dir,
      HTTP_ADDR: `127.0.0.1:${this.port}`,
      APP_URL: this.base,
      STORAGE_DIR: this.dir,
      SMS_DRIVER: 'outbox',
      SMS_OUTBOX_PATH: this.outbox,
      OTP_RATE_PER_IP_PER_HOUR: '100000',
      OTP_RATE_PER_NUMBER_PER_HOUR: '1000',
      OTP_RESEND_SECONDS: '1',
      // The history test seeds 10,000 messages through the API as one user:
      // the per-user send limit (docs/security.md) is for people, not seeding.
      SENDS_PER_MINUTE: '0',
      LOG_FORMAT: 'json',
      LOG_LEVEL: 'info',
      ...this.settings,
    };
  }

  async spawn() {
    const child = spawn(natterBinary(), ['serve'], { cwd: this.dir, env: this.environment(), stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.exited = null;
    const listening = new Promise((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`natter did not start:\n${this.logs.slice(-20).join('\n')}`)), START_TIMEOUT_MS);
      const onLine = (line) => {
        this.logs.push(line);
        if (process.env.NATTER_TEST_DEBUG) process.stderr.write(`[natter] ${line}\n`);
        if (line.includes('"listening"')) { clearTimeout(timer); ok(); }
      };
      createInterface({ input: child.stdout }).on('line', onLine);
      createInterface({ input: child.stderr }).on('line', onLine);
      child.on('exit', (code, signal) => {
        this.exited = { code, signal };
        clearTimeout(timer);
        fail(new Error(`natter exited (${code ?? signal}):\n${this.logs.slice(-20).join('\n')}`));
      });
    });
    await listening;
  }

  /** SIGKILL: no graceful anything, as a crash or a power cut. */
  async kill9() {
    if (this.exited) return;
    const gone = new Promise((ok) => this.child.once('exit', ok));
    this.child.kill('SIGKILL');
    await gone;
  }

  async restart() {
    await this.spawn();
  }

  async stop() {
    if (this.child && !this.exited) {
      const gone = new Promise((ok) => this.child.once('exit', ok));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }

  /** The newest SMS code sent to `phone` (E.164). */
  async otpFor(phone, timeoutMs = 5000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = await readFile(this.outbox, 'utf8').catch(() => '');
      const sms = text.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((s) => s.to === phone);
      if (sms.length) return sms.at(-1).code;
      if (Date.now() > deadline) throw new Error(`no SMS to ${phone}`);
      await sleep(25);
    }
  }

  /** One HTTP call with JSON; throws unless 2xx. */
  async api(token, method, path, body) {
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const response = await fetch(`${this.base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
    return text ? JSON.parse(text) : null;
  }
}
