// A chat of 10,000 messages: the page reads it a page at a time
// (before_message_id) as the reader scrolls up, keeps a bounded number of
// rows in the DOM, and shows every message once and in order.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually, launch, noErrors, person } from '../lib/browser.js';
import { Natter } from '../lib/server.js';

const MESSAGES = Number(process.env.NATTER_WEB_HISTORY || 10_000);
const MAX_ROWS = 120;

async function seed(server, sender, chatId, count) {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next += 1;
      await server.api(sender.token, 'POST', `/api/chats/${chatId}/messages`, { message_type: 'text', content: `message ${next}` });
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

/** The ids of the message rows in the DOM, in order. */
function rowIds(page) {
  return page.$$eval('.rows .row', (rows) => rows.map((r) => Number(r.dataset.id)));
}

function assertConsecutive(ids, label) {
  for (let i = 1; i < ids.length; i += 1) {
    assert.equal(ids[i], ids[i - 1] + 1, `${label}: ${ids[i - 1]} is followed by ${ids[i]}`);
  }
}

describe(`a chat of ${MESSAGES} messages`, { timeout: 600_000 }, () => {
  let server;
  let browser;
  let ada;
  let bob;
  let chatId;
  const pages = [];
  const newestId = async () => (await server.api(ada.token, 'GET', `/api/chats/${chatId}/messages?limit=1`)).messages[0].id;

  before(async () => {
    server = await Natter.start();
    browser = await launch();
    ada = await person(browser, server, 'Ada');
    bob = await person(browser, server, 'Bob');
    const chat = await server.api(bob.token, 'POST', '/api/chats/private', { contact_id: ada.id });
    chatId = chat.id;
    await ada.page.close();
    const started = Date.now();
    await seed(server, bob, chatId, MESSAGES);
    process.stdout.write(`# seeded ${MESSAGES} messages in ${Date.now() - started} ms\n`);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('opens at the newest messages without loading the history', async () => {
    ada.page = await ada.context.newPage();
    ada.page.on('pageerror', (error) => ada.errors.push(`pageerror: ${error.message}`));
    ada.page.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname === `/api/chats/${chatId}/messages`) pages.push(url.searchParams.get('before_message_id'));
    });
    const started = Date.now();
    await ada.page.goto(`${server.base}/chats/${chatId}`);
    await ada.page.waitForSelector('.rows .row');
    process.stdout.write(`# chat on screen ${Date.now() - started} ms after opening the page\n`);
    const ids = await rowIds(ada.page);
    assert.ok(ids.length <= MAX_ROWS, `${ids.length} rows`);
    assertConsecutive(ids, 'first screen');
    assert.equal(ids.at(-1), await newestId(), 'the newest message is at the bottom');
    assert.equal(pages.length, 1, 'one page of history');
  });

  it('pages back with before_message_id as the reader scrolls up, keeping the DOM bounded', async () => {
    let oldest = (await rowIds(ada.page))[0];
    for (let step = 0; step < 30; step += 1) {
      // Scrolled to the top, and again each second while nothing came, as a
      // reader would: under CI's load the first screen can still be settling
      // (scrolled to the newest message) when the first scroll lands.
      let scrolled = 0;
      await eventually(async () => {
        if (Date.now() - scrolled > 1000) {
          await ada.page.$eval('.messages', (el) => { el.scrollTop = 0; });
          scrolled = Date.now();
        }
        return (await rowIds(ada.page))[0] < oldest;
      }, `older rows after scroll ${step}`);
      const ids = await rowIds(ada.page);
      assert.ok(ids.length <= MAX_ROWS, `${ids.length} rows in the DOM`);
      assertConsecutive(ids, `after scroll ${step}`);
      oldest = ids[0];
    }
    const paged = pages.filter(Boolean);
    assert.ok(paged.length >= 20, `${paged.length} older pages asked for`);
    assert.ok(pages.length * 50 < MESSAGES, 'not the whole history');
    const loaded = await ada.page.$$eval('.rows .row', (rows) => rows.length);
    assert.ok(loaded <= MAX_ROWS);
  });

  it('scrolls back down through what it holds, to the newest message, once each', async () => {
    const requests = pages.length;
    const target = await newestId();
    let newest = (await rowIds(ada.page)).at(-1);
    for (let step = 0; newest < target; step += 1) {
      assert.ok(step < 200, 'reached the end');
      await ada.page.$eval('.messages', (el) => { el.scrollTop = el.scrollHeight; });
      const ids = await eventually(async () => {
        const now = await rowIds(ada.page);
        return now.at(-1) > newest ? now : null;
      }, `newer rows after scroll ${step}`);
      assertConsecutive(ids, `down ${step}`);
      assert.ok(ids.length <= MAX_ROWS);
      newest = ids.at(-1);
    }
    assert.equal((await rowIds(ada.page)).at(-1), await newestId(), 'back at the newest message');
    assert.equal(pages.length, requests, 'scrolling down needed no request: the pages are kept in memory');
    noErrors(ada);
  });
});
