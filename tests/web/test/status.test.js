// Statuses through the page: Ada posts a text status with a colour; Bob, a
// mutual contact, sees it and opens it; Ada sees one view; Carol, whom Ada
// has not added, sees nothing.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addContact, eventually, launch, noErrors, person } from '../lib/browser.js';
import { Natter } from '../lib/server.js';

async function openStatus(p) {
  await p.page.click('button[aria-label="Status"]');
  await p.page.waitForSelector('dialog .status-pane');
}

async function closeDialog(p) {
  await p.page.click('dialog button[aria-label="Close"]');
}

describe('status', () => {
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
    await addContact(bob, ada);
    await addContact(carol, ada);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('posts a text status that a mutual contact sees and views', async () => {
    await eventually(async () => !(await ada.page.isHidden('button[aria-label="Status"]')), 'the Status button');
    await openStatus(ada);
    await ada.page.fill('dialog textarea[aria-label="Status text"]', 'Off to the beach');
    await ada.page.selectOption('dialog select[aria-label="Background colour"]', '#34B7F1');
    await ada.page.click('dialog button:text-is("Post status")');
    await ada.page.waitForSelector('dialog .status-group .person-name:text-is("My status")');
    await ada.page.waitForSelector('dialog .status-item:has-text("Off to the beach") .status-views:text-is("0 views")');
    const colour = await ada.page.$eval('dialog .status-item .status-text', (el) => getComputedStyle(el).backgroundColor);
    assert.equal(colour, 'rgb(52, 183, 241)');
    await closeDialog(ada);

    await openStatus(bob);
    const item = 'dialog .status-group:has(.person-name:text-is("Ada")) .status-item:has-text("Off to the beach")';
    await bob.page.waitForSelector(`${item}:not(.viewed)`);
    await bob.page.click(item);
    await bob.page.waitForSelector('dialog .status-viewer:not([hidden]) .status-full:text-is("Off to the beach")');
    await bob.page.waitForSelector(`${item}.viewed`);
    await closeDialog(bob);

    await openStatus(ada);
    await ada.page.waitForSelector('dialog .status-item .status-views:text-is("1 view")');
    await closeDialog(ada);
  });

  it('shows nothing to someone who is not a mutual contact', async () => {
    await openStatus(carol);
    await carol.page.waitForSelector('dialog .status-empty');
    assert.equal((await carol.page.$$('dialog .status-item')).length, 0);
    await closeDialog(carol);
    noErrors(ada, bob, carol);
  });
});
