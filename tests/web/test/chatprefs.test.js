// Pinned and archived chats: the chat menu pins and archives, pinned chats
// sit on top with a pin mark, archived ones wait behind "Archived (n)", a
// second tab of the same person follows live, and a new message brings an
// archived chat back.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  eventually, launch, noErrors, openChat, person, send, startChat,
} from '../lib/browser.js';
import { Natter } from '../lib/server.js';

/** The chat names in a page's list, top to bottom. */
function names(page) {
  return page.$$eval('.chat-item .chat-name', (els) => els.map((el) => el.textContent));
}

const item = (name) => `.chat-item:has(.chat-name:text-is("${name}"))`;

async function chatAction(p, name, action) {
  await p.page.hover(item(name));
  await p.page.click(`${item(name)} .chat-item-menu`);
  await p.page.click(`.menu [role=menuitem]:text-is("${action}")`);
}

async function expectNames(page, expected, label) {
  await eventually(async () => JSON.stringify(await names(page)) === JSON.stringify(expected), `${label}: ${expected.join(', ')}`);
}

describe('pinned and archived chats', () => {
  let server;
  let browser;
  let ada;
  let bob;
  let cy;
  let adaTab;

  before(async () => {
    server = await Natter.start();
    browser = await launch();
    ada = await person(browser, server, 'Ada');
    bob = await person(browser, server, 'Bob');
    cy = await person(browser, server, 'Cy');
    await startChat(ada, bob);
    await send(ada, 'Hi Bob');
    await startChat(ada, cy);
    await send(ada, 'Hi Cy');
    // A second tab of Ada's: the same account on another socket, like a second device.
    adaTab = await ada.context.newPage();
    await adaTab.goto(server.base);
    await adaTab.waitForSelector('.chat-item');
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('pins a chat to the top with a pin mark, on every tab', async () => {
    await expectNames(ada.page, ['Cy', 'Bob'], 'newest first');
    await chatAction(ada, 'Bob', 'Pin chat');
    await expectNames(ada.page, ['Bob', 'Cy'], 'the pinned chat on top');
    assert.ok(await ada.page.$(`${item('Bob')} .icon-pin`), 'a pin mark');
    assert.equal(await ada.page.$(`${item('Cy')} .icon-pin`), null);
    await expectNames(adaTab, ['Bob', 'Cy'], 'the other tab follows');
    await eventually(async () => Boolean(await adaTab.$(`${item('Bob')} .icon-pin`)), 'the pin mark on the other tab');
    await expectNames(bob.page, ['Ada'], 'Bob is unaffected');
    assert.equal(await bob.page.$('.chat-item .icon-pin'), null, 'the pin is Ada\'s alone');
  });

  it('archives a chat behind "Archived (n)", on every tab', async () => {
    await chatAction(ada, 'Cy', 'Archive chat');
    await expectNames(ada.page, ['Bob'], 'the archived chat leaves the list');
    await eventually(async () => (await ada.page.textContent('.archive-toggle'))?.trim() === 'Archived (1)', 'the Archived row');
    await expectNames(adaTab, ['Bob'], 'the other tab follows');
    await ada.page.click('.archive-toggle');
    await expectNames(ada.page, ['Cy'], 'the archived list');
    await ada.page.click('.archive-toggle');
    await expectNames(ada.page, ['Bob'], 'back to the chats');
  });

  it('brings an archived chat back when a message arrives', async () => {
    await openChat(cy, 'Ada');
    await send(cy, 'Back again');
    await expectNames(ada.page, ['Bob', 'Cy'], 'unarchived, below the pinned chat');
    await eventually(async () => !(await ada.page.$('.archive-toggle')), 'no Archived row');
    await expectNames(adaTab, ['Bob', 'Cy'], 'the other tab too');
    await chatAction(ada, 'Bob', 'Unpin chat');
    await expectNames(ada.page, ['Cy', 'Bob'], 'unpinned: newest first again');
    noErrors(ada, bob, cy);
  });
});
