// Requirement 6: a client that was away catches up through GET /api/sync from
// the last seq it saw, getting every missed MessageSent exactly once, in order.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServer } from '../lib/server.js';
import { Inbox, World, connectionState, subscribed, within } from '../lib/client.js';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

/** Every event after `since`, following next_since while has_more. */
async function syncAll(world, user, since, limit) {
  const events = [];
  for (let page = 0; ; page++) {
    assert.ok(page < 50, 'sync should end');
    const body = await world.api(user, 'GET', `/api/sync?since=${since}&limit=${limit}`);
    assert.ok(Array.isArray(body.events), JSON.stringify(body));
    assert.equal(typeof body.has_more, 'boolean', JSON.stringify(body));
    assert.equal(typeof body.next_since, 'number', JSON.stringify(body));
    assert.ok(body.events.length <= limit, `at most ${limit} events a page`);
    events.push(...body.events);
    if (body.events.length) assert.equal(body.next_since, body.events[body.events.length - 1].seq);
    else assert.equal(body.next_since, since, 'an empty page keeps next_since at since');
    since = body.next_since;
    if (!body.has_more) return { events, nextSince: since };
  }
}

test('after echo.disconnect() and a reconnect, /api/sync returns each missed MessageSent once, in order', async (t) => {
  const world = new World(server);
  t.after(() => world.close());
  const [ada, bob] = await Promise.all([world.signUp('Ada'), world.signUp('Bob')]);
  const chatId = await world.privateChat(ada, bob);

  // Bob's app: listens on his user channel and remembers the last seq it saw.
  const bobEcho = world.echo(bob);
  const live = new Inbox('bob on his user channel');
  let lastSeq = null;
  const bobChannel = bobEcho.private(`user.${bob.id}`).listen('MessageSent', (e) => {
    lastSeq = e.seq;
    live.push(e);
  });
  await subscribed(bobChannel);

  const first = await world.sendText(ada, chatId, 'before the tunnel');
  const seen = await live.next('MessageSent before the disconnect');
  assert.equal(seen.message.id, first.id);
  assert.equal(typeof lastSeq, 'number');
  const since = lastSeq;

  // Bob goes away.
  bobEcho.disconnect();
  await connectionState(bobEcho, 'disconnected');

  const missed = [];
  for (const content of ['one', 'two', 'three', 'four', 'five']) {
    missed.push(await world.sendText(ada, chatId, content));
  }
  await live.none('nothing while disconnected');

  // Bob comes back: pusher-js reconnects and re-subscribes (new socket id,
  // new /broadcasting/auth), then the app syncs from the last seq it saw.
  const resubscribed = within(new Promise((ok) => bobChannel.subscribed(ok)), 'the re-subscription of private-user after reconnecting');
  bobEcho.connector.pusher.connect();
  await connectionState(bobEcho, 'connected');
  await resubscribed;

  const { events, nextSince } = await syncAll(world, bob, since, 2);
  for (const event of events) {
    assert.ok(event.seq > since, `since is exclusive: ${JSON.stringify(event)}`);
    assert.equal(typeof event.created_at, 'string');
    assert.equal(typeof event.data, 'object', 'data is an object, not a string');
  }
  const seqs = events.map((e) => e.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), 'in seq order');
  assert.equal(new Set(seqs).size, seqs.length, 'no seq twice');

  const sent = events.filter((e) => e.event === 'App\\Events\\MessageSent');
  assert.deepEqual(
    sent.map((e) => e.data.message.id),
    missed.map((m) => m.id),
    `every missed MessageSent exactly once, in order; got ${JSON.stringify(events.map((e) => [e.seq, e.event]))}`,
  );
  assert.deepEqual(sent.map((e) => e.data.message.content), ['one', 'two', 'three', 'four', 'five']);
  for (const e of sent) {
    assert.equal(e.data.seq, e.seq, 'the payload carries the same seq');
    assert.equal(e.data.message.sender_id, ada.id);
    assert.equal(e.data.message.chat_id, chatId);
  }

  // Live delivery resumes on the re-subscribed channel, after what sync gave.
  const later = await world.sendText(ada, chatId, 'back in coverage');
  const again = await live.next('MessageSent after reconnecting');
  assert.equal(again.message.id, later.id);
  assert.ok(again.seq > nextSince, `live seq ${again.seq} follows the synced ${nextSince}`);

  // Syncing on from there gives that one message and nothing already seen.
  const rest = await syncAll(world, bob, nextSince, 500);
  assert.deepEqual(
    rest.events.filter((e) => e.event === 'App\\Events\\MessageSent').map((e) => e.data.message.id),
    [later.id],
  );
});
