// Starred and pinned messages through the page: a star from the message menu
// (on every device of the starrer, on nobody else's), the Starred messages
// panel, a pin shown as a banner to both people, unpinned from the banner.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  eventually, expectMessages, expectText, launch, noErrors, openChat, person, send, startChat,
} from '../lib/browser.js';
import { Natter } from '../lib/server.js';

/** `p`'s number signed in again in a browser context of its own: a second device. */
async function secondDevice(browser, server, p) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  await page.goto(server.base);
  await page.fill('#signin-country', '1');
  await page.fill('#signin-phone', p.phone.local);
  await page.click('button[type=submit]');
  await page.waitForSelector('#signin-code');
  await page.fill('#signin-code', await server.otpFor(p.phone.e164));
  await page.click('button[type=submit]');
  await page.waitForSelector('.chat-list-pane');
  return { name: `${p.name} (laptop)`, phone: p.phone, page, context, errors };
}

async function messageAction(p, text, action) {
  const row = `.rows .row:has-text("${text}")`;
  await p.page.hover(row);
  await p.page.click(`${row} .row-menu`);
  await p.page.click(`.menu [role=menuitem]:text-is("${action}")`);
}

const starOn = (p, text) => p.page.$(`.rows .row:has-text("${text}") .meta .star`);

describe('starred and pinned messages', () => {
  let server;
  let browser;
  let ada;
  let bob;
  let laptop;

  before(async () => {
    server = await Natter.start();
    browser = await launch();
    ada = await person(browser, server, 'Ada');
    bob = await person(browser, server, 'Bob');
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('stars a message on every device of the starrer and on nobody else\'s', async () => {
    await startChat(ada, bob);
    for (const text of ['Meet at 6', 'Bring the map', 'Gate B']) await send(ada, text);
    await expectMessages(ada, ['Meet at 6', 'Bring the map', 'Gate B']);
    await bob.page.click('.chat-item');
    await expectMessages(bob, ['Meet at 6', 'Bring the map', 'Gate B']);
    laptop = await secondDevice(browser, server, bob);
    await openChat(laptop, 'Ada');
    await expectMessages(laptop, ['Meet at 6', 'Bring the map', 'Gate B']);

    await messageAction(bob, 'Bring the map', 'Star');
    await eventually(() => starOn(bob, 'Bring the map'), 'the star at Bob');
    await eventually(() => starOn(laptop, 'Bring the map'), 'the star on Bob\'s laptop (MessageStarred)');
    assert.equal(await starOn(bob, 'Meet at 6'), null);
    await new Promise((ok) => setTimeout(ok, 500));
    assert.equal(await starOn(ada, 'Bring the map'), null, 'Ada does not see Bob\'s star');

    // Reloaded, the laptop reads the star from history.
    await laptop.page.reload();
    await openChat(laptop, 'Ada');
    await eventually(() => starOn(laptop, 'Bring the map'), 'the star after a reload');
  });

  it('lists starred messages and opens one', async () => {
    await bob.page.click('button[aria-label="Menu"]');
    await bob.page.click('.menu [role=menuitem]:text-is("Starred messages")');
    await bob.page.waitForSelector('dialog .starred-item');
    const items = await bob.page.$$eval('dialog .starred-text', (els) => els.map((e) => e.textContent));
    assert.deepEqual(items, ['Bring the map']);
    assert.match(await bob.page.textContent('dialog .starred-where'), /Ada · Ada/);
    await bob.page.click('dialog .starred-open');
    await eventually(async () => (await bob.page.$('dialog[open]')) === null, 'the panel closed');
    await bob.page.waitForSelector('.rows .row.flash:has-text("Bring the map")');

    // Unstarred from its menu: off the row and the laptop.
    await messageAction(bob, 'Bring the map', 'Unstar');
    await eventually(async () => (await starOn(bob, 'Bring the map')) === null, 'no star at Bob');
    await eventually(async () => (await starOn(laptop, 'Bring the map')) === null, 'no star on the laptop');
  });

  it('pins a message for both people and unpins it from the banner', async () => {
    await messageAction(ada, 'Meet at 6', 'Pin');
    for (const p of [ada, bob]) {
      await p.page.waitForSelector('.pinned-banner:not([hidden])');
      await expectText(p.page, '.pinned-banner .pinned-text', 'Meet at 6');
    }
    await bob.page.waitForSelector('.row.system:has-text("Ada pinned a message")');
    await ada.page.waitForSelector('.row.system:has-text("You pinned a message")');

    // A second pin: the banner shows the newest and steps through both.
    await messageAction(bob, 'Gate B', 'Pin');
    await expectText(ada.page, '.pinned-banner .pinned-label', '📌 Pinned message 1 of 2');
    await expectText(ada.page, '.pinned-banner .pinned-text', 'Gate B');
    await ada.page.click('.pinned-banner .pinned-open');
    await expectText(ada.page, '.pinned-banner .pinned-text', 'Meet at 6');
    await ada.page.waitForSelector('.rows .row.flash:has-text("Gate B")');

    // Bob unpins both from the banner; Ada's banner goes.
    // Read the text without waiting for it: the banner redraws (its text
    // element goes) when a pin goes, and a waiting read would outlast it.
    const bannerText = () => bob.page.evaluate(
      () => document.querySelector('.pinned-banner .pinned-text')?.textContent ?? null,
    );
    for (let i = 0; i < 2; i += 1) {
      const before = await bannerText();
      await bob.page.click('.pinned-banner button[aria-label="Unpin"]');
      await eventually(async () => (await bob.page.isHidden('.pinned-banner'))
        || (await bannerText()) !== before, 'one pin fewer at Bob');
    }
    await ada.page.waitForSelector('.pinned-banner', { state: 'hidden' });
    noErrors(ada, bob, laptop);
  });
});
