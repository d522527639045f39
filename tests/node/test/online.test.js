// Requirement 7: App\Events\UserOnline reaches the contacts of a user whose
// first socket connects, and again when their last socket goes.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startServer } from '../lib/server.js';
import { Inbox, World, connectionState, subscribed } from '../lib/client.js';

let server;
before(async () => { server = await startServer(); });
after(async () => { await server?.stop(); });

test('a contact sees UserOnline true when the first socket connects and false when the last one goes', async (t) => {
  const world = new World(server);
  t.after(() => world.close());
  const [ada, bob] = await Promise.all([world.signUp('Ada'), world.signUp('Bob')]);
  await world.api(ada, 'POST', '/api/contacts', { contact_user_id: bob.id }, { expect: 201 });

  const adaEcho = world.echo(ada);
  const online = new Inbox('ada: UserOnline');
  await subscribed(adaEcho.private(`user.${ada.id}`).listen('UserOnline', online.push));
  await online.none('nothing before Bob connects');

  // Bob opens the app: his socket subscribes to his user channel.
  const bobPhone = world.echo(bob);
  await subscribed(bobPhone.private(`user.${bob.id}`));
  const up = await online.next('UserOnline for Bob coming online');
  assert.equal(up.user_id, bob.id);
  assert.equal(up.is_online, true);

  // A second device of Bob's: he is already online, so no new event.
  const bobLaptop = world.echo(bob);
  await subscribed(bobLaptop.private(`user.${bob.id}`));
  await online.none('no UserOnline for a second socket');

  // One device goes: Bob is still online.
  bobLaptop.disconnect();
  await connectionState(bobLaptop, 'disconnected');
  await online.none('no UserOnline while another socket is connected');

  // The last one goes: Bob is offline.
  bobPhone.disconnect();
  const down = await online.next('UserOnline for Bob going offline');
  assert.equal(down.user_id, bob.id);
  assert.equal(down.is_online, false);
  assert.equal(typeof down.last_seen_at, 'string', `last_seen_at is set: ${JSON.stringify(down)}`);
});

test('someone who does not have the user as a contact hears nothing', async (t) => {
  const world = new World(server);
  t.after(() => world.close());
  const [ada, bob] = await Promise.all([world.signUp('Ada'), world.signUp('Bob')]);
  // Bob has Ada as a contact, not the other way round: Ada is not told about Bob.
  await world.api(bob, 'POST', '/api/contacts', { contact_user_id: ada.id }, { expect: 201 });

  const online = new Inbox('ada: UserOnline');
  await subscribed(world.echo(ada).private(`user.${ada.id}`).listen('UserOnline', online.push));
  const bobEcho = world.echo(bob);
  await subscribed(bobEcho.private(`user.${bob.id}`));
  bobEcho.disconnect();
  await online.none('no UserOnline about Bob for Ada');
});
