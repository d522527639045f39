// Never loses a message: the server is killed with SIGKILL mid-conversation
// and started again; messages written while it was down are sent once when
// it is back, both sides show everything once and in the same order. Then the
// network drops and comes back, and a closed page reopens and catches up.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  anotherTab, eventually, expectMessages, launch, noErrors, person, send, startChat, texts, WAIT_MS,
} from '../lib/browser.js';
import { Natter } from '../lib/server.js';

/** The chat's history as the server has it, oldest first. */
async function history(server, user, chatId) {
  const page = await server.api(user.token, 'GET', `/api/chats/${chatId}/messages?limit=100`);
  return page.messages.filter((m) => m.message_type === 'text').map((m) => m.content);
}

const RECONNECT_MS = WAIT_MS + 10_000;

describe('a server restart and a network drop', () => {
  let server;
  let browser;
  let ada;
  let bob;
  let chatId;

  before(async () => {
    server = await Natter.start();
    browser = await launch();
    ada = await person(browser, server, 'Ada');
    bob = await person(browser, server, 'Bob');
    chatId = await startChat(ada, bob);
    await send(ada, 'one');
    await bob.page.click('.chat-item');
    await send(bob, 'two');
    await expectMessages(ada, ['one', 'two']);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('sends what was written while the server was down, once, on both sides', async () => {
    await server.kill9();
    await ada.page.waitForSelector('.connection:not([hidden])');
    await send(ada, 'three (server down)');
    await send(ada, 'four (server down)');
    await send(bob, 'five (server down)');
    // A pending bubble shows a clock until the server acknowledges it.
    await eventually(async () => (await ada.page.$$('.pending-rows .row[data-status=pending]')).length === 2, 'two clocks at Ada');
    await server.restart();
    const expected = ['one', 'two', 'three (server down)', 'four (server down)', 'five (server down)'];
    await eventually(async () => (await history(server, ada, chatId)).length === 5, 'five messages on the server', RECONNECT_MS);
    const stored = await history(server, ada, chatId);
    assert.deepEqual([...stored].sort(), [...expected].sort(), 'the server stored each message once');
    await expectMessages(ada, stored, RECONNECT_MS);
    await expectMessages(bob, stored, RECONNECT_MS);
    assert.equal((await ada.page.$$('.pending-rows .row')).length, 0, 'no clock left');
    await ada.page.waitForSelector('.connection[hidden]', { state: 'attached' });
  });

  it('a message in flight when the server dies arrives exactly once', async () => {
    const before = await history(server, ada, chatId);
    await send(ada, 'six (in flight)');
    await server.kill9();
    await server.restart();
    const expected = [...before, 'six (in flight)'];
    await eventually(async () => JSON.stringify(await history(server, ada, chatId)) === JSON.stringify(expected), 'six stored once', RECONNECT_MS);
    await expectMessages(ada, expected, RECONNECT_MS);
    await expectMessages(bob, expected, RECONNECT_MS);
    // And stays once: give retries time to (wrongly) repeat it.
    await new Promise((ok) => setTimeout(ok, 1500));
    assert.deepEqual(await history(server, ada, chatId), expected);
  });

  it('survives the network dropping and coming back', async () => {
    const before = await history(server, ada, chatId);
    await ada.context.setOffline(true);
    await send(ada, 'seven (offline)');
    await eventually(async () => (await ada.page.$$('.pending-rows .row[data-status=pending]')).length === 1, 'a clock while offline');
    await ada.context.setOffline(false);
    const expected = [...before, 'seven (offline)'];
    await expectMessages(bob, expected, RECONNECT_MS);
    await expectMessages(ada, expected, RECONNECT_MS);
  });

  it('a page opened again resumes from its last position and shows what it missed once', async () => {
    const before = await history(server, ada, chatId);
    await bob.page.close();
    // The position as the page left it, read after it closed: read before,
    // an event arriving in between (Bob's own read receipts) moved it on.
    const peek = await bob.context.newPage();
    await peek.goto(`${server.base}/health`);
    const seqBefore = await peek.evaluate((id) => Number(localStorage.getItem(`natter.u${id}.seq`)), bob.id);
    await peek.close();
    assert.ok(seqBefore > 0, 'the last position is kept in localStorage');
    await send(ada, 'eight (Bob away)');
    await send(ada, 'nine (Bob away)');
    bob.page = await bob.context.newPage();
    bob.page.on('pageerror', (error) => bob.errors.push(`pageerror: ${error.message}`));
    const syncs = [];
    bob.page.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname === '/api/sync') syncs.push(Number(url.searchParams.get('since')));
    });
    await bob.page.goto(`${server.base}/chats/${chatId}`);
    const expected = [...before, 'eight (Bob away)', 'nine (Bob away)'];
    await expectMessages(bob, expected);
    await eventually(async () => syncs.length > 0, 'a sync after the reload');
    assert.equal(syncs[0], seqBefore, 'the first sync after the reload starts where the page left off');
    await eventually(async () => (await bob.page.evaluate((id) => Number(localStorage.getItem(`natter.u${id}.seq`)), bob.id)) > seqBefore, 'sync moving the position on');
    assert.deepEqual(await texts(bob.page), expected);
    noErrors(ada, bob);
  });

  it('two tabs writing offline lose nothing when one is closed before the network returns', async () => {
    // Each tab queues a message while offline; the first tab is closed before
    // the network is back. Its message must still go out, from the other tab.
    const before = await history(server, ada, chatId);
    const second = await anotherTab(ada, { url: `${server.base}/chats/${chatId}`, ready: '.composer textarea' });
    await ada.context.setOffline(true);
    await send(ada, 'ten (first tab, offline)');
    await second.fill('.composer textarea', 'eleven (second tab, offline)');
    await second.keyboard.press('Enter');
    await eventually(async () => (await second.$$('.pending-rows .row[data-status=pending]')).length === 2, 'both queued messages shown in the second tab');
    await ada.page.close();
    await ada.context.setOffline(false);
    const expected = [...before, 'ten (first tab, offline)', 'eleven (second tab, offline)'];
    await eventually(async () => (await history(server, ada, chatId)).length === expected.length, 'both stored', RECONNECT_MS);
    assert.deepEqual([...await history(server, ada, chatId)].sort(), [...expected].sort(), 'each stored once');
    await expectMessages(bob, await history(server, ada, chatId), RECONNECT_MS);
    await eventually(async () => (await second.$$('.pending-rows .row')).length === 0, 'no clock left in the second tab');
    ada.page = second;
    noErrors(ada, bob);
  });

  it('a queued message refused when it finally goes out says so in every tab', async () => {
    const other = await anotherTab(ada, { url: `${server.base}/chats/${chatId}`, ready: '.composer textarea' });
    await ada.context.setOffline(true);
    await send(ada, 'twelve (refused later)');
    await eventually(async () => (await other.$$('.pending-rows .row[data-status=pending]')).length === 1, 'the queued message shown in the other tab');
    // Bob blocks Ada while her message waits.
    await bob.page.click('button[aria-label="Chat menu"]');
    await bob.page.click('.menu [role=menuitem]:text-is("Block or unblock")');
    await bob.page.click('dialog button.primary');
    await bob.page.waitForSelector('.toast:text-is("Blocked.")');
    await ada.context.setOffline(false);
    for (const page of [ada.page, other]) {
      await page.waitForSelector('.toast:has-text("Not sent")', { timeout: RECONNECT_MS });
      await eventually(async () => (await page.$$('.pending-rows .row')).length === 0, 'no clock left');
    }
    await other.close();
    noErrors(ada, bob);
  });
});
