// Linked devices: a second browser signs in with a code shown by the first
// (no SMS) and sees the same chats; the first lists it and signs it out, and
// the second is back at the sign-in screen at once (its socket closed).

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually, expectText, launch, noErrors, person, startChat } from '../lib/browser.js';
import { Natter } from '../lib/server.js';

describe('linked devices', () => {
  let server;
  let browser;

  before(async () => {
    server = await Natter.start();
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('links a browser by code, lists it, and signs it out from the first', async () => {
    const ada = await person(browser, server, 'Ada');
    const bob = await person(browser, server, 'Bob');
    await startChat(ada, bob);

    await ada.page.click('button[aria-label="Menu"]');
    await ada.page.click('.menu [role=menuitem]:text-is("Linked devices")');
    await ada.page.waitForSelector('dialog .session:has-text("This device")');
    await ada.page.click('dialog button:text-is("Link a device")');
    const code = await (await ada.page.waitForSelector('dialog .link-code-text')).inputValue();
    assert.ok(code.length >= 22, code);

    // A new browser (its own storage) links with the code.
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const laptop = { name: 'Ada laptop', page: await context.newPage(), context, errors: [] };
    laptop.page.on('pageerror', (error) => laptop.errors.push(`pageerror: ${error.message}`));
    await laptop.page.goto(server.base);
    await laptop.page.click('button:text-is("Link with a code")');
    await laptop.page.fill('#link-code', code);
    await laptop.page.click('button[type=submit]');
    await laptop.page.waitForSelector('.chat-list-pane');
    await expectText(laptop.page, '.chat-item .chat-name', 'Bob');
    const signedInAs = await laptop.page.evaluate(() => JSON.parse(localStorage.getItem('natter.session')).user.id);
    assert.equal(signedInAs, ada.id, 'the laptop is Ada');

    // Ada's list shows it while the code is on screen; she signs it out.
    const other = 'dialog .session:has(button:text-is("Sign out"))';
    await ada.page.waitForSelector(other);
    const details = await ada.page.textContent(`${other} .person-detail`);
    assert.match(details, /Browser/);
    assert.match(details, /127\.0\.x\.x/);
    await ada.page.click(`${other} button`);
    await ada.page.click('dialog:has-text("Please confirm") button.primary');
    await laptop.page.waitForSelector('#signin-phone');
    assert.equal(await laptop.page.evaluate(() => localStorage.getItem('natter.session')), null);
    await eventually(async () => (await ada.page.$$('dialog .session')).length === 1, 'one login left in the list');
    assert.equal(await ada.page.$(other), null);

    // A used code does not work again.
    await laptop.page.click('button:text-is("Link with a code")');
    await laptop.page.fill('#link-code', code);
    await laptop.page.click('button[type=submit]');
    await expectText(laptop.page, '#signin-error', 'The code is invalid or has expired.');
    noErrors(ada, bob, laptop);
  });
});
