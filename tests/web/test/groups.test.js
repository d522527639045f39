// Groups through the page: contacts, a group created, a member removed (and
// their page shows it at once), an admin made, an invite link used, leaving.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  addContact, createGroup, eventually, expectMessages, expectText, launch, noErrors, person, screenshot, send,
} from '../lib/browser.js';
import { Natter } from '../lib/server.js';

async function memberAction(p, name, action) {
  await p.page.click(`.members .person:has(.person-name:text-is("${name}")) button[aria-haspopup=menu]`);
  await p.page.click(`.menu [role=menuitem]:text-is("${action}")`);
}

describe('groups', () => {
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

  it('creates a group with two contacts, who see it and its messages', async () => {
    await createGroup(ada, 'Project', ['Bob', 'Carol']);
    await eventually(async () => (await ada.page.textContent('.chat-title')) === 'Project', 'the group open at Ada');
    await ada.page.waitForSelector('.row.system:has-text("You created this group")');
    await send(ada, 'Welcome both');
    for (const p of [bob, carol]) {
      await p.page.click('.chat-item:has(.chat-name:text-is("Project"))');
      await expectMessages(p, ['Welcome both']);
      await p.page.waitForSelector('.rows .row.theirs .sender:text-is("Ada")');
    }
  });

  it('removes a member, whose page shows it at once', async () => {
    await ada.page.click('.chat-heading');
    await ada.page.waitForSelector('.info-panel .members');
    await memberAction(ada, 'Carol', 'Remove Carol');
    await ada.page.click('dialog button.primary');
    await ada.page.waitForSelector('.row.system:has-text("You removed Carol")');
    await carol.page.waitForSelector('.closed-note:not([hidden])');
    assert.ok(await carol.page.isHidden('.composer-form'), "the removed member's composer is gone");
    await eventually(async () => (await ada.page.$$('.info-panel .members .person')).length === 2, 'two members left');
    await send(ada, 'Only us now');
    await expectMessages(bob, ['Welcome both', 'Only us now']);
    await new Promise((ok) => setTimeout(ok, 500));
    assert.ok(!(await carol.page.textContent('.rows')).includes('Only us now'), 'Carol sees nothing after her removal');
  });

  it('makes an admin; a removed member comes back when an admin adds her, and by link once she left herself', async () => {
    await memberAction(ada, 'Bob', 'Make group admin');
    await ada.page.waitForSelector('.members .person:has-text("Bob") .role');
    await ada.page.click('.info-panel button:text-is("Create invite link")');
    const url = await ada.page.inputValue('.invite-url');
    assert.match(url, /\/api\/groups\/join\/\S+$/);
    await screenshot(ada.page, 'group');
    const joinByLink = async () => {
      await carol.page.click('button[aria-label="Menu"]');
      await carol.page.click('.menu [role=menuitem]:text-is("Join a group by link")');
      await carol.page.fill('#join-link', url);
      await carol.page.click('dialog button[type=submit]');
    };
    // Removed by an admin: the link does not take her back (as on WhatsApp).
    await joinByLink();
    await expectText(carol.page, 'dialog .form-error', 'You were removed from this group; an admin can add you back.');
    await carol.page.click('dialog button[aria-label="Close"]');
    // An admin adds her back.
    await ada.page.click('.info-panel button:text-is("Add members")');
    await ada.page.check('dialog .pick .person:has-text("Carol") input');
    await ada.page.click('dialog button[type=submit]');
    await ada.page.waitForSelector('.row.system:has-text("You added Carol")');
    await carol.page.waitForSelector('.composer-form:not([hidden])');
    // Having left by herself, the link takes her back.
    await carol.page.click('.chat-heading');
    await carol.page.click('.info-panel button:text-is("Leave group")');
    await carol.page.click('dialog button.primary');
    await carol.page.waitForSelector('.closed-note:not([hidden])');
    await joinByLink();
    await carol.page.waitForSelector('.composer-form:not([hidden])');
    await ada.page.waitForSelector('.row.system:has-text("Carol joined using an invite link")');
  });

  it('a member leaves', async () => {
    await bob.page.click('.chat-heading');
    await bob.page.click('.info-panel button:text-is("Leave group")');
    await bob.page.click('dialog button.primary');
    await bob.page.waitForSelector('.closed-note:not([hidden])');
    await ada.page.waitForSelector('.row.system:has-text("Bob left")');
    noErrors(ada, bob, carol);
  });
});
