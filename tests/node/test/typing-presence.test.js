// Requirements 3 and 4: whispers (typing) and presence channels with
// laravel-echo's listenForWhisper / join().here().joining().leaving().

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServer } from '../lib/server.js';
import { Inbox, World, subscribed } from '../lib/client.js';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

test('a typing whisper reaches the other participant and is not echoed to the sender', async (t) => {
  const world = new World(server);
  t.after(() => world.close());
  const [ada, bob] = await Promise.all([world.signUp('Ada'), world.signUp('Bob')]);
  const chatId = await world.privateChat(ada, bob);

  const adaTyping = new Inbox('ada: typing whispers');
  const bobTyping = new Inbox('bob: typing whispers');
  const adaChat = world.echo(ada).private(`chat.${chatId}`).listenForWhisper('typing', adaTyping.push);
  const bobChat = world.echo(bob).private(`chat.${chatId}`).listenForWhisper('typing', bobTyping.push);
  await Promise.all([subscribed(adaChat), subscribed(bobChat)]);

  adaChat.whisper('typing', { user_id: ada.id, name: ada.name, typing: true });

  const whisper = await bobTyping.next('client-typing from Ada');
  assert.deepEqual(whisper, { user_id: ada.id, name: ada.name, typing: true });
  await adaTyping.none('no echo of her own whisper to the sender');

  // And the other way round, with the stop-typing whisper of the contract.
  const adaStops = new Inbox('ada: stop-typing whispers');
  adaChat.listenForWhisper('stop-typing', adaStops.push);
  bobChat.whisper('stop-typing', { user_id: bob.id });
  assert.deepEqual(await adaStops.next('client-stop-typing from Bob'), { user_id: bob.id });
  await bobTyping.none('nothing more for Bob');
});

test('Echo.join(): here() lists who is there, joining() and leaving() name who came and went', async (t) => {
  const world = new World(server);
  t.after(() => world.close());
  const [ada, bob] = await Promise.all([world.signUp('Ada'), world.signUp('Bob')]);
  const chatId = await world.privateChat(ada, bob);

  const adaHere = new Inbox('ada: here()');
  const adaJoining = new Inbox('ada: joining()');
  const adaLeaving = new Inbox('ada: leaving()');
  const adaEcho = world.echo(ada);
  adaEcho.join(`chat.${chatId}`)
    .here(adaHere.push)
    .joining(adaJoining.push)
    .leaving(adaLeaving.push)
    .error((err) => adaHere.push({ error: err }));

  const alone = await adaHere.next('here() for Ada');
  assert.ok(Array.isArray(alone), `here() gives a list: ${JSON.stringify(alone)}`);
  assert.deepEqual(alone.map((u) => u.name), ['Ada']);

  const bobHere = new Inbox('bob: here()');
  const bobEcho = world.echo(bob);
  bobEcho.join(`chat.${chatId}`).here(bobHere.push).error((err) => bobHere.push({ error: err }));

  const both = await bobHere.next('here() for Bob');
  assert.deepEqual(both.map((u) => u.name).sort(), ['Ada', 'Bob']);

  const joined = await adaJoining.next('joining() for Bob');
  assert.equal(joined.name, 'Bob');
  await adaJoining.none('Bob joins once');

  bobEcho.leave(`chat.${chatId}`);
  const left = await adaLeaving.next('leaving() for Bob');
  assert.equal(left.name, 'Bob');

  // Presence members as pusher-js keeps them: keyed by user id.
  const members = adaEcho.connector.pusher.channel(`presence-chat.${chatId}`).members;
  assert.equal(members.count, 1);
  assert.equal(String(members.me.id), String(ada.id));
});

// Laravel apps authorise presence channels with a callback returning the
// member's info, conventionally `['id' => $user->id, 'name' => $user->name]`,
// and laravel-echo hands only that info to here()/joining()/leaving(). So a
// front end identifies members by `user.id`: natter's user_info carries it.
test('here(), joining() and leaving() give each member\'s id', async (t) => {
  const world = new World(server);
  t.after(() => world.close());
  const [ada, bob] = await Promise.all([world.signUp('Ada'), world.signUp('Bob')]);
  const chatId = await world.privateChat(ada, bob);

  const here = new Inbox('ada: here()');
  const joining = new Inbox('ada: joining()');
  const leaving = new Inbox('ada: leaving()');
  world.echo(ada).join(`chat.${chatId}`).here(here.push).joining(joining.push).leaving(leaving.push);
  const users = await here.next('here() for Ada');
  const bobEcho = world.echo(bob);
  const bobSubscribed = subscribed(bobEcho.join(`chat.${chatId}`));
  const joined = await joining.next('joining() for Bob');
  await bobSubscribed;
  bobEcho.leave(`chat.${chatId}`);
  const left = await leaving.next('leaving() for Bob');

  assert.deepEqual(users.map((u) => [u.id, u.name]), [[ada.id, 'Ada']]);
  assert.deepEqual([joined.id, joined.name], [bob.id, 'Bob']);
  assert.deepEqual([left.id, left.name], [bob.id, 'Bob']);
});
