// natter behind the nginx and Caddy configurations of docs/deployment.md, and
// with its own TLS: real front-end code (laravel-echo over pusher-js, fetch)
// signs up, subscribes over WSS and receives a message sent over HTTPS.
//
// Run by tests/deploy/run, which sets NODE_EXTRA_CA_CERTS to the self-signed
// certificate made for the run (DEPLOY_TLS_CERT, DEPLOY_TLS_KEY), so clients
// trust it the way browsers trust a real one.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startServer } from '../node/lib/server.js';
import { Inbox, World, subscribed, sleep } from '../node/lib/client.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CERT = process.env.DEPLOY_TLS_CERT;
const KEY = process.env.DEPLOY_TLS_KEY;

/** The fenced block of docs/deployment.md in `language`. */
async function documented(language) {
  const page = await readFile(join(REPO_ROOT, 'docs/deployment.md'), 'utf8');
  const block = page.match(new RegExp('```' + language + '\\n([\\s\\S]*?)```'));
  assert.ok(block, `docs/deployment.md has a \`\`\`${language} block`);
  return block[1];
}

/** Replaces `from` by `to`, failing if the documented text no longer has it. */
function swap(text, from, to) {
  assert.ok(text.includes(from), `the documented configuration contains ${JSON.stringify(from)}`);
  return text.split(from).join(to);
}

function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.on('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

async function waitForPort(port, what, child) {
  for (let i = 0; i < 100; i += 1) {
    if (child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode}`);
    const open = await new Promise((ok) => {
      const socket = connect(port, '127.0.0.1', () => { socket.destroy(); ok(true); });
      socket.on('error', () => ok(false));
    });
    if (open) return;
    await sleep(100);
  }
  throw new Error(`${what} does not listen on ${port}`);
}

/** Runs `command` until stop(); its output is kept for failure messages. */
function run(command, args, options) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  const output = [];
  child.stdout.on('data', (chunk) => output.push(String(chunk)));
  child.stderr.on('data', (chunk) => output.push(String(chunk)));
  child.output = output;
  child.stop = () => new Promise((ok) => {
    if (child.exitCode !== null) return ok();
    child.once('exit', ok);
    child.kill('SIGTERM');
  });
  return child;
}

/**
 * What a user of the site does through `publicPort` (TLS, name localhost):
 * two sign up, one listens on the chat channel over WSS, the other sends.
 */
async function chatThrough(natter, publicPort) {
  const world = new World({ ...natter, host: 'localhost', port: publicPort, base: `https://localhost:${publicPort}` });
  try {
    const [ada, bob] = await Promise.all([world.signUp('Ada'), world.signUp('Bob')]);
    const chatId = await world.privateChat(ada, bob);
    const echo = world.echo(bob, {
      forceTLS: true,
      enabledTransports: ['ws', 'wss'],
      authEndpoint: `https://localhost:${publicPort}/broadcasting/auth`,
    });
    const inbox = new Inbox('bob on the chat channel');
    const channel = echo.private(`chat.${chatId}`).listen('MessageSent', inbox.push);
    await subscribed(channel);
    assert.match(echo.connector.pusher.connection.socket_id, /^\d+\.\d+$/);
    const sent = await world.sendText(ada, chatId, 'through TLS');
    const event = await inbox.next('MessageSent');
    assert.equal(event.message.id, sent.id);
    assert.equal(event.message.content, 'through TLS');
  } finally {
    world.close();
  }
}

describe('TLS in front of natter', { skip: !CERT && 'DEPLOY_TLS_CERT is not set (run tests/deploy/run)' }, () => {
  let natter;
  let dir;
  before(async () => {
    natter = await startServer({ TRUSTED_PROXIES: '1' });
    dir = await mkdtemp(join(tmpdir(), 'natter-proxy-'));
  });
  after(async () => {
    await natter?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('nginx with the documented configuration', async () => {
    const port = await freePort();
    let site = await documented('nginx');
    site = swap(site, 'listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`);
    site = swap(site, 'listen [::]:443 ssl;', '');
    site = swap(site, 'listen 80;', `listen 127.0.0.1:${await freePort()};`);
    site = swap(site, 'listen [::]:80;', '');
    site = swap(site, '/etc/letsencrypt/live/natter.example.com/fullchain.pem', CERT);
    site = swap(site, '/etc/letsencrypt/live/natter.example.com/privkey.pem', KEY);
    site = swap(site, 'server 127.0.0.1:8000;', `server 127.0.0.1:${natter.port};`);
    site = swap(site, 'natter.example.com', 'localhost');
    const conf = join(dir, 'nginx.conf');
    await writeFile(conf, `daemon off;\npid ${dir}/nginx.pid;\nerror_log stderr warn;\nevents {}\n`
      + `http {\n access_log off;\n client_body_temp_path ${dir}/body;\n proxy_temp_path ${dir}/proxy;\n${site}\n}\n`);
    const nginx = run('nginx', ['-p', dir, '-c', conf]);
    try {
      await waitForPort(port, 'nginx', nginx);
      await chatThrough(natter, port);
    } catch (err) {
      err.message += `\nnginx said:\n${nginx.output.join('')}`;
      throw err;
    } finally {
      await nginx.stop();
    }
  });

  test('Caddy with the documented configuration', async () => {
    const port = await freePort();
    let site = await documented('caddyfile');
    site = swap(site, 'natter.example.com {', `localhost:${port} {\n\ttls ${CERT} ${KEY}`);
    site = swap(site, 'reverse_proxy 127.0.0.1:8000', `reverse_proxy 127.0.0.1:${natter.port}`);
    const conf = join(dir, 'Caddyfile');
    await writeFile(conf, `{\n\tadmin off\n\tauto_https disable_redirects\n}\n${site}`);
    const caddy = run('caddy', ['run', '--config', conf, '--adapter', 'caddyfile'], {
      env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
    });
    try {
      await waitForPort(port, 'caddy', caddy);
      await chatThrough(natter, port);
    } catch (err) {
      err.message += `\ncaddy said:\n${caddy.output.join('')}`;
      throw err;
    } finally {
      await caddy.stop();
    }
  });

  test("natter's own TLS (TLS_CERT, TLS_KEY)", async () => {
    const own = await startServer({ TLS_CERT: CERT, TLS_KEY: KEY });
    try {
      await chatThrough(own, own.port);
    } finally {
      await own.stop();
    }
  });
});
