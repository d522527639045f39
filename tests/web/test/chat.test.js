// Two people in two browser contexts: sign in, chat, ticks, typing, replies,
// reactions, edits, deletes, forwarding.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  eventually, expectMessages, launch, noErrors, person, screenshot, send, startChat, texts,
} from '../lib/browser.js';
import { Natter } from '../lib/server.js';

describe('two people chatting', () => {
  let server;
  let browser;
  let ada;
  let bob;

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

  it('signs in, starts a chat and exchanges messages live', async () => {
    await startChat(ada, bob);
    await send(ada, 'Hello Bob');
    await expectMessages(ada, ['Hello Bob']);
    // Bob's list shows the new chat with an unread badge, then the message.
    await bob.page.waitForSelector('.chat-item .badge');
    assert.equal(await bob.page.textContent('.chat-item .badge'), '1');
    await bob.page.click('.chat-item');
    await expectMessages(bob, ['Hello Bob']);
    await send(bob, 'Hi Ada!');
    await expectMessages(ada, ['Hello Bob', 'Hi Ada!']);
    await expectMessages(bob, ['Hello Bob', 'Hi Ada!']);
    noErrors(ada, bob);
  });

  it('turns the ticks blue when the other reads', async () => {
    // Bob looks elsewhere: his chat is closed, so Ada's message stays unread.
    await bob.page.goto(`${server.base}/`);
    await bob.page.waitForSelector('.chat-item');
    await send(ada, 'Are you there?');
    const last = '.rows .row.mine:last-child';
    await eventually(async () => (await ada.page.getAttribute(last, 'data-status')) === 'delivered', 'delivered ticks');
    assert.notEqual(await ada.page.$eval(`${last} .ticks`, (el) => getComputedStyle(el).color), 'rgb(83, 189, 235)', 'delivered ticks are grey');
    await bob.page.click('.chat-item');
    await eventually(async () => (await ada.page.getAttribute(last, 'data-status')) === 'read', 'read ticks');
    const colour = await ada.page.$eval(`${last} .ticks`, (el) => getComputedStyle(el).color);
    assert.equal(colour, 'rgb(83, 189, 235)', 'read ticks are blue');
  });

  it('shows when the other is typing', async () => {
    await bob.page.fill('.composer textarea', 'typing something');
    await bob.page.type('.composer textarea', '...');
    await eventually(async () => (await ada.page.textContent('.chat-subtitle')) === 'typing…', 'typing… in the header');
    await bob.page.fill('.composer textarea', '');
    await eventually(async () => (await ada.page.textContent('.chat-subtitle')) === 'online', 'typing… gone once Bob clears his draft');
  });

  it('replies, reacts, edits, deletes and forwards', async () => {
    const first = '.rows .row.theirs:has-text("Hi Ada!")';
    // Reply to Bob's message through its menu.
    await ada.page.hover(first);
    await ada.page.click(`${first} .row-menu`);
    await ada.page.click('.menu [role=menuitem]:text-is("Reply")');
    await send(ada, 'This is a reply');
    await eventually(async () => (await bob.page.textContent('.rows .row:last-child .quote-text')) === 'Hi Ada!', 'the quote at Bob');
    // React with a thumbs up.
    await ada.page.hover(first);
    await ada.page.click(`${first} .row-menu`);
    await ada.page.click('.menu .reaction-choice[aria-label="React with 👍"]');
    await eventually(async () => (await bob.page.textContent('.rows .row.mine:has-text("Hi Ada!") .reaction')) === '👍 1', 'the reaction at Bob');
    // Edit our reply.
    const reply = '.rows .row.mine:has-text("This is a reply")';
    await ada.page.hover(reply);
    await ada.page.click(`${reply} .row-menu`);
    await ada.page.click('.menu [role=menuitem]:text-is("Edit")');
    await ada.page.fill('.composer textarea', 'This is an edited reply');
    await ada.page.keyboard.press('Enter');
    await eventually(async () => (await texts(bob.page)).includes('This is an edited reply'), 'the edit at Bob');
    assert.ok(await bob.page.isVisible('.rows .row:has-text("This is an edited reply") .edited'));
    // Delete it for everyone.
    const edited = '.rows .row.mine:has-text("This is an edited reply")';
    await ada.page.hover(edited);
    await ada.page.click(`${edited} .row-menu`);
    await ada.page.click('.menu [role=menuitem]:text-is("Delete for everyone")');
    await ada.page.click('dialog button.primary');
    await eventually(async () => (await bob.page.$$('.rows .row .text.deleted')).length === 1, 'the deletion at Bob');
    assert.ok(!(await texts(bob.page)).includes('This is an edited reply'));
    // Forward Bob's message (here into the same chat: the list of chats to pick from is the same).
    await ada.page.hover(first);
    await ada.page.click(`${first} .row-menu`);
    await ada.page.click('.menu [role=menuitem]:text-is("Forward")');
    await ada.page.check('dialog .pick .person:has-text("Bob") input');
    await ada.page.click('dialog button[type=submit]');
    await eventually(async () => (await texts(bob.page)).filter((t) => t === 'Hi Ada!').length === 2, 'the forwarded copy at Bob');
    await ada.page.waitForSelector('.rows .row.mine:has-text("Hi Ada!")');
    await screenshot(ada.page, 'chat');
    noErrors(ada, bob);
  });

  it('shows online and last seen, as the API gives them', async () => {
    await eventually(async () => (await ada.page.textContent('.chat-subtitle')) === 'online', 'Bob online');
    await bob.page.close();
    await eventually(async () => /^last seen today at /.test(await ada.page.textContent('.chat-subtitle')), 'Bob last seen');
    bob.page = await bob.context.newPage();
    await bob.page.goto(`${server.base}/`);
    await bob.page.waitForSelector('.chat-item');
    await eventually(async () => (await ada.page.textContent('.chat-subtitle')) === 'online', 'Bob online again');
  });

  it('blocks: a blocked person\'s message is refused and says so', async () => {
    await bob.page.click('.chat-item');
    await bob.page.click('button[aria-label="Chat menu"]');
    await bob.page.click('.menu [role=menuitem]:text-is("Block or unblock")');
    await bob.page.click('dialog button.primary');
    await bob.page.waitForSelector('.toast:text-is("Blocked.")');
    const before = (await texts(bob.page)).length;
    await send(ada, 'Can you read this?');
    await ada.page.waitForSelector('.toast:has-text("Not sent")');
    await eventually(async () => (await ada.page.$$('.pending-rows .row')).length === 0, 'no clock left at Ada');
    assert.equal((await texts(bob.page)).length, before, 'Bob received nothing');
    await bob.page.click('button[aria-label="Chat menu"]');
    await bob.page.click('.menu [role=menuitem]:text-is("Block or unblock")');
    await bob.page.waitForSelector('.toast:text-is("Unblocked.")');
    await send(ada, 'And now?');
    await eventually(async () => (await texts(bob.page)).includes('And now?'), 'the message after unblocking');
  });

  it('moves with the keyboard: arrows in the list and the messages, Escape closes menus', async () => {
    const { page } = ada;
    await page.focus('.composer textarea');
    let focusedRow = false;
    for (let i = 0; i < 3 && !focusedRow; i += 1) {
      await page.keyboard.press('Shift+Tab');
      focusedRow = await page.evaluate(() => document.activeElement.classList.contains('row'));
    }
    assert.ok(focusedRow, 'Shift+Tab from the composer reaches the newest message');
    const focusedId = () => page.evaluate(() => document.activeElement.dataset.id);
    const newest = await focusedId();
    await page.keyboard.press('ArrowUp');
    assert.notEqual(await focusedId(), newest, 'ArrowUp moves to the message before');
    await page.keyboard.press('ArrowDown');
    assert.equal(await focusedId(), newest, 'ArrowDown moves back');
    await page.keyboard.press('Enter');
    await page.waitForSelector('.menu[role=menu]');
    await page.keyboard.press('Escape');
    assert.equal(await page.$('.menu[role=menu]'), null, 'Escape closes the menu');
  });
});
