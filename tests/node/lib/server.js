// Starts a real natter server (target/debug/natter serve) on a free loopback
// port with a fresh SQLite store in a temporary directory, and stops it.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const APP_KEY = 'natter-key';
export const APP_ID = 'natter';
export const APP_SECRET = 'node-test-secret';
const START_TIMEOUT_MS = 30_000;

// Settings natter reads from the environment (or a .env file) that must not
// leak from the developer's shell into the test server.
const NATTER_SETTINGS = [
  'ACCESS_TOKEN_TTL', 'APP_KEY', 'APP_URL', 'CLIENT_EVENTS_PER_SECOND', 'CONTACT_SYNC_PER_HOUR',
  'DATABASE_URL', 'DB_MAX_CONNECTIONS', 'GROUP_MAX_MEMBERS', 'HTTP_ADDR', 'LOG_FORMAT', 'LOG_LEVEL',
  'MAX_JSON_BODY_BYTES', 'MESSAGE_EDIT_WINDOW', 'NODE_ID', 'OTP_MAX_ATTEMPTS',
  'OTP_RATE_PER_IP_PER_HOUR', 'OTP_RATE_PER_NUMBER_PER_HOUR', 'OTP_RESEND_SECONDS', 'OTP_TTL',
  'REDIS_URL', 'REFRESH_TOKEN_TTL', 'REVERB_APP_ID', 'REVERB_APP_KEY', 'REVERB_APP_SECRET',
  'SMS_DRIVER', 'SMS_OUTBOX_PATH', 'STORAGE_DIR', 'SYNC_RETENTION', 'TRUSTED_PROXIES',
  'WRITER_MAX_BATCH', 'WS_ACTIVITY_TIMEOUT', 'WS_MAX_CONNECTIONS_PER_USER', 'WS_MAX_FRAME_BYTES',
  'WS_OUTBOUND_QUEUE', 'RUST_LOG', 'PUSHER_MAX_EVENT_BYTES', 'PUSHER_WEBHOOK_URL', 'PUSHER_WEBHOOK_EVENTS',
];

/** The natter binary: $NATTER_BIN (set by tests/node/run), else built here. */
function natterBinary() {
  if (process.env.NATTER_BIN) return process.env.NATTER_BIN;
  const built = spawnSync('cargo', ['build', '-q', '-p', 'natter'], { cwd: REPO_ROOT, stdio: 'inherit' });
  if (built.status !== 0) throw new Error(`cargo build -q -p natter failed (status ${built.status})`);
  const target = process.env.CARGO_TARGET_DIR ? resolve(REPO_ROOT, process.env.CARGO_TARGET_DIR) : join(REPO_ROOT, 'target');
  const bin = join(target, 'debug', 'natter');
  if (!existsSync(bin)) throw new Error(`no natter binary at ${bin} after cargo build`);
  process.env.NATTER_BIN = bin;
  return bin;
}

/** A TCP port nobody listens on right now. */
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

/**
 * Starts `natter serve` and resolves once it logs `"message":"listening"`.
 * Returns { port, base, outbox, logs, stop() }. `extraEnv`: more settings.
 */
export async function startServer(extraEnv = {}) {
  const bin = natterBinary();
  const dir = await mkdtemp(join(tmpdir(), 'natter-node-'));
  const port = await freePort();
  const outbox = join(dir, 'outbox.jsonl');
  const env = { ...process.env };
  for (const name of NATTER_SETTINGS) delete env[name];
  Object.assign(env, {
    HTTP_ADDR: `127.0.0.1:${port}`,
    STORAGE_DIR: dir,
    SMS_DRIVER: 'outbox',
    SMS_OUTBOX_PATH: outbox,
    OTP_RATE_PER_IP_PER_HOUR: '100000',
    OTP_RESEND_SECONDS: '1',
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'info',
    REVERB_APP_KEY: APP_KEY,
    REVERB_APP_ID: APP_ID,
    REVERB_APP_SECRET: APP_SECRET,
    ...extraEnv,
  });
  // cwd is the temp dir so that no .env file of the repository is picked up.
  const child = spawn(bin, ['serve'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs = [];
  let exited = null;

  const listening = new Promise((ok, fail) => {
    const timer = setTimeout(
      () => fail(new Error(`natter did not log "listening" within ${START_TIMEOUT_MS} ms:\n${logs.slice(-30).join('\n')}`)),
      START_TIMEOUT_MS,
    );
    const onLine = (line) => {
      logs.push(line);
      if (process.env.NATTER_TEST_DEBUG) process.stderr.write(`[natter] ${line}\n`);
      let entry;
      try { entry = JSON.parse(line); } catch { return; }
      if (entry.message === 'listening') {
        clearTimeout(timer);
        ok(entry.addr);
      }
    };
    createInterface({ input: child.stdout }).on('line', onLine);
    createInterface({ input: child.stderr }).on('line', onLine);
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      clearTimeout(timer);
      fail(new Error(`natter exited (code ${code}, signal ${signal}) before listening:\n${logs.slice(-30).join('\n')}`));
    });
    child.on('error', (err) => { clearTimeout(timer); fail(err); });
  });

  let addr;
  try {
    addr = await listening;
  } catch (err) {
    child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const [host, actualPort] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];

  return {
    host,
    port: actualPort,
    base: `http://${host}:${actualPort}`,
    outbox,
    logs,
    async stop() {
      if (!exited) {
        const gone = new Promise((ok) => child.once('exit', ok));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await gone;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
