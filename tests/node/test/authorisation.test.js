// Requirement 5: someone who is not in a chat cannot subscribe to its
// channels and never hears its messages.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServer } from '../lib/server.js';
import { Inbox, World, subscribed, within } from '../lib/client.js';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

/** Resolves with the subscription error of an Echo channel, fails if it subscribes. */
function subscriptionError(channel) {
  return within(new Promise((ok, fail) => {
    channel.error(ok);
    channel.subscribed(() => fail(new Error(`${channel.name}: subscribed, but it should have been refused`)));
  }), `a subscription error on ${channel.name}`);
}

test('an outsider gets a subscription error for the chat\'s channels and never its messages', async (t) => {
  const world = new World(server);
  t.after(() => world.close());
  const [ada, bob, eve] = await Promise.all([world.signUp('Ada'), world.signUp('Bob'), world.signUp('Eve')]);
  const chatId = await world.privateChat(ada, bob);

  const bobSees = new Inbox('bob on the chat channel');
  const bobChat = world.echo(bob).private(`chat.${chatId}`).listen('MessageSent', bobSees.push);

  const eveEcho = world.echo(eve);
  const eveSees = new Inbox('eve');
  const eveChat = eveEcho.private(`chat.${chatId}`).listen('MessageSent', eveSees.push);
  const evePresence = eveEcho.join(`chat.${chatId}`).listen('MessageSent', eveSees.push);
  const eveOnAda = eveEcho.private(`user.${ada.id}`).listen('MessageSent', eveSees.push);
  const eveOnBob = eveEcho.private(`user.${bob.id}`).listen('MessageSent', eveSees.push);

  const [chatError, presenceError, adaError, bobError] = await Promise.all(
    [eveChat, evePresence, eveOnAda, eveOnBob].map(subscriptionError),
  );
  for (const [name, err] of [
    [`private-chat.${chatId}`, chatError],
    [`presence-chat.${chatId}`, presenceError],
    [`private-user.${ada.id}`, adaError],
    [`private-user.${bob.id}`, bobError],
  ]) {
    assert.equal(err.type, 'AuthError', `${name}: ${JSON.stringify(err)}`);
    assert.equal(err.status, 403, `${name}: /broadcasting/auth should refuse with 403: ${JSON.stringify(err)}`);
  }
  await subscribed(bobChat);

  await world.sendText(ada, chatId, 'for Bob only');
  assert.equal((await bobSees.next('MessageSent for Bob')).message.content, 'for Bob only');
  await eveSees.none('nothing for Eve');

  // The HTTP API agrees: the chat does not exist for Eve.
  await world.api(eve, 'GET', `/api/chats/${chatId}`, undefined, { expect: 404 });
});

test('a forged channel signature is refused on the socket (pusher:error 4009)', async (t) => {
  const world = new World(server);
  t.after(() => world.close());
  const [ada, bob, eve] = await Promise.all([world.signUp('Ada'), world.signUp('Bob'), world.signUp('Eve')]);
  const chatId = await world.privateChat(ada, bob);

  // Eve's client skips /broadcasting/auth and signs the subscription itself.
  const eveEcho = world.echo(eve);
  const pusher = eveEcho.connector.pusher;
  pusher.config.channelAuthorizer = (_params, callback) => callback(null, { auth: `natter-key:${'0'.repeat(64)}` });
  const errors = new Inbox('eve: connection errors');
  pusher.connection.bind('error', errors.push);
  const eveSees = new Inbox('eve');
  const eveChat = eveEcho.private(`chat.${chatId}`).listen('MessageSent', eveSees.push);
  const channelErrors = new Inbox('eve: Echo .error() on the chat channel');
  eveChat.error(channelErrors.push);
  const subscribedToo = new Inbox('eve: subscription_succeeded');
  eveChat.subscribed(() => subscribedToo.push(true));

  const err = await errors.next('pusher:error for the forged signature');
  assert.equal(err.type, 'PusherError', JSON.stringify(err));
  assert.equal(err.data.code, 4009, JSON.stringify(err));
  // natter also sends pusher:subscription_error on the channel, so Echo's .error() fires.
  const channelErr = await channelErrors.next('Echo .error() for the forged signature');
  assert.equal(channelErr.status, 403, JSON.stringify(channelErr));

  await world.sendText(ada, chatId, 'still for Bob only');
  await eveSees.none('nothing for Eve');
  await subscribedToo.none('no subscription_succeeded for the forged signature', 0);
});
