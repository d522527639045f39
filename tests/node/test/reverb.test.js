// Issue 17: what a Laravel developer coming from Reverb reaches for, driven by
// the real clients: a stock `pusher` server library (pusher-http-node)
// publishing through natter's Pusher HTTP API to Echo clients, toOthers via
// socket_id, pusher-js signin() with "send to user", terminate_connections,
// and signed webhooks received by a local endpoint.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { after, before, test } from 'node:test';
import PusherServer from 'pusher';
import { APP_ID, APP_KEY, APP_SECRET, startServer } from '../lib/server.js';
import { Inbox, WAIT_MS, World, connectionState, sleep, subscribed, within } from '../lib/client.js';

/** A local webhook receiver; each request's headers and raw body land in `inbox`. */
async function webhookReceiver() {
  const inbox = new Inbox('webhooks');
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      inbox.push({ headers: req.headers, rawBody: body });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { inbox, url: `http://127.0.0.1:${server.address().port}/pusher/webhook`, close: () => server.close() };
}

let receiver;
let server;
before(async () => {
  receiver = await webhookReceiver();
  server = await startServer({ PUSHER_WEBHOOK_URL: receiver.url });
});
after(async () => {
  await server?.stop();
  receiver?.close();
});

/** The stock server library, pointed at natter as a Laravel app's config/broadcasting.php would. */
function pusherApi(secret = APP_SECRET) {
  return new PusherServer({ appId: APP_ID, key: APP_KEY, secret, host: server.host, port: String(server.port), useTLS: false });
}

/** Polls `check` until it is true. */
async function until(check, label) {
  const deadline = Date.now() + WAIT_MS;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await sleep(20);
  }
}

/** The status of a rejected pusher-http-node call. */
async function statusOf(promise) {
  try {
    await promise;
  } catch (err) {
    return err.status;
  }
  throw new Error('the call succeeded, but it should have been refused');
}

test('a stock pusher library publishes to presence, private and public channels; socket_id leaves the sender out', async (t) => {
  const world = new World(server);
  t.after(() => world.close());
  const [ada, bob] = await Promise.all([world.signUp('Ada'), world.signUp('Bob')]);
  const chatId = await world.privateChat(ada, bob);
  const adaEcho = world.echo(ada);
  const bobEcho = world.echo(bob);

  const adaSees = new Inbox('ada');
  const bobSees = new Inbox('bob');
  const adaPresence = adaEcho.join(`chat.${chatId}`).listen('.OrderShipped', adaSees.push);
  const bobPresence = bobEcho.join(`chat.${chatId}`).listen('.OrderShipped', bobSees.push);
  const bobPrivate = bobEcho.private(`chat.${chatId}`).listen('.OrderShipped', bobSees.push);
  const news = new Inbox('bob on a public channel');
  const bobNews = bobEcho.channel('news').listen('.Breaking', news.push);
  await Promise.all([subscribed(adaPresence), subscribed(bobPresence), subscribed(bobPrivate), subscribed(bobNews)]);

  const api = pusherApi();
  // toOthers(): the broadcaster passes the sender's socket id.
  const adaSocket = adaEcho.socketId();
  await api.trigger(`presence-chat.${chatId}`, 'OrderShipped', { order: 1 }, { socket_id: adaSocket });
  assert.deepEqual(await bobSees.next('OrderShipped on the presence channel'), { order: 1 });
  await adaSees.none('nothing for the sender\'s socket');
  await api.trigger([`private-chat.${chatId}`, 'news'], 'OrderShipped', { order: 2 });
  assert.deepEqual(await bobSees.next('OrderShipped on the private channel'), { order: 2 });
  await api.trigger('news', 'Breaking', { headline: 'natter speaks Pusher' });
  assert.deepEqual(await news.next('Breaking on the public channel'), { headline: 'natter speaks Pusher' });
  await api.triggerBatch([
    { channel: 'news', name: 'Breaking', data: { n: 1 } },
    { channel: 'news', name: 'Breaking', data: { n: 2 } },
  ]);
  assert.deepEqual([await news.next('batch 1'), await news.next('batch 2')], [{ n: 1 }, { n: 2 }]);

  // What the HTTP API tells about channels.
  const list = await (await api.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } })).json();
  assert.deepEqual(list.channels[`presence-chat.${chatId}`], { user_count: 2 });
  const one = await (await api.get({ path: `/channels/presence-chat.${chatId}`, params: { info: 'user_count,subscription_count' } })).json();
  assert.deepEqual(one, { occupied: true, user_count: 2, subscription_count: 2 });
  const users = await (await api.get({ path: `/channels/presence-chat.${chatId}/users` })).json();
  assert.deepEqual(users.users.map((u) => u.id).sort(), [String(ada.id), String(bob.id)].sort());
  const empty = await (await api.get({ path: '/channels/nobody-here' })).json();
  assert.equal(empty.occupied, false);
  // Published through the HTTP API: socket-only, not in the sync log.
  const logged = await world.api(bob, 'GET', '/api/sync?since=0');
  assert.ok(!JSON.stringify(logged).includes('OrderShipped'), 'HTTP API events are not logged');

  // Pusher's limits and error answers.
  assert.equal(await statusOf(api.trigger('news', 'Big', 'x'.repeat(11 * 1024))), 413);
  assert.equal(await statusOf(api.post({ path: '/events', body: { name: 'e', data: '{}', channels: Array.from({ length: 101 }, (_, i) => `c${i}`) } })), 400);
  assert.equal(await statusOf(api.post({ path: '/batch_events', body: { batch: Array.from({ length: 11 }, () => ({ name: 'e', data: '{}', channel: 'news' })) } })), 400);
  assert.equal(await statusOf(api.get({ path: '/channels/news/users' })), 400);
  assert.equal(await statusOf(pusherApi('not-the-secret').trigger('news', 'Breaking', {})), 401);
  const other = new PusherServer({ appId: 'someone-else', key: APP_KEY, secret: APP_SECRET, host: server.host, port: String(server.port), useTLS: false });
  assert.equal(await statusOf(other.trigger('news', 'Breaking', {})), 404);
  await news.none('nothing refused was published');
});

test('pusher-js signin(): #server-to-user-{id} carries sendToUser; terminate_connections closes the user\'s sockets', async (t) => {
  const world = new World(server);
  t.after(() => world.close());
  const [ada, eve] = await Promise.all([world.signUp('Ada'), world.signUp('Eve')]);
  const userAuthentication = {
    endpoint: `${server.base}/broadcasting/user-auth`,
    transport: 'ajax',
    headers: { Authorization: `Bearer ${ada.token}` },
  };
  const echo = world.echo(ada, { userAuthentication });
  const pusher = echo.connector.pusher;
  const errors = new Inbox('ada: pusher errors');
  pusher.connection.bind('error', errors.push);
  const toAda = new Inbox('ada: sendToUser');
  pusher.user.bind('invoice-paid', toAda.push);
  pusher.signin();
  await until(() => pusher.user.serverToUserChannel?.subscribed, 'the #server-to-user channel');
  assert.equal(pusher.user.user_data.id, String(ada.id));

  const api = pusherApi();
  await api.sendToUser(String(ada.id), 'invoice-paid', { amount: 42 });
  assert.deepEqual(await toAda.next('invoice-paid'), { amount: 42 });
  // Nobody else hears a user's events, and no one can subscribe to them unsigned.
  const eveEcho = world.echo(eve);
  const eveErrors = new Inbox('eve: pusher errors');
  eveEcho.connector.pusher.connection.bind('error', eveErrors.push);
  await connectionState(eveEcho, 'connected');
  // pusher-js itself refuses to subscribe to a #-channel; a hand-made frame tries.
  eveEcho.connector.pusher.send_event('pusher:subscribe', { channel: `#server-to-user-${ada.id}` });
  const refused = await eveErrors.next('pusher:error for an unsigned #server-to-user subscription');
  assert.equal(refused.data.code, 4009, JSON.stringify(refused));
  await errors.none('no error for Ada');

  // The backend ends Ada's sessions: her socket is closed and not reconnected.
  await api.terminateUserConnections(String(ada.id));
  await within(new Promise((ok) => {
    const check = () => ['disconnected', 'unavailable', 'failed'].includes(pusher.connection.state) && ok();
    pusher.connection.bind('state_change', check);
    check();
  }), 'ada\'s connection to end');
  assert.equal(eveEcho.connector.pusher.connection.state, 'connected', 'other users stay connected');
});

test('webhooks: occupied, member_added, client_event, member_removed, vacated, signed as Pusher signs them', async (t) => {
  const world = new World(server);
  t.after(() => world.close());
  const [ada, bob] = await Promise.all([world.signUp('Ada'), world.signUp('Bob')]);
  const chatId = await world.privateChat(ada, bob);
  const channel = `presence-chat.${chatId}`;
  const api = pusherApi();
  const seen = [];
  /** Reads signed bodies until `wanted` shows up for this chat's channel. */
  async function waitFor(name) {
    for (;;) {
      const found = seen.find((e) => e.name === name && e.channel === channel);
      if (found) return found;
      const delivery = await receiver.inbox.next(`a webhook with ${name}`);
      assert.equal(delivery.headers['x-pusher-key'], APP_KEY);
      const hook = api.webhook(delivery);
      assert.ok(hook.isValid(), `signature of ${delivery.rawBody}`);
      assert.equal(typeof hook.getTime().getTime(), 'number');
      assert.equal(pusherApi('wrong-secret').webhook(delivery).isValid(), false, 'a wrong secret fails the check');
      seen.push(...hook.getEvents());
    }
  }

  const adaEcho = world.echo(ada);
  const presence = adaEcho.join(`chat.${chatId}`);
  await subscribed(presence);
  assert.deepEqual(await waitFor('channel_occupied'), { name: 'channel_occupied', channel });
  assert.deepEqual(await waitFor('member_added'), { name: 'member_added', channel, user_id: String(ada.id) });
  presence.whisper('typing', { typing: true });
  const whisper = await waitFor('client_event');
  assert.equal(whisper.event, 'client-typing');
  assert.deepEqual(JSON.parse(whisper.data), { typing: true });
  assert.equal(whisper.socket_id, adaEcho.socketId());
  assert.equal(whisper.user_id, String(ada.id));
  adaEcho.leave(`chat.${chatId}`);
  assert.deepEqual(await waitFor('member_removed'), { name: 'member_removed', channel, user_id: String(ada.id) });
  assert.deepEqual(await waitFor('channel_vacated'), { name: 'channel_vacated', channel });
});

test('token refresh with Echo: headersProvider hands every authorisation the current access token', async (t) => {
  const world = new World(server);
  t.after(() => world.close());
  const [ada, bob] = await Promise.all([world.signUp('Ada'), world.signUp('Bob')]);
  const chatId = await world.privateChat(ada, bob);
  // The configuration of docs/realtime.md, "Coming from Reverb".
  let accessToken = 'expired-or-revoked';
  const authorised = (path) => ({
    endpoint: `${server.base}${path}`,
    transport: 'ajax',
    headersProvider: () => ({ Authorization: `Bearer ${accessToken}` }),
  });
  const echo = world.echo(ada, {
    channelAuthorization: authorised('/api/broadcasting/auth'),
    userAuthentication: authorised('/api/broadcasting/user-auth'),
  });
  const refused = echo.private(`user.${ada.id}`);
  await within(new Promise((ok, fail) => {
    refused.error(ok);
    refused.subscribed(() => fail(new Error('subscribed with a bad token')));
  }), 'the subscription error with a bad token');

  // The app refreshes its tokens; the next authorisation carries the new one.
  const response = await fetch(`${server.base}/api/auth/refresh`, {
    method: 'POST', headers: { Authorization: `Bearer ${ada.refreshToken}`, Accept: 'application/json' },
  });
  assert.equal(response.status, 200);
  accessToken = (await response.json()).access_token;
  const sees = new Inbox('ada on the chat channel');
  const chat = echo.private(`chat.${chatId}`).listen('MessageSent', sees.push);
  await subscribed(chat);
  await world.sendText(bob, chatId, 'after the refresh');
  assert.equal((await sees.next('MessageSent')).message.content, 'after the refresh');
});

/** Whether python3 can import the `pusher` package (installing it like tests/s3/start installs moto). */
function pythonPusher() {
  const importable = () => spawnSync('python3', ['-c', 'import pusher'], { stdio: 'ignore' }).status === 0;
  if (importable()) return true;
  spawnSync('python3', ['-m', 'pip', 'install', '--quiet', 'pusher'], { stdio: 'ignore' });
  return importable();
}

test('the official pusher PyPI package publishes through natter too', async (t) => {
  if (!pythonPusher()) {
    if (process.env.CI === 'true') throw new Error('python3 cannot import pusher (pip install pusher failed) and CI may not skip');
    t.skip('python3 has no pusher package');
    return;
  }
  // The Python library takes only numeric app ids, as Pusher hands them out.
  const numeric = await startServer({ REVERB_APP_ID: '4242' });
  t.after(() => numeric.stop());
  const world = new World(numeric);
  t.after(() => world.close());
  const bob = await world.signUp('Bob');
  const echo = world.echo(bob);
  const heard = new Inbox('bob on a public channel');
  const channel = echo.channel('python-news').listen('.FromPython', heard.push);
  await subscribed(channel);
  const script = new URL('../python/pusher_client.py', import.meta.url).pathname;
  const run = spawnSync('python3', [script, numeric.host, String(numeric.port), '4242', APP_KEY, APP_SECRET, 'python-news'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  const seen = JSON.parse(run.stdout);
  assert.deepEqual(await heard.next('FromPython'), { language: 'python' });
  assert.deepEqual(await heard.next('FromPython (batch)'), { n: 2 });
  assert.deepEqual(seen.channel, { occupied: true, subscription_count: 1 });
  assert.deepEqual(seen.batch, { batch: [{}] });
  assert.equal(seen.wrong_secret, '401');
  await heard.none('nothing from the refused request');
});
