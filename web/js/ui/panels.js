// The info panel beside a conversation: a group's details, members and
// administration, or a person's details and blocking.

import { h, iconButton, replace } from '../dom.js';
import { lastSeen } from '../format.js';
import { confirm, modal, toggleBlock } from './dialogs.js';
import { menu } from './menu.js';
import { TIMERS, avatar, chatTitle, timerLabel } from './parts.js';

export function infoPanel(ctx, chat, close) {
  const body = chat.type === 'group' ? groupInfo(ctx, chat) : personInfo(ctx, chat);
  return h('div.panel', { role: 'region', 'aria-label': chat.type === 'group' ? 'Group info' : 'Contact info' },
    h('header.panel-header', {}, iconButton('close', 'Close info', close), h('h2', {}, chat.type === 'group' ? 'Group info' : 'Contact info')),
    body);
}

function personInfo(ctx, chat) {
  const user = ctx.store.otherUser(chat) || {};
  return h('div.panel-body', {},
    h('div.panel-hero', {}, avatar(user, 'private', 'large'), h('h3', {}, user.name || ''), h('p', {}, user.phone_number || '')),
    user.about ? h('section', {}, h('h4', {}, 'About'), h('p', {}, user.about)) : null,
    h('p.muted', {}, user.is_online ? 'online' : lastSeen(user.last_seen_at)),
    disappearing(ctx, chat, true),
    h('button.danger', { type: 'button', onclick: () => toggleBlock(ctx, user) }, 'Block or unblock'));
}

function groupInfo(ctx, chat) {
  const { store } = ctx;
  const admin = store.isAdmin(chat) && !chat.left;
  const act = (promise) => promise.then((updated) => { if (updated?.id) store.upsertChat(updated); }).catch((e) => ctx.toast(e.message));
  const members = (chat.participants || []).map((p) => {
    const me = p.user.id === store.me.id;
    const options = admin && !me ? iconButton('menu', `Options for ${p.user.name}`, (event) => menu(event.currentTarget, [
      p.role === 'admin'
        ? { label: 'Dismiss as admin', action: () => act(ctx.api.put(`/api/groups/${chat.id}/members/${p.user.id}/role`, { role: 'member' })) }
        : { label: 'Make group admin', action: () => act(ctx.api.put(`/api/groups/${chat.id}/members/${p.user.id}/role`, { role: 'admin' })) },
      { label: `Remove ${p.user.name}`, action: async () => { if (await confirm(`Remove ${p.user.name} from the group?`, 'Remove')) act(ctx.api.del(`/api/groups/${chat.id}/members/${p.user.id}`)); } },
    ]), { 'aria-haspopup': 'menu' }) : null;
    return h('li.person', { dataset: { user: String(p.user.id) } }, avatar(p.user),
      h('div.person-text', {}, h('span.person-name', {}, me ? 'You' : p.user.name), h('span.person-detail', {}, p.user.about || '')),
      p.role === 'admin' ? h('span.role', {}, 'Group admin') : null, options);
  });
  const invite = h('div.invite');
  // The panel is drawn again on every change to the chat (a new message, a
  // role): a link already shown stays shown.
  if (shownInvites.has(chat.id)) showInvite(ctx, invite, shownInvites.get(chat.id));
  return h('div.panel-body', {},
    h('div.panel-hero', {}, avatar(chat, 'group', 'large'), h('h3', {}, chatTitle(store, chat)),
      h('p', {}, `Group · ${(chat.participants || []).length} members`)),
    chat.description ? h('section', {}, h('h4', {}, 'Description'), h('p', {}, chat.description)) : null,
    admin ? h('button', { type: 'button', onclick: () => editGroup(ctx, chat) }, 'Edit name and description') : null,
    chat.left ? null : disappearing(ctx, chat, admin),
    h('section', {}, h('h4', {}, 'Members'),
      admin ? h('button', { type: 'button', onclick: () => addMembers(ctx, chat) }, 'Add members') : null,
      h('ul.people.members', { 'aria-label': 'Members' }, members)),
    admin ? h('section', {}, h('h4', {}, 'Invite link'), invite,
      h('button', { type: 'button', onclick: () => makeInvite(ctx, chat, invite) }, 'Create invite link')) : null,
    chat.left ? h('p.muted', {}, 'You are no longer a participant.')
      : h('button.danger', { type: 'button', onclick: () => leave(ctx, chat) }, 'Leave group'));
}

/** The disappearing-messages timer: a choice for who may set it (anyone in a
 * private chat, admins of a group), its value in words for the others. */
function disappearing(ctx, chat, mayChange) {
  const current = chat.disappearing_seconds || 0;
  if (!mayChange) {
    return h('section', {}, h('h4', {}, 'Disappearing messages'), h('p', {}, timerLabel(current)));
  }
  const options = TIMERS.some(([value]) => value === current) ? TIMERS : [...TIMERS, [current, timerLabel(current)]];
  const select = h('select#disappearing-timer', {
    'aria-label': 'Disappearing messages',
    onchange: async () => {
      try {
        ctx.store.upsertChat(await ctx.api.put(`/api/chats/${chat.id}/disappearing`, { seconds: Number(select.value) }));
      } catch (error) { ctx.toast(error.message); }
    },
  }, options.map(([value, label]) => h('option', { value: String(value), selected: value === current }, label)));
  return h('section', {}, h('h4', {}, 'Disappearing messages'), select,
    h('p.muted', {}, 'New messages disappear from this chat for everyone after this time.'));
}

/** The invite link last created in this page, by chat id. */
const shownInvites = new Map();

async function makeInvite(ctx, chat, holder) {
  try {
    const link = await ctx.api.post(`/api/groups/${chat.id}/invite-link`);
    shownInvites.set(chat.id, link.url);
    // The panel may have been drawn again while the request ran: fill the one on screen.
    const live = holder.isConnected ? holder : document.querySelector('.info-panel .invite') || holder;
    showInvite(ctx, live, link.url).select();
  } catch (error) {
    ctx.toast(error.message);
  }
}

function showInvite(ctx, holder, url) {
  const field = h('input.invite-url', { readOnly: true, value: url, 'aria-label': 'Invite link' });
  replace(holder, field, h('button', { type: 'button', onclick: () => navigator.clipboard?.writeText(url).then(() => ctx.toast('Link copied.')) }, 'Copy'),
    h('p.muted', {}, 'Anyone with this link can join. Creating a new one turns this one off.'));
  return field;
}

async function leave(ctx, chat) {
  if (!await confirm(`Leave "${chat.name}"?`, 'Leave')) return;
  try {
    await ctx.api.post(`/api/groups/${chat.id}/leave`);
    chat.left = true;
    ctx.store.emit('chat', chat);
    ctx.sync.hint();
  } catch (error) {
    ctx.toast(error.message);
  }
}

async function addMembers(ctx, chat) {
  const answer = await ctx.api.get('/api/contacts?limit=100').catch(() => ({ contacts: [] }));
  const inGroup = new Set((chat.participants || []).map((p) => p.user.id));
  const candidates = answer.contacts.filter((c) => !inGroup.has(c.user.id));
  const boxes = candidates.map((c) => {
    const box = h('input', { type: 'checkbox', value: String(c.user.id), id: `add-${c.user.id}` });
    return { box, row: h('li.person', {}, box, h('label', { for: `add-${c.user.id}` }, avatar(c.user), h('span.person-name', {}, c.contact_name || c.user.name))) };
  });
  const form = h('form.stack', {
    onsubmit: async (event) => {
      event.preventDefault();
      const ids = boxes.filter((b) => b.box.checked).map((b) => Number(b.box.value));
      if (!ids.length) return;
      try {
        ctx.store.upsertChat(await ctx.api.post(`/api/groups/${chat.id}/members`, { user_ids: ids }));
        close();
      } catch (error) { ctx.toast(error.message); }
    },
  }, candidates.length ? h('ul.people.pick', { 'aria-label': 'Contacts to add' }, boxes.map((b) => b.row)) : h('p.empty', {}, 'All your contacts are in this group.'),
  h('button.primary', { type: 'submit' }, 'Add'));
  const { close } = modal('Add members', form);
}

function editGroup(ctx, chat) {
  const name = h('input#edit-group-name', { value: chat.name || '', required: true, maxLength: 100 });
  const description = h('textarea#edit-group-description', { maxLength: 2048, rows: 3 }, chat.description || '');
  const form = h('form.stack', {
    onsubmit: async (event) => {
      event.preventDefault();
      try {
        ctx.store.upsertChat(await ctx.api.put(`/api/groups/${chat.id}`, { name: name.value.trim(), description: description.value }));
        close();
      } catch (error) { ctx.toast(error.message); }
    },
  }, h('label', { for: 'edit-group-name' }, 'Name'), name, h('label', { for: 'edit-group-description' }, 'Description'), description,
  h('button.primary', { type: 'submit' }, 'Save'));
  const { close } = modal('Edit group', form);
}
