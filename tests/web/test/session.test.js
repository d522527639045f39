// Tokens: a short-lived access token is refreshed by the page, and two tabs
// of one login never present the same single-use refresh token (which would
// revoke the login). Signing out returns to the sign-in screen.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventually, launch, noErrors, person, send, startChat, texts, WAIT_MS } from '../lib/browser.js';
import { Natter, sleep } from '../lib/server.js';

describe('sessions', () => {
  let server;
  let browser;

  before(async () => {
    server = await Natter.start({ ACCESS_TOKEN_TTL: '3' });
    browser = await launch();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('refreshes a short-lived token, in two tabs at once, without being signed out', async () => {
    const ada = await person(browser, server, 'Ada');
    const bob = await person(browser, server, 'Bob');
    const chatId = await startChat(ada, bob);
    const second = await ada.context.newPage();
    second.on('pageerror', (error) => ada.errors.push(`pageerror: ${error.message}`));
    await second.goto(`${server.base}/chats/${chatId}`);
    await second.waitForSelector('.composer textarea');
    const before = await ada.page.evaluate(() => JSON.parse(localStorage.getItem('natter.session')).refresh_token);
    await sleep(4000);
    await send(ada, 'first tab after expiry');
    await second.fill('.composer textarea', 'second tab after expiry');
    await second.keyboard.press('Enter');
    await bob.page.click('.chat-item');
    // The two tabs send independently: either order is right, each exactly once.
    const both = JSON.stringify(['first tab after expiry', 'second tab after expiry']);
    await eventually(async () => {
      const seen = JSON.stringify((await texts(bob.page)).sort());
      if (seen !== both) throw new Error(`Bob shows ${seen}; Ada's tabs show ${JSON.stringify(await texts(ada.page))} and ${JSON.stringify(await texts(second))}`);
      return true;
    }, 'both messages at Bob');
    await sleep(4000);
    await send(ada, 'still signed in');
    await bob.page.waitForSelector('.rows .row:has-text("still signed in")');
    const after = await ada.page.evaluate(() => JSON.parse(localStorage.getItem('natter.session')).refresh_token);
    assert.notEqual(after, before, 'the tokens were rotated');
    assert.equal(await second.$('#signin-phone'), null, 'the second tab is still signed in');
    noErrors(ada, bob);
  });

  it('two tabs refreshing at the same moment, again and again, never reuse a refresh token', async () => {
    // Each round both tabs see the same token refused and ask to refresh at
    // once: one rotates, the other, granted the lock right after, must read
    // the new tokens and not present the used refresh token (which would
    // revoke the login). A read of localStorage there was stale in most rounds.
    const grace = await person(browser, server, 'Grace');
    const second = await grace.context.newPage();
    await second.goto(`${server.base}/`);
    await second.waitForSelector('.chat-list-pane');
    const tabs = [grace.page, second];
    const start = () => import('/js/api.js').then(async ({ Api }) => {
      const { Session } = await import('/js/session.js');
      const session = new Session();
      window.probe = { session, api: new Api(session, { onSignedOut: () => { window.probe.signedOut = true; } }) };
    });
    await Promise.all(tabs.map((tab) => tab.evaluate(start)));
    const rounds = 25;
    for (let round = 1; round <= rounds; round += 1) {
      const refused = await grace.page.evaluate(async () => (await window.probe.session.reload()).access_token);
      await Promise.all(tabs.map((tab) => tab.evaluate((token) => window.probe.api.refresh(token), refused)));
      const signedOut = await Promise.all(tabs.map((tab) => tab.evaluate(() => Boolean(window.probe.signedOut))));
      assert.deepEqual(signedOut, [false, false], `round ${round} of ${rounds}: a tab was signed out`);
    }
    const me = await second.evaluate(() => window.probe.api.get('/api/user/profile'));
    assert.equal(me.name, 'Grace', 'the login still works after every rotation');
    noErrors(grace);
  });

  it('signs out to the sign-in screen, in every tab', async () => {
    const carol = await person(browser, server, 'Carol');
    const second = await carol.context.newPage();
    await second.goto(`${server.base}/`);
    await second.waitForSelector('.chat-list-pane');
    await carol.page.click('button[aria-label="Menu"]');
    await carol.page.click('.menu [role=menuitem]:text-is("Sign out")');
    await carol.page.waitForSelector('#signin-phone');
    assert.equal(await carol.page.evaluate(() => localStorage.getItem('natter.session')), null);
    // The other tab's login ended with it: it shows the sign-in screen too.
    await second.waitForSelector('#signin-phone', { timeout: WAIT_MS });
  });
});
