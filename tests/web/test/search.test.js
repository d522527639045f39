// Message search through the page: Ada types in the chat list's search box
// and the messages containing the words show under the chats (chat name, the
// words marked, time), best match first; more pages on demand; a result opens
// its chat; nothing found is said; an emptied box hides the results.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually, expectText, launch, noErrors, person } from '../lib/browser.js';
import { Natter } from '../lib/server.js';

describe('message search', () => {
  let server;
  let browser;
  let ada;
  let bob;
  let chatId;
  const sent = {};

  const say = async (text) => {
    const answer = await server.api(bob.token, 'POST', `/api/chats/${chatId}/messages`, { message_type: 'text', content: text });
    sent[text] = answer.message.id;
  };
  const results = () => ada.page.$$eval('.search-result', (els) => els.map((el) => Number(el.dataset.message)));

  before(async () => {
    server = await Natter.start();
    browser = await launch();
    ada = await person(browser, server, 'Ada');
    bob = await person(browser, server, 'Bob');
    chatId = (await server.api(bob.token, 'POST', '/api/chats/private', { contact_id: ada.id })).id;
    await say('Meet me at the lighthouse when the sun goes down tonight, bring a torch');
    await say('lighthouse lighthouse');
    await say('unrelated words');
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('lists the messages with the words, best first, and a result opens its chat', async () => {
    await ada.page.fill('.search', 'LIGHT');
    await eventually(async () => (await results()).length === 2, 'two results');
    assert.deepEqual(await results(), [sent['lighthouse lighthouse'], sent['Meet me at the lighthouse when the sun goes down tonight, bring a torch']]);
    const second = '.search-result:nth-child(2)';
    assert.equal(await ada.page.textContent(`${second} .chat-name`), 'Bob');
    assert.equal(await ada.page.textContent(`${second} mark`), 'lighthouse');
    assert.ok((await ada.page.textContent(`${second} .chat-time`)).length > 0, 'a time');
    assert.ok(!(await ada.page.isHidden('.search-heading')));

    await ada.page.click(second);
    await expectText(ada.page, '.chat-title', 'Bob');
    assert.equal(new URL(ada.page.url()).pathname, `/chats/${chatId}`);
  });

  it('says when nothing is found, and an emptied box hides the results', async () => {
    await ada.page.fill('.search', 'zebra');
    await expectText(ada.page, '.search-note', 'No messages found for “zebra”');
    assert.deepEqual(await results(), []);
    await ada.page.fill('.search', '');
    await eventually(() => ada.page.isHidden('.search-results'), 'the results hidden');
  });

  it('shows more results on demand', async () => {
    for (let i = 0; i < 25; i += 1) await say(`paging ${i}`);
    await ada.page.fill('.search', 'paging');
    await eventually(async () => (await results()).length === 20, 'a first page of 20');
    await ada.page.click('.search-more');
    await eventually(async () => (await results()).length === 25, 'all 25');
    const found = await results();
    assert.equal(new Set(found).size, 25, 'each once');
    assert.ok(await ada.page.isHidden('.search-more'), 'no more to show');
    noErrors(ada, bob);
  });
});
