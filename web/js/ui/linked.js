// Linked devices: the user's logins (name, platform, last active, coarse
// region, which one is this browser), signing another one out, and a code
// that lets a new browser or phone sign in as this user without an SMS
// (docs/sessions.md).

import { h, replace } from '../dom.js';
import { clockTime, listTime } from '../format.js';
import { confirm, modal } from './dialogs.js';

const PLATFORMS = { ios: 'iPhone', android: 'Android', web: 'Browser', desktop: 'Desktop app', other: 'Other' };

/** While a code is shown the list is read again this often, so the device that used it appears. */
const WATCH_MS = 3000;

export function linkedDevices(ctx) {
  const list = h('ul.people.sessions', { 'aria-label': 'Linked devices' });
  const code = h('div.link-code', { 'aria-live': 'polite' });
  let watching = null;
  const stopWatching = () => { clearInterval(watching); watching = null; };
  const linkButton = h('button.primary', {
    type: 'button',
    onclick: async () => {
      const shown = await showCode(ctx, code);
      if (!shown) return;
      stopWatching();
      watching = setInterval(() => {
        if (Date.now() > Date.parse(shown.expires_at) + WATCH_MS) stopWatching();
        draw(ctx, list);
      }, WATCH_MS);
    },
  }, 'Link a device');
  const body = h('div.stack', {},
    h('p.muted', {}, 'Devices signed in to your account. Sign out any you do not recognise.'),
    list, linkButton, code);
  modal('Linked devices', body, { onClose: stopWatching });
  draw(ctx, list);
}

async function draw(ctx, list) {
  try {
    const { sessions } = await ctx.api.get('/api/sessions');
    replace(list, sessions.map((session) => row(ctx, session, list)));
  } catch (error) {
    ctx.toast(error.message);
  }
}

function row(ctx, session, list) {
  const details = [
    PLATFORMS[session.platform] || session.platform,
    session.current ? 'active now' : `last active ${listTime(session.last_active_at)}`,
    session.ip_region ? `from ${session.ip_region}` : null,
  ].filter(Boolean).join(' · ');
  const signOut = session.current ? h('span.role', {}, 'This device') : h('button.danger', {
    type: 'button',
    'aria-label': `Sign out ${session.device_name}`,
    onclick: async () => {
      if (!await confirm(`Sign out "${session.device_name}"? It will need to sign in again.`, 'Sign out')) return;
      try {
        await ctx.api.del(`/api/sessions/${session.id}`);
      } catch (error) {
        if (error.status !== 404) ctx.toast(error.message);
      }
      draw(ctx, list);
    },
  }, 'Sign out');
  return h('li.person.session', { dataset: { session: String(session.id) } },
    h('div.person-text', {}, h('span.person-name', {}, session.device_name), h('span.person-detail', {}, details)),
    signOut);
}

/** Makes a code and shows it in `holder`; the code's answer, or null. */
async function showCode(ctx, holder) {
  try {
    const link = await ctx.api.post('/api/sessions/link-codes');
    const field = h('input.link-code-text', { readOnly: true, value: link.code, 'aria-label': 'Link code' });
    replace(holder, field,
      h('p.muted', {}, `On the new device, choose "Link with a code" on the sign-in screen and enter this code before ${clockTime(link.expires_at)}. It works once.`));
    field.select();
    return link;
  } catch (error) {
    ctx.toast(error.status === 429 ? 'Too many codes are waiting to be used. Try again in a minute.' : error.message);
    return null;
  }
}
