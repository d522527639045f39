// Requirements 1 and 2: message events reach laravel-echo listeners on the
// chat channel and on the user channels.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startServer } from '../lib/server.js';
import { Inbox, World, subscribed } from '../lib/client.js';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

describe('MessageSent', () => {
  for (const broadcaster of ['reverb', 'pusher']) {
    test(`reaches Echo.private('chat.{id}') and Echo.private('user.{id}') (broadcaster: ${broadcaster})`, async (t) => {
      const world = new World(server);
      t.after(() => world.close());
      const [ada, bob] = await Promise.all([world.signUp('Ada'), world.signUp('Bob')]);
      const chatId = await world.privateChat(ada, bob);

      const echo = world.echo(bob, { broadcaster });
      const onChat = new Inbox('bob on chat channel');
      const onUser = new Inbox('bob on user channel');
      const chatChannel = echo.private(`chat.${chatId}`).listen('MessageSent', onChat.push);
      const userChannel = echo.private(`user.${bob.id}`).listen('MessageSent', onUser.push);
      await Promise.all([subscribed(chatChannel), subscribed(userChannel)]);

      const sent = await world.sendText(ada, chatId, 'Hello Bob');

      for (const inbox of [onChat, onUser]) {
        const e = await inbox.next('App\\Events\\MessageSent');
        assert.equal(typeof e.seq, 'number', `seq should be a number: ${JSON.stringify(e)}`);
        assert.ok(Number.isInteger(e.seq) && e.seq > 0);
        assert.equal(e.message.id, sent.id);
        assert.equal(e.message.chat_id, chatId);
        assert.equal(e.message.content, 'Hello Bob');
        assert.equal(e.message.sender_id, ada.id);
        assert.equal(e.message.message_type, 'text');
      }
      await onChat.none('only one MessageSent on the chat channel');
      await onUser.none('only one MessageSent on the user channel');
    });
  }
});

describe('receipts, edits, deletes and reactions', () => {
  test('MessageRead reaches the sender\'s user channel after the recipient reads', async (t) => {
    const world = new World(server);
    t.after(() => world.close());
    const [ada, bob] = await Promise.all([world.signUp('Ada'), world.signUp('Bob')]);
    const chatId = await world.privateChat(ada, bob);

    const adaEcho = world.echo(ada);
    const reads = new Inbox('ada on user channel');
    const userChannel = adaEcho.private(`user.${ada.id}`).listen('MessageRead', reads.push);
    await subscribed(userChannel);

    const sent = await world.sendText(ada, chatId, 'Did you read this?');
    const answer = await world.api(bob, 'PUT', `/api/chats/${chatId}/read`, { message_id: sent.id });
    assert.equal(answer.success, true);

    const e = await reads.next('App\\Events\\MessageRead');
    assert.equal(e.chat_id, chatId);
    assert.equal(e.user_id, bob.id, 'the reader');
    assert.equal(e.message_id, sent.id);
    assert.equal(typeof e.read_at, 'string');
    assert.equal(typeof e.seq, 'number');
  });

  test('MessageEdited, ReactionUpdated and MessageDeleted reach the chat channel', async (t) => {
    const world = new World(server);
    t.after(() => world.close());
    const [ada, bob] = await Promise.all([world.signUp('Ada'), world.signUp('Bob')]);
    const chatId = await world.privateChat(ada, bob);

    const bobEcho = world.echo(bob);
    const edited = new Inbox('bob: MessageEdited');
    const reacted = new Inbox('bob: ReactionUpdated');
    const deleted = new Inbox('bob: MessageDeleted');
    const chat = bobEcho.private(`chat.${chatId}`)
      .listen('MessageEdited', edited.push)
      .listen('ReactionUpdated', reacted.push)
      .listen('MessageDeleted', deleted.push);
    await subscribed(chat);

    const sent = await world.sendText(ada, chatId, 'Helo');

    await world.api(ada, 'PUT', `/api/messages/${sent.id}`, { content: 'Hello' });
    const edit = await edited.next('App\\Events\\MessageEdited');
    assert.equal(edit.message.id, sent.id);
    assert.equal(edit.message.content, 'Hello');
    assert.equal(typeof edit.message.edited_at, 'string');
    assert.equal(typeof edit.seq, 'number');

    await world.api(bob, 'POST', `/api/messages/${sent.id}/reactions`, { emoji: '👍' });
    const reaction = await reacted.next('App\\Events\\ReactionUpdated');
    assert.equal(reaction.message_id, sent.id);
    assert.equal(reaction.chat_id, chatId);
    assert.deepEqual(reaction.reactions, [{ emoji: '👍', count: 1, user_ids: [bob.id] }]);
    assert.ok(reaction.seq > edit.seq, 'seq increases');

    const gone = await world.api(ada, 'DELETE', `/api/messages/${sent.id}`);
    assert.equal(gone.success, true);
    const deletion = await deleted.next('App\\Events\\MessageDeleted');
    assert.equal(deletion.message.id, sent.id);
    assert.equal(deletion.message.deleted, true);
    assert.equal(deletion.message.content, null);
    assert.ok(deletion.seq > reaction.seq, 'seq increases');
  });
});
