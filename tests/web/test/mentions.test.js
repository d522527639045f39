// Mentions and broadcast lists through the page: "@" in a group's composer
// offers the members and sends the mention (highlighted for the person
// mentioned); "New broadcast" makes a list and sends to it, and each
// recipient sees an ordinary private message.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  addContact, createGroup, eventually, expectMessages, launch, noErrors, openChat, person,
} from '../lib/browser.js';
import { Natter } from '../lib/server.js';

describe('mentions and broadcasts', () => {
  let server;
  let browser;
  let ada;
  let bob;
  let carol;

  before(async () => {
    server = await Natter.start();
    browser = await launch();
    [ada, bob, carol] = [await person(browser, server, 'Ada'), await person(browser, server, 'Bob'), await person(browser, server, 'Carol')];
    await addContact(ada, bob);
    await addContact(ada, carol);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('offers the members after "@" and highlights the mention', async () => {
    await createGroup(ada, 'Crew', ['Bob', 'Carol']);
    await ada.page.waitForSelector('.row.system:has-text("You created this group")');

    await ada.page.click('.composer textarea');
    await ada.page.keyboard.type('Lunch @Bo');
    await ada.page.waitForSelector('.mention-pick:not([hidden]) .mention-option:text-is("Bob")');
    assert.equal((await ada.page.$$('.mention-pick .mention-option')).length, 1, 'only the members matching "Bo"');
    await ada.page.keyboard.press('Enter');
    assert.equal(await ada.page.inputValue('.composer textarea'), 'Lunch @Bob ');
    assert.ok(await ada.page.isHidden('.mention-pick'), 'the list closes once a member is chosen');
    await ada.page.keyboard.type('at one?');
    await ada.page.keyboard.press('Enter');
    await expectMessages(ada, ['Lunch @Bob at one?']);
    await ada.page.waitForSelector('.rows .row.mine .text .mention:text-is("@Bob")');

    await openChat(bob, 'Crew');
    await expectMessages(bob, ['Lunch @Bob at one?']);
    await bob.page.waitForSelector('.rows .row.theirs .text .mention.me:text-is("@Bob")');
    await openChat(carol, 'Crew');
    await expectMessages(carol, ['Lunch @Bob at one?']);
    await carol.page.waitForSelector('.rows .row.theirs .text .mention:text-is("@Bob")');
    assert.equal(await carol.page.$('.rows .text .mention.me'), null, 'Carol is not the one mentioned');

    noErrors(ada, bob, carol);
  });

  it('makes a broadcast list and sends each recipient a private message', async () => {
    await ada.page.click('button[aria-label="Menu"]');
    await ada.page.click('.menu [role=menuitem]:text-is("New broadcast")');
    await ada.page.waitForSelector('dialog .broadcast-lists .empty');
    await ada.page.fill('#broadcast-name', 'Friends');
    await ada.page.check('dialog .pick .person:has-text("Bob") input');
    await ada.page.check('dialog .pick .person:has-text("Carol") input');
    await ada.page.click('dialog form:has(#broadcast-name) button[type=submit]');
    await ada.page.waitForSelector('dialog .broadcast-list:has-text("Friends"):has-text("2 recipients")');
    await ada.page.fill('#broadcast-text', 'Party on Friday');
    // A double click sends it once: the form waits for its answer.
    await ada.page.dblclick('dialog .broadcast-send button[type=submit]');
    await eventually(async () => !(await ada.page.$('dialog')), 'the dialog to close');

    for (const p of [bob, carol]) {
      await p.page.click('.chat-item:has(.chat-name:text-is("Ada"))');
      await expectMessages(p, ['Party on Friday']);
      const page = await p.page.textContent('.chat-main');
      assert.ok(!page.includes('Friends'), `${p.name} sees no list name`);
    }
    await ada.page.click('.chat-item:has(.chat-name:text-is("Bob"))');
    await expectMessages(ada, ['Party on Friday']);
    noErrors(ada, bob, carol);
  });
});
