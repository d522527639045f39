// Tokens: a short-lived access token is refreshed by the page, and two tabs
// of one login never present the same single-use refresh token (which would
// revoke the login). Signing out returns to the sign-in screen.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  anotherTab, eventually, launch, noErrors, person, send, startChat, texts, WAIT_MS,
} from '../lib/browser.js';
import { Natter, sleep } from '../lib/server.js';

/** In the page: a Session and an Api of the page's own modules, as `window.probe`. */
function probe() {
  return import('/js/api.js').then(async ({ Api }) => {
    const { Session } = await import('/js/session.js');
    const session = new Session();
    window.probe = { session, api: new Api(session, { onSignedOut: () => { window.probe.signedOut = true; } }) };
  });
}

/** `rounds` times, every tab asks to refresh the same refused token at once; none may be signed out. */
async function refreshTogether(tabs, rounds) {
  await Promise.all(tabs.map((tab) => tab.evaluate(probe)));
  for (let round = 1; round <= rounds; round += 1) {
    const refused = await tabs[0].evaluate(async () => (await window.probe.session.reload()).access_token);
    await Promise.all(tabs.map((tab) => tab.evaluate((token) => window.probe.api.refresh(token), refused)));
    const signedOut = await Promise.all(tabs.map((tab) => tab.evaluate(() => Boolean(window.probe.signedOut))));
    assert.deepEqual(signedOut, [false, false], `round ${round} of ${rounds}: a tab was signed out`);
  }
  const me = await tabs[1].evaluate(() => window.probe.api.get('/api/user/profile'));
  assert.ok(me.name, 'the login still works after every rotation');
}

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
    const second = await anotherTab(ada, { url: `${server.base}/chats/${chatId}`, ready: '.composer textarea' });
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
    const tabs = [grace.page, await anotherTab(grace)];
    await refreshTogether(tabs, 25);
    noErrors(grace);
  });

  it('without Web Locks (plain HTTP from another address), two tabs still never reuse a refresh token', async () => {
    const hopper = await person(browser, server, 'Hopper');
    // A page served over plain HTTP from, say, 192.168.1.20 has no navigator.locks.
    await hopper.context.addInitScript(() => {
      Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined, configurable: true });
    });
    await hopper.page.reload();
    await hopper.page.waitForSelector('.chat-list-pane');
    const tabs = [hopper.page, await anotherTab(hopper)];
    assert.equal(await hopper.page.evaluate(() => typeof navigator.locks), 'undefined');
    await refreshTogether(tabs, 15);
    noErrors(hopper);
  });

  it('a tab saving a profile change with old tokens in memory does not put them back', async () => {
    const lin = await person(browser, server, 'Lin');
    const [first, second] = [lin.page, await anotherTab(lin)];
    await Promise.all([first, second].map((tab) => tab.evaluate(probe)));
    const before = await second.evaluate(() => ({ ...window.probe.session.data }));
    // The first tab rotates the tokens; the second, which has not heard yet
    // (as when its storage event comes late), saves a new name with the
    // session it knows.
    const refused = await first.evaluate(async () => (await window.probe.session.reload()).access_token);
    await first.evaluate((token) => window.probe.api.refresh(token), refused);
    await second.evaluate(async (old) => {
      window.probe.session.data = old;
      await window.probe.session.setUser({ ...old.user, name: 'Lin L.' });
    }, before);
    // The next refresh must present the newest refresh token, not the used one.
    const current = await first.evaluate(async () => (await window.probe.session.reload()).access_token);
    assert.notEqual(current, before.access_token, 'the stored tokens did not go back');
    await first.evaluate((token) => window.probe.api.refresh(token), current);
    const signedOut = await Promise.all([first, second].map((tab) => tab.evaluate(() => Boolean(window.probe.signedOut))));
    assert.deepEqual(signedOut, [false, false], 'still signed in');
    const me = await second.evaluate(() => window.probe.api.get('/api/user/profile'));
    assert.equal(me.name, 'Lin', 'the login still works');
    noErrors(lin);
  });

  it('a refresh that cannot reach the server does not sign out', async () => {
    const mary = await person(browser, server, 'Mary');
    await mary.page.evaluate(probe);
    // The access token (3 s here) runs out while the refresh answers 503.
    await mary.page.route('**/api/auth/refresh', (route) => route.fulfill({ status: 503, body: '' }));
    await sleep(4000);
    const failed = await mary.page.evaluate(() => window.probe.api.get('/api/user/profile').then(() => 'answered', (e) => e.status));
    assert.equal(failed, 503, 'the request fails for now, as retryable');
    assert.equal(await mary.page.evaluate(() => Boolean(window.probe.signedOut)), false, 'still signed in');
    await mary.page.unroute('**/api/auth/refresh');
    const me = await mary.page.evaluate(() => window.probe.api.get('/api/user/profile'));
    assert.equal(me.name, 'Mary', 'the next request refreshes and answers');
    assert.equal(await mary.page.$('#signin-phone'), null, 'the page never went to the sign-in screen');
  });

  it('signs out to the sign-in screen, in every tab', async () => {
    const carol = await person(browser, server, 'Carol');
    const second = await anotherTab(carol);
    await carol.page.click('button[aria-label="Menu"]');
    await carol.page.click('.menu [role=menuitem]:text-is("Sign out")');
    await carol.page.waitForSelector('#signin-phone');
    assert.equal(await carol.page.evaluate(() => localStorage.getItem('natter.session')), null);
    // The other tab's login ended with it: it shows the sign-in screen too.
    await second.waitForSelector('#signin-phone', { timeout: WAIT_MS });
  });
});
