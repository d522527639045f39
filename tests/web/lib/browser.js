// Debian's Chromium driven by playwright-core, and what a person does in the
// page: sign in, open a chat, type, read what is on screen.

import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { REPO_ROOT } from './server.js';

export const WAIT_MS = Number(process.env.NATTER_TEST_WAIT_MS || 10_000);
export const SCREENSHOTS = join(REPO_ROOT, 'docs', 'img');

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
  '--no-first-run', '--disable-component-update', '--disable-sync',
];

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ARGS,
    headless: true,
  });
}

let nextPhone = 2000 + Math.floor(Math.random() * 7000);

/** A fresh local number in the 212 area (valid for libphonenumber). */
export function newPhone() {
  const local = `212555${String(nextPhone++ % 10_000).padStart(4, '0')}`;
  return { local, e164: `+1${local}` };
}

/**
 * A person in their own browser context (their own storage), with the page
 * errors and console errors collected (a CSP violation is a console error).
 */
export async function person(browser, server, name, { viewport = { width: 1280, height: 800 }, colorScheme = 'light' } = {}) {
  const context = await browser.newContext({ viewport, colorScheme });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/Failed to load resource|ERR_CONNECTION_REFUSED|WebSocket connection/.test(message.text())) {
      errors.push(`console: ${message.text()}`);
    }
  });
  const phone = newPhone();
  await page.goto(server.base);
  await page.fill('#signin-country', '1');
  await page.fill('#signin-phone', phone.local);
  await page.click('button[type=submit]');
  await page.waitForSelector('#signin-code');
  await page.fill('#signin-code', await server.otpFor(phone.e164));
  await page.fill('#signin-name', name);
  await page.click('button[type=submit]');
  await page.waitForSelector('.chat-list-pane');
  const session = await page.evaluate(() => JSON.parse(localStorage.getItem('natter.session')));
  return { name, phone, page, context, errors, id: session.user.id, token: session.access_token };
}

/** Another tab of `p`'s login, at `url` (where `p`'s page is, by default), once `ready` shows. */
export async function anotherTab(p, { url = p.page.url(), ready = '.chat-list-pane' } = {}) {
  const tab = await p.context.newPage();
  tab.on('pageerror', (error) => p.errors.push(`pageerror: ${error.message}`));
  await tab.goto(url);
  await tab.waitForSelector(ready);
  return tab;
}

/** `a` adds `b` by number and opens the private chat; returns the chat id. */
/** Adds `other` to `p`'s contacts through the Contacts dialog. */
export async function addContact(p, other) {
  await p.page.click('button[aria-label="Menu"]');
  await p.page.click('.menu [role=menuitem]:text-is("Contacts")');
  await p.page.fill('dialog .add-contact input[type=tel]', other.phone.e164);
  await p.page.click('dialog .add-contact button[type=submit]');
  await p.page.waitForSelector(`dialog .person-name:text-is("${other.name}")`);
  await p.page.click('dialog button[aria-label="Close"]');
}

export async function startChat(a, b) {
  await a.page.click('button[aria-label="New chat"]');
  await a.page.fill('.add-contact input[type=tel]', b.phone.e164);
  await a.page.click('.add-contact button[type=submit]');
  await a.page.waitForSelector('.chat-header .chat-title');
  await expectText(a.page, '.chat-title', b.name);
  return Number(new URL(a.page.url()).pathname.split('/').pop());
}

// Creates a group through the menu's "New group" dialog with the named
// contacts; the dialog closes on success.
export async function createGroup(p, name, memberNames) {
  await p.page.click('button[aria-label="Menu"]');
  await p.page.click('.menu [role=menuitem]:text-is("New group")');
  await p.page.fill('#group-name', name);
  for (const member of memberNames) {
    await p.page.check(`dialog .pick .person:has-text("${member}") input`);
  }
  await p.page.click('dialog button[type=submit]');
}

/**
 * Opens the chat titled `title` from the list, clicking again while it has not
 * opened: a list that moves between Playwright's check and its click (chats
 * arriving, a banner) takes the click somewhere else, as it would a person's.
 */
export async function openChat(p, title) {
  const item = `.chat-item:has(.chat-name:text-is("${title}"))`;
  await eventually(async () => {
    await p.page.click(item);
    return (await p.page.textContent('.chat-title', { timeout: 1000 }).catch(() => null)) === title;
  }, `the chat "${title}" to open at ${p.name}`);
}

export async function send(p, text) {
  await p.page.fill('.composer textarea', text);
  await p.page.keyboard.press('Enter');
}

/** The texts of the messages on screen (sent and pending), in order. */
export function texts(page) {
  return page.$$eval('.rows .row:not(.system) .text, .pending-rows .row .text', (els) => els.map((e) => e.textContent));
}

/** Waits until `fn()` (evaluated here, in Node) returns a truthy value. */
export async function eventually(fn, label, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${label} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((ok) => setTimeout(ok, 50));
  }
}

export async function expectText(page, selector, text, ms = WAIT_MS) {
  await eventually(async () => (await page.textContent(selector)) === text, `${selector} to read "${text}"`, ms);
}

/** Waits until the messages on screen are exactly `expected`. */
export async function expectMessages(p, expected, ms = WAIT_MS) {
  let seen;
  try {
    await eventually(async () => {
      seen = await texts(p.page);
      return JSON.stringify(seen) === JSON.stringify(expected);
    }, `${p.name} to show ${JSON.stringify(expected)}`, ms);
  } catch (error) {
    assert.deepEqual(seen, expected, `${p.name}'s screen: ${error.message}; ${await whereIs(p.page)}`);
  }
}

/** Where a page stands, for a failure's message: its address, the open chat, its toasts. */
async function whereIs(page) {
  const state = await page.evaluate(() => ({
    url: location.pathname,
    chat: document.querySelector('.chat-title')?.textContent ?? null,
    toasts: [...document.querySelectorAll('.toast')].map((t) => t.textContent),
    banner: document.querySelector('.connection:not([hidden])')?.textContent ?? null,
  })).catch((error) => ({ error: error.message }));
  return `the page: ${JSON.stringify(state)}`;
}

export async function screenshot(page, name) {
  if (process.env.NATTER_WEB_SCREENSHOTS === '0') return;
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));
  await page.screenshot({ path: join(SCREENSHOTS, `web-${name}.png`) });
}

export function noErrors(...people) {
  for (const p of people) assert.deepEqual(p.errors, [], `${p.name}'s page logged errors`);
}
